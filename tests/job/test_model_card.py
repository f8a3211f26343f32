"""The adapter names its base model by hub id where there is one and carries a short model card; the job's eval
loss is measured before and after training (a resume keeps the first run's baseline)."""

from __future__ import annotations

import json

import pytest

from tunecost.job.config import base_model_id
from tunecost.job.model_card import card_text
from tunecost.job.run_summary import RunSummary
from tunecost.job.smollm2 import HUB_ID
from tunecost.job.train import main

from .conftest import tiny_args


def test_base_model_id_is_the_hub_name_of_built_in_and_hub_models(tmp_path):
    assert base_model_id("smollm2") == HUB_ID == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert base_model_id("meta-llama/Llama-3.1-8B") == "meta-llama/Llama-3.1-8B"
    assert base_model_id("tiny") is None and base_model_id(str(tmp_path)) is None  # no hub name: the path stays


def test_card_states_base_model_method_rank_data_steps_and_loss():
    summary = RunSummary(run_id="r1", method="qlora", rows=320, steps=72, epochs=2.0, train_tokens=11110,
                         final_loss=0.25, eval_loss=0.28, eval_loss_before=2.41,
                         config={"model": "tiny", "output_dir": "o",
                                 "method": "qlora", "rank": 8, "alpha": 16.0, "target_modules": "attention",
                                 "dataset": "/x/demo_data.jsonl", "seq_len": 64, "learning_rate": 0.001})
    text = card_text(summary, HUB_ID)
    front = text.split("---")[1]
    assert 'base_model: "HuggingFaceTB/SmolLM2-135M-Instruct"' in front and 'library_name: "peft"' in front
    for line in ("- method: qlora", "- rank 8, alpha 16, targets attention", "- data: demo_data.jsonl, 320 rows",
                 "- steps: 72 (2.0 epochs, 11,110 tokens)", "eval 2.4100 before, 0.2800 after"):
        assert line in text


@pytest.mark.slow
def test_adapter_config_names_the_base_by_its_hub_id_where_it_has_one(tmp_path, monkeypatch):
    """The tiny model has no hub id, so the name is replaced at one boundary (train.base_model_name, as for smollm2
    or a hub model): adapter_config.json and the card carry that name, not the cache folder the base loaded from."""
    from tunecost.job import train

    monkeypatch.setattr(train, "base_model_name", lambda cfg: "example-org/tiny-llama")
    out = tmp_path / "run"
    assert main(tiny_args(out, max_steps=1, save_steps=1)) == 0
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "example-org/tiny-llama"
    assert 'base_model: "example-org/tiny-llama"' in (out / "adapter" / "README.md").read_text()


@pytest.mark.slow
def test_tiny_run_writes_the_card_and_eval_loss_before_survives_a_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(tiny_args(out, max_steps=2, save_steps=2, eval_fraction=0.1)) == 0
    first = json.loads((out / "run_summary.json").read_text())
    stdout = capsys.readouterr().out
    assert first["eval_loss_before"] is not None and f"eval loss {first['eval_loss_before']:.4f} before" in stdout
    assert f"eval loss {first['eval_loss']:.4f} after training" in stdout
    card = (out / "adapter" / "README.md").read_text()
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert f'base_model: "{config["base_model_name_or_path"]}"' in card  # tiny has no hub id: its folder
    assert "- steps: 2 " in card and "[More Information Needed]" not in card  # ours, not PEFT's template

    assert main(tiny_args(out, max_steps=4, save_steps=2, eval_fraction=0.1)) == 0  # resumes from step 2
    second = json.loads((out / "run_summary.json").read_text())
    assert second["resumed_from"] == [2] and second["steps"] == 4
    assert second["eval_loss_before"] == first["eval_loss_before"]  # the baseline of the run, not of the resume
    assert "- steps: 4 " in (out / "adapter" / "README.md").read_text()
