"""The planner/job boundary as one typed contract: one vocabulary, one optimizer table, one JobConfig.

The launcher builds the job's own JobConfig, writes it, the job reads it back with flags made from its fields,
and run_summary.json records it; the planner's enums are the job's, and its memory and speed models read the
job's optimizer table.
"""

from __future__ import annotations

import json

import pytest

from tunecost.job import contract
from tunecost.job.errors import JobError
from tunecost.job.job_config import JobConfig, build_parser, field_type, load_config
from tunecost.job.numbers import check
from tunecost.job.run_summary import RunSummary, read_summary, write_summary

BASE = dict(model="tiny", dataset="demo", output_dir="o")


def test_the_planner_speaks_the_jobs_vocabulary_defined_once():
    from tunecost.planner import spec

    for name in ("Method", "Optimizer", "Precision", "Parallelism"):
        assert getattr(spec, name) is getattr(contract, name), name
    assert set(contract.OPTIMIZERS) == set(contract.Optimizer)


def test_every_optimizer_the_job_names_is_one_the_hf_trainer_runs():
    """The real TrainingArguments.optim names, not a copy of them."""
    from transformers.training_args import OptimizerNames

    for optimizer, facts in contract.OPTIMIZERS.items():
        assert OptimizerNames(facts.hf_optim), optimizer


@pytest.mark.parametrize("optimizer", [o for o in contract.Optimizer if not contract.OPTIMIZERS[o].factored])
def test_the_memory_model_counts_the_optimizer_states_of_the_jobs_table(optimizer):
    from tunecost.planner.model.memory import estimate_memory
    from tunecost.planner.model.shapes import resolve_shape
    from tunecost.planner.spec import TrainSpec

    spec = TrainSpec(model="HuggingFaceTB/SmolLM2-135M", method="lora", optimizer=optimizer)
    estimate = estimate_memory(spec, resolve_shape(spec))
    facts = contract.OPTIMIZERS[optimizer]
    per_param = facts.param_dtype_states * 4 + facts.state_bytes  # fp32 adapters under bf16-mixed
    at_step = per_param + facts.step_temporaries * 4  # the step's temporaries too, when the peak is the step
    counted = estimate.components_gib.get("optimizer", 0.0) * 2**30 / estimate.trainable_params
    assert counted == pytest.approx(per_param, abs=1e-3) or counted == pytest.approx(at_step, abs=1e-3), counted


def test_every_field_is_a_flag_and_flags_parse_as_the_json_does(tmp_path):
    dests = {a.dest for a in build_parser()._actions}
    assert set(JobConfig.model_fields) <= dests
    cfg = load_config(["--model", "tiny", "--dataset", "demo", "--output-dir", "o", "--packing", "false",
                       "--optimizer", "adamw-8bit", "--learning-rate", "1e-4", "--target-modules", "q,v"])
    assert (cfg.packing, cfg.optimizer, cfg.learning_rate) == (False, contract.Optimizer.adamw_8bit, 1e-4)
    path = tmp_path / "job.json"
    path.write_text(cfg.to_json())
    assert load_config(["--config", str(path)]) == cfg


def test_an_unknown_key_or_a_bad_value_is_one_line():
    with pytest.raises(JobError, match=r"^unknown config key\(s\) rnak; known keys: model, dataset"):
        JobConfig.checked({**BASE, "rnak": 4})
    with pytest.raises(JobError, match=r"^config key 'optimizer' is 'adam': input should be 'adamw', "):
        JobConfig.checked({**BASE, "optimizer": "adam"})
    with pytest.raises(JobError, match=r"^config key 'eval_fraction' is 1: input should be less than 1"):
        JobConfig.checked({**BASE, "eval_fraction": 1})


@pytest.mark.parametrize("field, largest", [("rank", 4096), ("virtual_tokens", 4096), ("seq_len", 1_048_576),
                                            ("micro_batch", 4096), ("grad_accum", 65536), ("epochs", 1000)])
def test_the_plan_and_the_job_take_the_same_range_of_each_setting_they_share(field, largest):
    from pydantic import ValidationError

    from tunecost.planner.spec import TrainSpec

    for value, ok in ((largest, True), (largest + 1, False), (0, False)):
        spec_ok = job_ok = True
        try:
            TrainSpec(params_b=1.0, **{field: value})
        except ValidationError:
            spec_ok = False
        try:
            JobConfig.checked({**BASE, field: value, **({"max_steps": 5} if field == "epochs" else {})})
        except JobError:
            job_ok = False
        # the job takes epochs 0 beside max_steps (steps decide); the plan prices epochs, so it needs some
        assert (spec_ok, job_ok) == (ok, ok or (field == "epochs" and value == 0)), (field, value)


def test_a_sweep_value_is_checked_by_the_fields_own_type():
    assert check(1e-4, field_type("learning_rate")) == 1e-4
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        check(-1.0, field_type("learning_rate"))
    with pytest.raises(ValueError, match="finite"):
        check(float("inf"), field_type("save_minutes"))


def test_the_launcher_builds_a_job_config_the_job_reads_back_unchanged(tmp_path):
    from tunecost.launcher.backends.job_config import build_job_config, write_job_config

    from ..launcher.conftest import SINGLE

    built = build_job_config(SINGLE, run_id="r", dataset="d.jsonl", output_dir="o", price_per_hour=1.5,
                             budget_usd=3.0, offers=SINGLE.quotes[:2])
    assert isinstance(built, JobConfig) and built.optimizer is contract.Optimizer.paged_adamw_8bit
    read = load_config(["--config", str(write_job_config(built, tmp_path / "job.json"))])
    assert read == built
    local = build_job_config(SINGLE, run_id="r", dataset="d", output_dir="o", price_per_hour=0, local=True)
    assert local.optimizer is contract.DEFAULTS.optimizer  # paged states need CUDA (OPTIMIZERS' cuda_only)


def test_the_summary_records_the_config_it_ran_and_keeps_an_older_jobs_as_it_was(tmp_path, capsys):
    ran = JobConfig(**BASE, rank=4).resolve(cuda=False)
    write_summary(tmp_path, RunSummary(steps=1, config=ran))
    back = read_summary(tmp_path / "run_summary.json")
    assert back.ran == ran and back.ran.alpha == 8.0
    old = RunSummary.model_validate({"steps": 1, "config": {"method": "lora", "a_key_gone_since": 1}})
    assert old.ran is None and old.model_dump()["config"] == {"method": "lora", "a_key_gone_since": 1}
    assert json.loads(capsys.readouterr().out.split(" ", 1)[1])["config"]["rank"] == 4
