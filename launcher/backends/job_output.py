"""Reading the job's output as it streams: echo it (progress), keep its tail, catch `TUNECOST_SUMMARY {json}`.

WHY: both backends see the job only through its output (a local pipe, or SkyPilot's log stream); the summary
line is the job's contract for what it did, so one scanner serves both.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Optional

from pydantic import ValidationError

from tunecost.job.run_summary import SUMMARY_PREFIX, RunSummary


class OutputScanner:
    """Feed it text chunks; it emits whole lines to `echo` and remembers the last summary and the last lines."""

    def __init__(self, echo: Optional[Callable[[str], None]] = None, keep: int = 20) -> None:
        self.echo = echo
        self.summary: Optional[RunSummary] = None
        self.tail: deque[str] = deque(maxlen=keep)
        self._partial = ""

    def feed(self, chunk: str) -> None:
        lines = (self._partial + chunk).split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._line(line.rstrip("\r"))

    def close(self) -> None:
        if self._partial:
            self._line(self._partial)
            self._partial = ""

    def _line(self, line: str) -> None:
        # SkyPilot may prefix log lines (e.g. "(task, pid=123) "), so look for the marker anywhere.
        at = line.find(SUMMARY_PREFIX)
        if at >= 0:
            try:
                self.summary = RunSummary.model_validate_json(line[at + len(SUMMARY_PREFIX):])
            except ValidationError:  # a cut or garbled line: keep the last good one
                pass
            return  # the summary is recorded, not echoed: it is one very long line
        self.tail.append(line)
        if self.echo is not None:
            self.echo(line)

    def last_error(self) -> str:
        """The most telling recent line, for a failed run's ledger note."""
        for line in reversed(self.tail):
            if line.startswith("error:") or "Error" in line:
                return line.strip()[:300]
        return next((ln.strip()[:300] for ln in reversed(self.tail) if ln.strip()), "")
