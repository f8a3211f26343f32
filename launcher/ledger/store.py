"""The run ledger: every run's RunRecord in one SQLite file, $TUNECOST_HOME/ledger.sqlite (~/.tunecost).

WHY SQLite: launch, Ctrl-C handlers, resumes and `tunecost report` may touch the ledger at the same time;
SQLite gives us transactions, so a run is either absent or present with a status, never half written.
The whole record is stored as JSON (the RunRecord model is the schema); id, status, created_at and tag are
also columns so listing and filtering stay cheap.

The file is made on the first write, whole: a temp file with the schema, hard-linked into place (six commands
started together on a new home never see a file without its schema; a refused launch leaves no file). Until then
the ledger reads as empty. A record that cannot be read (a bug of an older version, a hand edit) is skipped by
every listing with one warning naming its run; `tunecost runs --repair` sets it aside. A record that would not
read back is never written.
"""

from __future__ import annotations

import errno
import os
import secrets
import sqlite3
import sys
from contextlib import closing, contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Collection, Iterator, Optional

from pydantic import ValidationError

from tunecost.job.atomic import sweep_temps, temp_name
from tunecost.launcher.ledger.run_folder import RunFolder
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
# Records set aside by `runs --repair` because they cannot be read: kept, never deleted.
SET_ASIDE = "set_aside"
_SET_ASIDE_SCHEMA = f"CREATE TABLE IF NOT EXISTS {SET_ASIDE} (id TEXT, at TEXT, why TEXT, record TEXT)"
FULL = ("SQLITE_FULL", errno.ENOSPC, errno.EDQUOT)  # sqlite's error names (a prefix) and the OS's errno
READ_ONLY = ("SQLITE_READONLY", "SQLITE_PERM", "SQLITE_CANTOPEN", "SQLITE_AUTH", errno.EACCES, errno.EPERM,
             errno.EROFS)


def _is(err: Exception, kinds: tuple) -> bool:
    name = getattr(err, "sqlite_errorname", None) or ""
    return getattr(err, "errno", None) in kinds or any(isinstance(k, str) and name.startswith(k) for k in kinds)


def now() -> datetime:
    """Timezone-aware UTC now; every timestamp in the ledger is UTC."""
    return datetime.now(timezone.utc)


def new_run_id() -> str:
    """Sortable, short, and valid as a SkyPilot job/cluster name: tc-YYMMDD-HHMMSS-xxxx."""
    return f"tc-{now():%y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def _utc(value: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted, so stored ISO strings compare in order."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def unreadable_why(err: ValidationError) -> str:
    """The first thing wrong with a stored record, short: `price_per_hour: Input should be a valid number`."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where + ': ' if where else ''}{first.get('msg', 'invalid')}"[:120]


def _stderr_warning(line: str) -> None:
    sys.stderr.write(f"warning: {line}\n")


def _check_fields(fields: dict) -> None:
    unknown = set(fields) - set(RunRecord.model_fields)
    if unknown:
        raise ValueError(f"not RunRecord fields: {', '.join(sorted(unknown))}")


class Ledger:
    """Create, update, read and list RunRecords. Each write is one transaction."""

    def __init__(self, home: Optional[Path] = None, warn: Callable[[str], None] = _stderr_warning) -> None:
        self.home = tunecost_home(home)
        self.path = self.home / LEDGER_NAME
        self.warn = warn  # how listings report records they skip (a `warning: ...` line on stderr)
        self._warned: set[str] = set()
        if self.home.exists() and not self.home.is_dir():
            raise UserError(f"the tunecost home {self.home} is not a folder; set TUNECOST_HOME to a folder")
        if self.path.is_file() and self.path.stat().st_size == 0:  # sqlite would take it as a new, empty ledger
            raise UserError(f"the ledger {self.path} is empty (0 bytes: truncated, or its disk was full); it is kept "
                            f"as it is. {REPAIR}")

    def _failure(self, err: Exception, doing: str = "use") -> UserError:
        """One honest line for a failed sqlite or file operation: a full disk is not a permission problem."""
        if _is(err, FULL) or "disk is full" in str(err):
            return UserError(f"the disk holding the ledger {self.path} is full ({err}); nothing was written. "
                             "Free some space and run it again")
        if _is(err, READ_ONLY) or "readonly" in str(err):
            return UserError(f"cannot {doing} the ledger {self.path} ({err}): it or its folder is read-only or not "
                             "yours; nothing was written. Fix the permissions, or set TUNECOST_HOME to a writable "
                             "folder")
        if "locked" in str(err) or _is(err, ("SQLITE_BUSY",)):
            return UserError(f"the ledger {self.path} is locked by another tunecost process ({err}); try again "
                             "when it is done")
        if isinstance(err, sqlite3.DatabaseError) and not isinstance(err, sqlite3.OperationalError):
            return UserError(f"the ledger {self.path} is damaged ({err}); it is kept as it is. {REPAIR}")
        return UserError(f"cannot {doing} the ledger {self.path} ({err}); check the file and its folder. {REPAIR}")

    @contextmanager
    def _sqlite_errors(self) -> Iterator[None]:
        """A damaged or unusable ledger file is one line naming it, never a traceback in every command."""
        try:
            yield
        except sqlite3.DatabaseError as err:
            raise self._failure(err) from None

    def _create(self) -> None:
        """Make the ledger file whole: the schema in a temp file, hard-linked to its name (never replacing one).

        WHY a link: sqlite creates its file empty and writes the schema later, so a sibling process opening it in
        between read a 0-byte ledger; a link appears with its schema or not at all, and fails if another process
        made the file first (theirs is as good). A failure leaves nothing: no temp file, no new home folder."""
        made_home = not self.home.exists()
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the tunecost home {self.home}: {err.strerror}; "
                            "set TUNECOST_HOME to a writable folder") from None
        sweep_temps(self.home, LEDGER_NAME)  # a creator killed mid-way left its temp file
        tmp = temp_name(self.path)
        try:
            with closing(sqlite3.connect(tmp)) as db:
                db.executescript(_SCHEMA)
            os.link(tmp, self.path)
        except FileExistsError:
            pass
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise self._failure(err, "create") from None
            with self._sqlite_errors(), closing(sqlite3.connect(self.path)) as db:  # no hard links here
                db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise self._failure(err, "create") from None
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
                leftover.unlink(missing_ok=True)
            if made_home and not self.path.exists():
                with suppress(OSError):
                    self.home.rmdir()

    def _connect(self, write: bool) -> sqlite3.Connection:
        if not self.path.exists():
            if not write:  # no ledger yet: it reads as an empty one, and nothing is created
                db = sqlite3.connect(":memory:", isolation_level=None)
                db.executescript(_SCHEMA)
                return db
            self._create()
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction; a write is IMMEDIATE, so read-modify-write of a record cannot interleave with another
        writer. A failed one is rolled back only if sqlite has not already done so (it has on a full disk), so the
        error shown is the real one, not "cannot rollback - no transaction is active"."""
        with self._sqlite_errors():
            db = self._connect(write)
            try:
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield db
                except BaseException:
                    if db.in_transaction:
                        with suppress(sqlite3.Error):
                            db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            finally:
                db.close()

    @staticmethod
    def _write(db: sqlite3.Connection, record: RunRecord) -> None:
        """Store the record, only if it reads back: what one command writes, the next one can read."""
        text = record.model_dump_json()
        try:
            RunRecord.model_validate_json(text)
        except ValidationError as err:
            raise UserError(f"run '{record.id}': its record would not read back ({unreadable_why(err)}); nothing "
                            "was written") from None
        db.execute(
            "INSERT OR REPLACE INTO runs (id, created_at, status, tag, record) VALUES (?, ?, ?, ?, ?)",
            (record.id, _utc(record.created_at).isoformat(), str(record.status), record.tag, text),
        )

    def _read(self, db: sqlite3.Connection, run_id: str) -> RunRecord:
        row = db.execute("SELECT record FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise UserError(f"no run '{run_id}'; see tunecost runs")
        try:
            return RunRecord.model_validate_json(row[0])
        except ValidationError as err:
            raise UserError(f"run '{run_id}' cannot be read from the ledger {self.path} ({unreadable_why(err)}); "
                            "set it aside with `tunecost runs --repair`") from None

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
            with self._tx(write=False) as db:
                taken = db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()
            if not taken and not RunFolder.of(self.home, run_id).path.exists():
                return run_id

    def get(self, run_id: str) -> RunRecord:
        """The run with this id; UserError if there is none or it cannot be read."""
        with self._tx(write=False) as db:
            return self._read(db, run_id)

    def list(self, since: Optional[datetime] = None, until: Optional[datetime] = None,
             tag: Optional[str] = None) -> list[RunRecord]:
        """Runs created in [since, until), optionally with this tag, oldest first. A record that cannot be read
        is skipped, with one warning naming it (once per Ledger)."""
        sql, args = "SELECT id, record FROM runs WHERE 1 = 1", []
        if since is not None:
            sql, args = sql + " AND created_at >= ?", [*args, _utc(since).isoformat()]
        if until is not None:
            sql, args = sql + " AND created_at < ?", [*args, _utc(until).isoformat()]
        if tag is not None:
            sql, args = sql + " AND tag = ?", [*args, tag]
        with self._tx(write=False) as db:
            rows = db.execute(sql + " ORDER BY created_at, id", args).fetchall()
        records, unreadable = [], []
        for run_id, text in rows:
            try:
                records.append(RunRecord.model_validate_json(text))
            except ValidationError as err:
                unreadable.append((run_id, unreadable_why(err)))
        news = [(run_id, why) for run_id, why in unreadable if run_id not in self._warned]
        if news:
            self._warned.update(run_id for run_id, _ in news)
            self.warn(f"skipped {len(news)} ledger record(s) that cannot be read: "
                      + "; ".join(f"{run_id} ({why})" for run_id, why in news)
                      + "; set them aside with `tunecost runs --repair`")
        return records

    def set_aside_unreadable(self) -> list[tuple[str, str]]:
        """Move every record that cannot be read to the set_aside table (same file, kept whole); returns
        (run id, why) of each. One transaction: a record is in one table or the other, never lost."""
        moved = []
        with self._tx() as db:
            for run_id, text in db.execute("SELECT id, record FROM runs").fetchall():
                try:
                    RunRecord.model_validate_json(text)
                except ValidationError as err:
                    moved.append((run_id, unreadable_why(err), text))
            if moved:
                db.execute(_SET_ASIDE_SCHEMA)
            for run_id, why, text in moved:
                db.execute(f"INSERT INTO {SET_ASIDE} VALUES (?, ?, ?, ?)", (run_id, now().isoformat(), why, text))
                db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        return [(run_id, why) for run_id, why, _ in moved]
