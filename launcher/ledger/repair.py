"""`tunecost runs --repair`: a damaged ledger is moved aside (never deleted) and a new one is rebuilt from what the
run folders hold: each local run's job config and the job's own run_summary.json.

WHY from the folders: they are written by the job, independently of the ledger, so they outlive its damage.
Cloud runs keep their summary in the bucket, not here: they are listed as not rebuilt.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from tunecost.job.run_summary import SUMMARY_NAME, read_summary
from tunecost.launcher.ledger.liveness import CONFIG_NAME
from tunecost.launcher.ledger.store import LEDGER_NAME, Ledger
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.ledger.run_status import STATUS_OF_STOP, RunStatus
from tunecost.planner.errors import UserError
from tunecost.planner.home import tunecost_home


def _read_json(path: Path) -> Optional[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def _created(run_id: str, folder: Path) -> datetime:
    """The time in the run id (tc-YYMMDD-HHMMSS-xxxx), else the folder's."""
    try:
        return datetime.strptime(run_id[3:16], "%y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return datetime.fromtimestamp(folder.stat().st_mtime, tz=timezone.utc)


def record_from_folder(folder: Path) -> Optional[RunRecord]:
    """A local run's record from its folder; None when it is not one (a cloud run, or no job config)."""
    config = _read_json(folder / CONFIG_NAME)
    if config is None:
        return None
    summary = read_summary(folder / "output" / SUMMARY_NAME)
    # a folder with no summary (or no stop_reason in it) was interrupted before the job wrote one
    reason = summary.stop_reason if summary else None
    status = STATUS_OF_STOP[reason] if reason else RunStatus.STOPPED
    hours = (summary.total_seconds or 0.0) / 3600 if summary else None
    price = float(config.get("price_per_hour") or 0.0)
    return RunRecord(
        id=folder.name, status=status, backend="local", created_at=_created(folder.name, folder),
        provider="local", instance_type="this machine", gpu=(summary.device if summary else None) or "",
        gpu_count=(summary.world_size if summary else None) or 1, price_per_hour=price, method=str(config.get("method", "")),
        model=str(config.get("model", "")), output_dir=str(folder / "output"), summary=summary,
        actual_hours=hours, actual_cost=None if hours is None else hours * price, rate_source="rebuilt: job config",
    )


def _healthy(path: Path) -> bool:
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        with closing(sqlite3.connect(path)) as db:
            ok = db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            return ok and bool(db.execute("SELECT count(*) FROM runs").fetchone())
    except sqlite3.DatabaseError:
        return False


def repair(home: Optional[Path] = None) -> tuple[Optional[Path], list[str], list[str]]:
    """(backup path or None, rebuilt run ids, folders not rebuilt). The damaged file is renamed, never deleted."""
    home = tunecost_home(home)
    path, backup = home / LEDGER_NAME, None
    if _healthy(path):
        raise UserError(f"the ledger {path} is not damaged (it opens and passes sqlite's integrity check); "
                        "--repair rebuilds a damaged one only, since cloud runs cannot be rebuilt")
    if path.exists():
        backup = path.with_name(f"{LEDGER_NAME}.damaged-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}")
        os.replace(path, backup)
        for extra in ("-wal", "-shm", "-journal"):  # sqlite's side files belong to the damaged copy
            side = path.with_name(LEDGER_NAME + extra)
            if side.exists():
                os.replace(side, backup.with_name(backup.name + extra))
    ledger = Ledger(home)
    rebuilt, skipped = [], []
    for folder in sorted((home / "runs").glob("*/")) if (home / "runs").is_dir() else []:
        record = record_from_folder(folder)
        if record is None:
            skipped.append(folder.name)
            continue
        ledger.create(record.model_copy(update={"status": RunStatus.RUNNING}))
        ledger.set_status(record.id, record.status, "rebuilt from the run folder by tunecost runs --repair",
                          **{k: getattr(record, k) for k in ("actual_hours", "actual_cost")})
        rebuilt.append(record.id)
    return backup, rebuilt, skipped
