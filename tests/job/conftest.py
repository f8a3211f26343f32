"""Shared helpers for the job tests: a per-session model cache (the tiny Llama is built once) and job runners."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def tiny_cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("tunecost-cache")
    old = os.environ.get("TUNECOST_CACHE")
    os.environ["TUNECOST_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("TUNECOST_CACHE", None)
    else:
        os.environ["TUNECOST_CACHE"] = old


def tiny_args(out: Path, **overrides) -> list[str]:
    """Flags for a small, fast, seeded tiny-model run; overrides use config key names."""
    keys = {"model": "tiny", "dataset": "demo", "output_dir": str(out), "method": "lora", "learning_rate": 1e-2,
            "micro_batch": 4, "seq_len": 48, "logging_steps": 1, "save_minutes": 60, "seed": 3, "packing": False,
            **overrides}
    argv: list[str] = []
    for key, value in keys.items():
        argv += ["--" + key.replace("_", "-"), str(value)]
    return argv


def job_cmd(*argv: str) -> list[str]:
    return [sys.executable, "-m", "tunecost.job.train", *argv]


def run_job(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(job_cmd(*argv), capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def summary_line(stdout: str) -> dict:
    """The contract: the last stdout line is `TUNECOST_SUMMARY {json}`."""
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("TUNECOST_SUMMARY "), last
    return json.loads(last[len("TUNECOST_SUMMARY "):])


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path
