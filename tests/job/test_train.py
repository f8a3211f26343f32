"""End-to-end runs of the job on the tiny Llama, in process: loss falls, adapter reloads, every method and data
format trains, the budget guard stops, a partial newest checkpoint is skipped and rotation keeps the last K."""

from __future__ import annotations

import json
import shutil

import pytest

from tunecost.job import checkpoints
from tunecost.job.train import main

from .conftest import tiny_args, write_jsonl

pytestmark = pytest.mark.slow  # real training runs


def summary(out) -> dict:
    return json.loads((out / "run_summary.json").read_text())


def test_loss_falls(tmp_path, capsys):
    """A full fine-tune moves the random tiny model fast (LoRA on frozen random weights barely can)."""
    out = tmp_path / "run"
    assert main(tiny_args(out, method="full", learning_rate=3e-3, max_steps=20, save_steps=100,
                          eval_fraction=0.1)) == 0
    stdout = capsys.readouterr().out
    s = summary(out)
    losses = [loss for _, loss in s["loss_curve"]]
    assert s["steps"] == 20 and len(losses) == 20 and s["stop_reason"] == "max_steps"
    assert sum(losses[-3:]) / 3 < 0.85 * sum(losses[:3]) / 3, losses
    assert s["eval_loss"] is not None and s["eval_loss"] < losses[0]
    assert s["train_tokens"] > 0 and s["tokens_per_sec"] > 0 and s["peak_memory_gib"] > 0.1
    assert "step 20/20 | loss" in stdout and " tok/s | eta " in stdout
    sample = s["sample"]  # a held-out prompt answered by the base and by the tuned model
    assert sample["prompt"] and isinstance(sample["base"], str) and isinstance(sample["tuned"], str)
    assert "  tuned: " in stdout
    assert stdout.strip().splitlines()[-1] == "TUNECOST_SUMMARY " + json.dumps(s, separators=(",", ":"))


@pytest.mark.parametrize("method, overrides", [
    ("qlora", {"gradient_checkpointing": "true"}), ("full", {"learning_rate": 1e-3}),
    ("prompt-tuning", {"virtual_tokens": 4}), ("lora", {"target_modules": "attention", "merge": "true"}),
])
def test_every_method_trains_and_saves(tmp_path, method, overrides):
    out = tmp_path / method
    assert main(tiny_args(out, method=method, max_steps=2, save_steps=2, **overrides)) == 0
    s = summary(out)
    assert s["steps"] == 2 and s["method"] == method and 0 < s["trainable_params"] <= s["total_params"]
    if method == "full":
        assert s["trainable_params"] == s["total_params"] and (out / "model" / "config.json").is_file()
    else:
        assert (out / "adapter" / "adapter_config.json").is_file() and s["trainable_params"] < s["total_params"]
    if method == "lora":
        assert (out / "merged" / "config.json").is_file() and s["merged_dir"]
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(str(out / "adapter"))
        lora_b = [v for k, v in model.state_dict().items() if "lora_B" in k]
        assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # lora_B starts at zero: it learned
    assert checkpoints.is_complete(out / "checkpoint-2")


@pytest.mark.parametrize("rows", [
    [{"text": f"{n} km = {n * 1000} m"} for n in range(1, 9)],
    [{"prompt": f"{n} km?", "completion": f"{n * 1000} m"} for n in range(1, 9)],
    [{"messages": [{"role": "user", "content": f"{n} km?"}, {"role": "assistant", "content": f"{n * 1000} m"}]}
     for n in range(1, 9)],
    [{"instruction": "To meters", "input": f"{n} km", "output": f"{n * 1000} m"} for n in range(1, 9)],
], ids=["text", "prompt-completion", "messages", "alpaca"])
def test_each_format_trains(tmp_path, rows):
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    eval_data = write_jsonl(tmp_path / "e.jsonl", rows[:2])
    out = tmp_path / "run"
    assert main(tiny_args(out, dataset=data, eval_file=eval_data, max_steps=2, save_steps=10, seq_len=128)) == 0
    s = summary(out)
    assert s["rows"] == 8 and s["bad_rows"] == 0 and s["eval_loss"] > 0 and s["train_tokens"] > 0


def test_budget_guard_saves_and_stops(tmp_path):
    out = tmp_path / "run"
    # $36000/h = $10/s: a $5 budget is spent within the first steps (model loading counts too)
    assert main(tiny_args(out, max_steps=500, save_steps=1000, price_per_hour=36000, budget_usd=5)) == 0
    s = summary(out)
    assert s["stop_reason"] == "budget" and 0 < s["steps"] < 500 and s["cost_usd"] >= 5
    assert checkpoints.newest_complete(out).name == f"checkpoint-{s['steps']}"
    # a restart of the same run knows the money is gone: no more training
    assert main(tiny_args(out, max_steps=500, save_steps=1000, price_per_hour=36000, budget_usd=5)) == 0
    again = summary(out)
    assert again["stop_reason"] == "budget" and again["resumed_from"] == [s["steps"]]
    assert again["total_seconds"] > s["total_seconds"]


def test_partial_newest_checkpoint_is_skipped_and_rotation_keeps_last_k(tmp_path):
    out = tmp_path / "run"
    assert main(tiny_args(out, max_steps=8, save_steps=2, keep_checkpoints=2)) == 0
    assert [p.name for _, p in checkpoints.all_checkpoints(out)] == ["checkpoint-6", "checkpoint-8"]
    first = summary(out)
    # a crash mid-save of checkpoint-10: files copied, trainer_state.json and COMPLETE never written
    partial = out / "checkpoint-10"
    shutil.copytree(out / "checkpoint-8", partial)
    (partial / "trainer_state.json").unlink()
    (partial / checkpoints.MARKER).unlink()
    assert main(tiny_args(out, max_steps=12, save_steps=2, keep_checkpoints=2)) == 0
    s = summary(out)
    assert s["resumed_from"] == [8] and s["steps"] == 12 and s["run_id"] == first["run_id"]
    assert [p.name for _, p in checkpoints.all_checkpoints(out)] == ["checkpoint-10", "checkpoint-12"]
    assert checkpoints.is_complete(out / "checkpoint-10")
    assert [st for st, _ in s["loss_curve"]] == list(range(1, 13))  # curve spans both processes


def test_time_based_saves_and_epochs_complete(tmp_path):
    """save_minutes fires between save_steps; an epochs-bounded run ends with stop_reason "completed"."""
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": f"{n} km?", "completion": f"{n * 1000} m"}
                                              for n in range(1, 9)])
    out = tmp_path / "run"
    assert main(tiny_args(out, dataset=data, epochs=2, save_steps=1000, save_minutes=1e-5, keep_checkpoints=3)) == 0
    s = summary(out)
    assert s["stop_reason"] == "completed" and s["steps"] == 4 and s["epochs"] == 2.0
    assert [p.name for _, p in checkpoints.all_checkpoints(out)] == ["checkpoint-2", "checkpoint-3", "checkpoint-4"]


def test_runs_shorter_than_logging_steps_still_report_their_last_steps_loss(tmp_path):
    """logging_steps 10 (the default) over 3 steps: the loss is logged at step 3; an epochs-bounded run logs its
    last step though it is no multiple of logging_steps."""
    out = tmp_path / "short"
    assert main(tiny_args(out, max_steps=3, logging_steps=10, save_steps=100)) == 0
    s = summary(out)
    assert s["steps"] == 3 and s["config"]["logging_steps"] == 3
    assert [step for step, _ in s["loss_curve"]] == [3] and s["final_loss"] == s["loss_curve"][-1][1] > 0
    data = write_jsonl(tmp_path / "d.jsonl", [{"prompt": f"{n} km?", "completion": f"{n * 1000} m"}
                                              for n in range(1, 9)])
    out = tmp_path / "epochs"
    assert main(tiny_args(out, dataset=data, epochs=2, logging_steps=3, save_steps=100)) == 0
    s = summary(out)
    assert s["steps"] == 4 and [step for step, _ in s["loss_curve"]] == [3, 4]
    assert s["final_loss"] == s["loss_curve"][-1][1]
