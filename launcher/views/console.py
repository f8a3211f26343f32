"""The rich console every command and backend prints tables to.

WHY a module of its own: commands and backends both print tables, and backends may not import commands.
"""

from __future__ import annotations

import os
import sys


def wide_console():
    """Rich console; piped output gets a wide fixed width so the offer table is not squeezed to 80 columns."""
    from tunecost.launcher.views.safe_text import console

    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return console(width=160 if wide else None)
