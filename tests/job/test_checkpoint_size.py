"""The planner sizes checkpoint writes from job/contract.py (checkpoint_bytes_per_param); these runs save real
checkpoints of the tiny Llama and weigh them, and check that save_steps 0 saves at the planned interval only."""

from __future__ import annotations

import json

import pytest

from tunecost.job import checkpoints, contract
from tunecost.job.train import main

from .conftest import tiny_args

pytestmark = pytest.mark.slow  # real training runs

# What HF Trainer writes besides the weights and optimizer.pt (config, scheduler, RNG, trainer state, tokenizer,
# README): kilobytes that do not grow with the model, left out of the comparison.
STATE_FILES = ("adapter_model.safetensors", "model.safetensors", "optimizer.pt")


@pytest.mark.parametrize("method, optimizer", [("lora", "adamw"), ("full", "adamw"), ("lora", "sgd")])
def test_saved_checkpoint_matches_the_contract(tmp_path, method, optimizer):
    out = tmp_path / method
    assert main(tiny_args(out, method=method, optimizer=optimizer, max_steps=2, save_steps=2,
                          precision="bf16-mixed", learning_rate=1e-3)) == 0
    folder = out / "checkpoint-2"
    assert checkpoints.is_complete(folder)
    saved = sum((folder / name).stat().st_size for name in STATE_FILES if (folder / name).is_file())
    trainable = json.loads((out / "run_summary.json").read_text())["trainable_params"]
    expected = trainable * contract.checkpoint_bytes_per_param(method, "bf16-mixed", optimizer)
    # safetensors headers and the optimizer pickle add a few KiB on a model this small
    assert saved == pytest.approx(expected, rel=0.08, abs=24_000), (saved, expected, trainable)


def test_save_steps_zero_saves_only_at_the_planned_interval(tmp_path):
    every_step = tmp_path / "timed"
    assert main(tiny_args(every_step, max_steps=3, save_steps=0, save_minutes=1e-6)) == 0
    assert [step for step, _ in checkpoints.all_checkpoints(every_step)] == [2, 3]  # saved each step, two kept
    never = tmp_path / "long"
    assert main(tiny_args(never, max_steps=3, save_steps=0, save_minutes=60)) == 0
    assert checkpoints.all_checkpoints(never) == []  # no step-based save and no final checkpoint
    assert (never / "adapter" / "adapter_config.json").is_file()  # the outputs are saved all the same
