"""A run's status in the ledger, and the one mapping from the job's stop_reason to it.

WHY one mapping: every backend (local, SkyPilot --cluster, the ledger's --repair) reads the same run_summary.json;
each keeping its own table let them disagree (a crashed --cluster job was recorded as stopped, not failed).
"""

from __future__ import annotations

from enum import Enum

from tunecost.job.run_summary import StopReason


class RunStatus(str, Enum):
    """Values are the strings stored in the ledger (JSON and its status column)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"

    def __str__(self) -> str:  # f-strings, tables and notes show the value, on every Python version
        return self.value


TERMINAL = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.STOPPED)

# The job's stop_reason -> the run's status. sigterm and budget checkpointed first, so the run can be resumed.
STATUS_OF_STOP: dict[StopReason, RunStatus] = {
    StopReason.COMPLETED: RunStatus.SUCCEEDED,
    StopReason.MAX_STEPS: RunStatus.SUCCEEDED,
    StopReason.SIGTERM: RunStatus.STOPPED,
    StopReason.BUDGET: RunStatus.STOPPED,
    StopReason.ERROR: RunStatus.FAILED,
}
