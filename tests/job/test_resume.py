"""Spot behaviour with real processes: kill -9 after a checkpoint then run again (resumes, same losses as an
uninterrupted run), and SIGTERM / SIGINT (save a complete checkpoint, summary says sigterm, exit 128 + signal)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tunecost.job import checkpoints
from tunecost.job.train import main

from .conftest import job_cmd, run_job, summary_line, tiny_args

pytestmark = pytest.mark.slow  # real training runs

# packed 64-token blocks, past an epoch boundary: the resume has to skip batches mid-epoch and restore RNG (dropout)
RESUME_RUN = dict(max_steps=16, save_steps=4, micro_batch=8, seq_len=64, packing="true", keep_checkpoints=2)


def test_kill_9_then_resume_matches_uninterrupted_run(tmp_path):
    ref = tmp_path / "ref"
    assert main(tiny_args(ref, **RESUME_RUN)) == 0
    reference = dict((step, loss) for step, loss in json.loads((ref / "run_summary.json").read_text())["loss_curve"])

    out = tmp_path / "killed"
    proc = subprocess.Popen(job_cmd(*tiny_args(out, **RESUME_RUN)), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=dict(os.environ))
    deadline = time.time() + 120
    while checkpoints.newest_complete(out) is None and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "run_summary.json").exists(), "the run finished before the kill; the test proved nothing"
    killed_at = int(checkpoints.newest_complete(out).name.split("-")[1])
    assert 4 <= killed_at < 16

    result = run_job(tiny_args(out, **RESUME_RUN))
    assert result.returncode == 0, result.stderr[-2000:]
    s = summary_line(result.stdout)
    assert s["epochs"] > 1  # the run crossed an epoch boundary
    assert s["steps"] == 16 and s["resumed_from"] == [killed_at] and s["stop_reason"] == "max_steps"
    after = [(step, loss) for step, loss in s["loss_curve"] if step > killed_at]
    assert [step for step, _ in after] == list(range(killed_at + 1, 17))
    for step, loss in after:
        assert loss == pytest.approx(reference[step], abs=1e-5), (step, loss, reference[step])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_complete_checkpoint_and_exits(tmp_path, sig):
    out = tmp_path / "run"
    proc = subprocess.Popen(job_cmd(*tiny_args(out, max_steps=5000, save_steps=5000)), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=dict(os.environ))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("step 3/"):
            proc.send_signal(sig)
            break
    lines += proc.stdout.readlines()
    proc.wait(timeout=60)
    assert proc.returncode == 128 + sig.value
    s = summary_line("".join(lines))
    assert s["stop_reason"] == "sigterm" and 3 <= s["steps"] < 5000
    assert checkpoints.newest_complete(out).name == f"checkpoint-{s['steps']}"
    assert (out / "adapter" / "adapter_config.json").is_file()
