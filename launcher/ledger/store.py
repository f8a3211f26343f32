"""The run ledger: every run's RunRecord in one SQLite file, $TUNECOST_HOME/ledger.sqlite (~/.tunecost).

WHY SQLite: launch, Ctrl-C handlers, resumes and `tunecost report` may touch the ledger at the same time;
SQLite gives us transactions, so a run is either absent or present with a status, never half written.
The whole record is stored as JSON (the RunRecord model is the schema); id, status, created_at and tag are
also columns so listing and filtering stay cheap.
"""

from __future__ import annotations

import secrets
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Collection, Iterator, Optional

from tunecost.launcher.ledger.run_record import RunRecord, StatusChange
from tunecost.launcher.ledger.run_status import TERMINAL, RunStatus
from tunecost.planner.errors import UserError
from tunecost.planner.home import tunecost_home

LEDGER_NAME = "ledger.sqlite"
REPAIR = ("Rebuild it from the run folders with `tunecost runs --repair` (it keeps a copy), or move it away to "
          "start a new one")
STATUSES = tuple(RunStatus)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    tag TEXT NOT NULL DEFAULT '',
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_created_at ON runs (created_at);
"""


def now() -> datetime:
    """Timezone-aware UTC now; every timestamp in the ledger is UTC."""
    return datetime.now(timezone.utc)


def new_run_id() -> str:
    """Sortable, short, and valid as a SkyPilot job/cluster name: tc-YYMMDD-HHMMSS-xxxx."""
    return f"tc-{now():%y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted, so stored ISO strings compare in order."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _check_fields(fields: dict) -> None:
    unknown = set(fields) - set(RunRecord.model_fields)
    if unknown:
        raise ValueError(f"not RunRecord fields: {', '.join(sorted(unknown))}")


class Ledger:
    """Create, update, read and list RunRecords. Each write is one transaction."""

    def __init__(self, home: Optional[Path] = None) -> None:
        self.home = tunecost_home(home)
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the tunecost home {self.home}: {err.strerror}; "
                            "set TUNECOST_HOME to a writable folder") from None
        self.path = self.home / LEDGER_NAME
        if self.path.is_file() and self.path.stat().st_size == 0:  # sqlite would take it as a new, empty ledger
            raise UserError(f"the ledger {self.path} is empty (0 bytes: truncated, or its disk was full); it is kept "
                            f"as it is. {REPAIR}")
        with self._sqlite_errors():
            db = sqlite3.connect(self.path, timeout=30)
            try:
                db.executescript(_SCHEMA)  # idempotent; executescript commits on its own
            finally:
                db.close()

    @contextmanager
    def _sqlite_errors(self) -> Iterator[None]:
        """A damaged or unusable ledger file is one line naming it, never a traceback in every command."""
        try:
            yield
        except sqlite3.OperationalError as err:
            if "locked" in str(err):
                raise UserError(f"the ledger {self.path} is locked by another tunecost process ({err}); try "
                                "again when it is done") from None
            raise UserError(f"cannot use the ledger {self.path} ({err}); check the file and its folder's "
                            f"permissions. {REPAIR}") from None
        except sqlite3.DatabaseError as err:
            raise UserError(f"the ledger {self.path} is damaged ({err}); it is kept as it is. {REPAIR}") from None

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: read-modify-write of a record cannot interleave with another writer."""
        with self._sqlite_errors():
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            finally:
                db.close()

    @staticmethod
    def _write(db: sqlite3.Connection, record: RunRecord) -> None:
        db.execute(
            "INSERT OR REPLACE INTO runs (id, created_at, status, tag, record) VALUES (?, ?, ?, ?, ?)",
            (record.id, _utc(record.created_at).isoformat(), str(record.status), record.tag,
             record.model_dump_json()),
        )

    @staticmethod
    def _read(db: sqlite3.Connection, run_id: str) -> RunRecord:
        row = db.execute("SELECT record FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UserError(f"no run '{run_id}'; see tunecost runs")
        return RunRecord.model_validate_json(row[0])

    def create(self, record: RunRecord) -> RunRecord:
        """Insert a new run; its first status goes into the history. Refuses a duplicate id."""
        if record.status not in (RunStatus.PENDING, RunStatus.RUNNING):
            raise ValueError(f"a new run starts as pending or running, not {str(record.status)!r}")
        if not record.history:
            record = record.model_copy(update={"history": [StatusChange(status=record.status, at=now())]})
        if record.status == RunStatus.RUNNING and record.started_at is None:
            record = record.model_copy(update={"started_at": record.history[-1].at})
        with self._tx() as db:
            if db.execute("SELECT 1 FROM runs WHERE id = ?", (record.id,)).fetchone():
                raise UserError(f"run '{record.id}' already exists in the ledger; pick another run id")
            self._write(db, record)
        return record

    def set_status(self, run_id: str, status: RunStatus | str, note: str = "",
                   expect: Optional[Collection[RunStatus | str]] = None,
                   **fields) -> bool:
        """Move a run to `status` and append the change (with time and note) to its history.

        Extra RunRecord `fields` (e.g. actual cost) are written in the same transaction as the status. With
        `expect`, only a run in one of those statuses moves (False otherwise): two processes reconciling or
        resuming the same run cannot both act on it.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown run status {status!r}; one of {', '.join(STATUSES)}")
        _check_fields(fields)
        with self._tx() as db:
            record = self._read(db, run_id)
            if expect is not None and record.status not in expect:
                return False
            at = now()
            update: dict = {
                "status": status,
                "history": [*record.history, StatusChange(status=status, at=at, note=note)],
            }
            if status == RunStatus.RUNNING:
                update["ended_at"] = None
                if record.started_at is None:
                    update["started_at"] = at
            if status in TERMINAL:
                update["ended_at"] = at
            merged = {**record.model_dump(), **fields, **update}
            self._write(db, RunRecord.model_validate(merged))
        return True

    def update(self, run_id: str, **fields) -> RunRecord:
        """Set any RunRecord fields (validated by the model); returns the stored record.

        A changed status is appended to the history too, so no transition goes unrecorded.
        """
        _check_fields(fields)
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"unknown run status {fields['status']!r}")
        with self._tx() as db:
            record = self._read(db, run_id)
            if "status" in fields and fields["status"] != record.status and "history" not in fields:
                change = StatusChange(status=fields["status"], at=now(), note="")
                fields = {**fields, "history": [*record.history, change]}
            merged = RunRecord.model_validate({**record.model_dump(), **fields})
            self._write(db, merged)
        return merged

    def new_run_id(self) -> str:
        """A run id neither in the ledger nor a folder under runs/: a run writes its folder before its record,
        so an id drawn twice in one second (1 in 65536 per pair) must not reach another run's folder."""
        while True:
            run_id = new_run_id()
            with self._tx() as db:
                taken = db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()
            if not taken and not (self.home / "runs" / run_id).exists():
                return run_id

    def get(self, run_id: str) -> RunRecord:
        """The run with this id; UserError if there is none."""
        with self._tx() as db:
            return self._read(db, run_id)

    def list(self, since: Optional[datetime] = None, until: Optional[datetime] = None,
             tag: Optional[str] = None) -> list[RunRecord]:
        """Runs created in [since, until), optionally with this tag, oldest first."""
        sql, args = "SELECT record FROM runs WHERE 1 = 1", []
        if since is not None:
            sql, args = sql + " AND created_at >= ?", [*args, _utc(since).isoformat()]
        if until is not None:
            sql, args = sql + " AND created_at < ?", [*args, _utc(until).isoformat()]
        if tag is not None:
            sql, args = sql + " AND tag = ?", [*args, tag]
        with self._tx() as db:
            rows = db.execute(sql + " ORDER BY created_at, id", args).fetchall()
        return [RunRecord.model_validate_json(row[0]) for row in rows]
