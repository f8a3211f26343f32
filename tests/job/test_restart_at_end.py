"""A restart after the last step (SkyPilot restarts a job preempted just after it finished): no training, the same
adapter and summary, exit 0. And a kill between committing a checkpoint and rotating leaves K checkpoints after the
resume, not K + 1."""

from __future__ import annotations

import json
import shutil

import pytest

from tunecost.job import checkpoints
from tunecost.job.train import main, resume_point

from .conftest import tiny_args

pytestmark = pytest.mark.slow  # real training runs


def _summary(out) -> dict:
    return json.loads((out / "run_summary.json").read_text())


def _same(first: dict, again: dict) -> None:
    for key in ("steps", "epochs", "train_tokens", "loss_curve", "final_loss", "eval_loss", "stop_reason", "run_id",
                "sample"):
        assert again[key] == first[key], key
    assert again["resumed_from"] == [first["steps"]]  # a process did start again, at the last step


@pytest.mark.parametrize("overrides", [dict(max_steps=20, save_steps=10), dict(epochs=1.5, save_steps=50)],
                         ids=["max_steps", "epochs-1.5"])
def test_rerun_of_a_finished_job_trains_nothing_and_writes_the_same_adapter(tmp_path, capsys, overrides):
    out = tmp_path / "run"
    argv = tiny_args(out, micro_batch=8, eval_fraction=0.1, **overrides)
    assert main(argv) == 0
    first, adapter = _summary(out), (out / "adapter" / "adapter_model.safetensors").read_bytes()
    capsys.readouterr()
    for _ in range(2):  # a second and a third start
        assert main(argv) == 0
        stdout = capsys.readouterr().out
        again = _summary(out)
        _same(first, again)
        assert f"step {first['steps'] + 1}/" not in stdout and "nothing left to train" in stdout
        assert (out / "adapter" / "adapter_model.safetensors").read_bytes() == adapter


def test_restart_after_the_last_checkpoint_but_before_the_adapter_writes_it(tmp_path, capsys):
    """Killed after checkpoint-20 committed, before adapter/ and the summary: the restart writes both from it."""
    out = tmp_path / "run"
    argv = tiny_args(out, max_steps=20, save_steps=10)
    assert main(argv) == 0
    first, adapter = _summary(out), (out / "adapter" / "adapter_model.safetensors").read_bytes()
    shutil.rmtree(out / "adapter")
    (out / "run_summary.json").unlink()
    capsys.readouterr()
    assert main(argv) == 0
    assert "step 21/20" not in capsys.readouterr().out
    _same(first, _summary(out))
    assert (out / "adapter" / "adapter_model.safetensors").read_bytes() == adapter


def test_a_kill_between_commit_and_rotation_leaves_k_checkpoints_after_resume(tmp_path):
    out = tmp_path / "run"
    for step in (10, 20, 30):  # three committed checkpoints: the process died before rotating
        folder = out / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text("{}")
        checkpoints.mark_complete(folder, {"step": step})
    newest, state = resume_point(out, keep=2)
    assert newest.name == "checkpoint-30" and state["step"] == 30
    assert [p.name for _, p in checkpoints.all_checkpoints(out)] == ["checkpoint-20", "checkpoint-30"]
