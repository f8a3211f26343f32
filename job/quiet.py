"""Silence what other libraries print that is known harmless here: each message at its source, by its text.

WHY narrow: a run's log is read by people; a warning that is known to mean nothing here (and that tells them to
install something they must not) buries the lines that matter. Only the exact known messages are dropped, by a
filter on the one logger that emits each; every other warning, from these libraries too, still prints.
"""

from __future__ import annotations

import logging

# bitsandbytes 0.50 on a CPU with AVX512-BF16 tries the hub package `kernels` for an inference-only 4-bit kernel
# the job never uses (job/model.py keep_4bit_trainable turns that path off); without it, it warns on import.
# DESIGN.md: harmless, and `kernels` must not be installed (it downloads from a hub).
BNB_LOGGER = "bitsandbytes.backends.cpu.ops"
BNB_KERNELS = "Failed to load CPU gemm_4bit_forward from kernels-community"


class DropKnown(logging.Filter):
    """Drops a record whose message starts with `start` and whose first argument is a missing `module`."""

    def __init__(self, start: str, module: str) -> None:
        super().__init__()
        self.start, self.module = start, module

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith(self.start):
            return True
        cause = record.args[0] if isinstance(record.args, tuple) and record.args else None
        return not (isinstance(cause, ModuleNotFoundError) and cause.name == self.module)


def silence_known_noise() -> None:
    """Install the filters (idempotent); call before bitsandbytes is imported."""
    logger = logging.getLogger(BNB_LOGGER)
    if not any(isinstance(f, DropKnown) for f in logger.filters):
        logger.addFilter(DropKnown(BNB_KERNELS, "kernels"))
