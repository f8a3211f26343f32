"""`tunecost stop RUN_ID`: end a local run cleanly (SIGTERM, checkpoint, `stopped`), its launcher alive or gone."""

from __future__ import annotations

import sys

import typer


def stop(
    run_id: str = typer.Argument(..., metavar="RUN_ID", help="The local run to stop (see tunecost runs)"),
    timeout: float = typer.Option(300.0, "--timeout", min=1.0, help="Seconds to wait for the job to save its "
                                  "checkpoint and exit"),
) -> None:
    """Stop a local run: its job saves a checkpoint and exits; resume it with `launch --local --resume RUN_ID`."""
    from tunecost.launcher.backends.local_stop import StillRunning, stop_local, stopped_line
    from tunecost.launcher.ledger.store import Ledger

    def echo(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        record = stop_local(run_id, ledger=Ledger(), echo=echo, timeout=timeout)
    except StillRunning as err:
        sys.stderr.write(f"error: {err}\n")
        raise typer.Exit(1) from None
    echo(stopped_line(record))
    if record.status == "failed":
        raise typer.Exit(1)
