"""The `tunecost` command: one typer app; each command group lives in its own cmd_*.py module.

Command modules import heavy libraries (pandas, sky, torch) inside their functions, so `tunecost plan` starts
fast. Every UserError becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import sys

import typer
from pydantic import ValidationError

from tunecost.planner.errors import UserError, from_validation

app = typer.Typer(
    name="tunecost",
    help="What will this fine-tune cost, where, and how long? Then run it there.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES = ("cmd_plan", "cmd_prices", "cmd_launch", "cmd_report")


def _register() -> None:
    """Import each command module that exists; importing registers its commands on `app`."""
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(f"tunecost.launcher.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"tunecost.launcher.{name}":
                raise


def fail(message: str, code: int = 2) -> None:
    """Print one clear line to stderr and exit; used for every user-fixable error."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(code)


def main() -> None:
    _register()
    try:
        app()
    except UserError as err:
        fail(str(err))
    except ValidationError as err:
        fail(str(from_validation(err)))
    except KeyboardInterrupt:
        fail("interrupted", 130)
