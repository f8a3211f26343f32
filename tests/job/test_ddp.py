"""Two processes on CPU (torchrun, gloo): one summary from rank 0, checkpoints complete with both ranks' RNG
state, and a second launch resumes on both ranks from the newest complete checkpoint."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from tunecost.job import checkpoints

from .conftest import summary_line, tiny_args

pytestmark = pytest.mark.slow  # real training runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(argv: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
           str(_free_port()), "-m", "tunecost.job.train", *argv]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=dict(os.environ))


def test_two_process_ddp_on_cpu(tmp_path):
    out = tmp_path / "run"
    args = tiny_args(out, max_steps=6, save_steps=3)
    first = torchrun(args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.count("TUNECOST_SUMMARY") == 1
    s = summary_line(first.stdout)
    assert s["world_size"] == 2 and s["steps"] == 6 and s["stop_reason"] == "max_steps"
    for step in (3, 6):
        folder = out / f"checkpoint-{step}"
        assert checkpoints.is_complete(folder)
        assert (folder / "rng_state_0.pth").is_file() and (folder / "rng_state_1.pth").is_file()

    shutil.rmtree(out / "checkpoint-6")  # as if the node died before checkpoint-6 reached the bucket
    second = torchrun(args)
    assert second.returncode == 0, second.stderr[-3000:]
    again = summary_line(second.stdout)
    assert again["resumed_from"] == [3] and again["steps"] == 6 and again["run_id"] == s["run_id"]
    assert [step for step, _ in again["loss_curve"]] == list(range(1, 7))
