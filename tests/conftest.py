"""What every test shares: its own $TUNECOST_HOME.

WHY autouse at the root: the ledger, refreshed price tables and calibration factors live under $TUNECOST_HOME
(default ~/.tunecost); a test that forgot to isolate it would read the developer's real prices or write into the
real ledger. Tests that start the CLI as a subprocess pass their own home in the child's environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty $TUNECOST_HOME for this test (created on first write, as the real one is)."""
    path = tmp_path / "home"
    monkeypatch.setenv("TUNECOST_HOME", str(path))
    return path
