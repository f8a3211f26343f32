"""One run's folder under $TUNECOST_HOME: every file of a run is named here, once.

```
runs/<id>/
  tunecost_job.json   the job config the launcher wrote (backends/job_config.py); the job's only input
  alive.json          the launcher's and the job's pid + start time (liveness.py)
  job.log             the job's output (a local run)
  output/             the job's output_dir (a local run): checkpoints, adapter, run_summary.json
  sky/                a cloud run's staged workdir: job/ and the config, synced to the VM
dry-run/<id>/         a dry run's staging (never recorded; the previous one is replaced)
```

WHY in the ledger: the folder is the run's second record. The ledger reads it to close a dead run (reconcile.py)
and to rebuild a lost record (repair.py), and both backends write it; the layer below both owns the names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunecost.job.run_summary import SUMMARY_NAME

RUNS = "runs"
DRY_RUN = "dry-run"
CONFIG_NAME = "tunecost_job.json"  # also the config's name in a cloud run's workdir on the VM


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run's folder; nothing is read or made here."""

    path: Path

    @classmethod
    def of(cls, home: Path, run_id: str, dry_run: bool = False) -> RunFolder:
        return cls(home / (DRY_RUN if dry_run else RUNS) / run_id)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / CONFIG_NAME

    @property
    def alive(self) -> Path:
        return self.path / "alive.json"

    @property
    def log(self) -> Path:
        return self.path / "job.log"

    @property
    def output(self) -> Path:
        return self.path / "output"

    @property
    def summary(self) -> Path:
        return self.output / SUMMARY_NAME

    @property
    def sky(self) -> Path:
        return self.path / "sky"


def run_folders(home: Path) -> list[RunFolder]:
    """Every folder under runs/, by run id."""
    runs = home / RUNS
    return [RunFolder(p) for p in sorted(runs.glob("*/"))] if runs.is_dir() else []
