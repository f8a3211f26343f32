"""The job drops the one bitsandbytes warning known to be harmless here, by its text, and nothing else."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from tunecost.job.quiet import BNB_KERNELS, BNB_LOGGER, silence_known_noise


@pytest.fixture
def captured():
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(BNB_LOGGER)
    logger.addHandler(handler)
    yield logger, records
    logger.removeHandler(handler)


def test_only_the_missing_kernels_message_is_dropped(captured):
    logger, records = captured
    silence_known_noise()
    silence_known_noise()  # idempotent: one filter
    missing = ModuleNotFoundError("No module named 'kernels'", name="kernels")
    logger.warning(BNB_KERNELS + ": %s. Please make sure you already `pip install kernels`", missing)
    assert records == []
    logger.warning(BNB_KERNELS + ": %s.", RuntimeError("kernel download failed"))  # another cause: shown
    logger.warning("some other bitsandbytes warning")
    assert [r.getMessage() for r in records] == [BNB_KERNELS + ": kernel download failed.",
                                                 "some other bitsandbytes warning"]
    assert len(logger.filters) == 1


def _stderr_of_import(silenced: bool) -> str:
    code = ("from tunecost.job.quiet import silence_known_noise; silence_known_noise()\n" if silenced else "") + \
        "import bitsandbytes"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stderr


def test_importing_bitsandbytes_after_it_prints_no_kernels_warning():
    """Real bitsandbytes: the warning appears on a CPU with AVX512-BF16 unless the job's filter is in place."""
    if BNB_KERNELS not in _stderr_of_import(silenced=False):
        pytest.skip("this CPU does not make bitsandbytes look for the kernels package")
    assert BNB_KERNELS not in _stderr_of_import(silenced=True)
