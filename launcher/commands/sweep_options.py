"""The sweep flags of `plan` and `launch`, declared once, and the grid points as workloads of the same flags.

A point is the user's workload with the swept flags replaced, built by the same `Workload.to_spec()` as a single
run, so a swept `--seq-len` recounts a `--dataset` exactly as a plain one would.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, List, Optional

import typer

from tunecost.launcher.commands.workload_options import Workload
from tunecost.planner.spec import TrainSpec
from tunecost.planner.sweep_grid import KEYS, expand, sweep_axes

PANEL = "Sweep"
SWEEP = typer.Option(None, "--sweep", metavar="KEY=V1,V2", rich_help_panel=PANEL,
                     help=f"Sweep a setting over values (repeat for a grid); keys: {', '.join(KEYS)}")
SWEEP_FILE = typer.Option(None, "--sweep-file", rich_help_panel=PANEL,
                          help="YAML mapping of sweep keys to value lists, e.g. 'rank: [8, 16, 32]'")
SweepFlags = Optional[List[str]]


def sweep_points(workload: Workload, flags: SweepFlags, file: Optional[Path]) -> list[tuple[dict[str, Any], TrainSpec]]:
    """(settings, spec) per grid point; empty when no sweep was asked for. Bad input fails before any work."""
    axes = sweep_axes(flags, file)
    points = []
    for params in expand(axes):
        fields = {KEYS[k][0]: v for k, v in params.items() if KEYS[k][0]}
        points.append((params, replace(workload, **fields).to_spec()))  # type: ignore[arg-type]
    return points
