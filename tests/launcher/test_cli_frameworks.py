"""--framework on plan / estimate / launch, and `estimate` without --gpu (memory only).

The estimate for a framework is the memory model with that framework's storage (planner/model/frameworks.py); launch
runs only tunecost's own job and refuses another framework's plan with one line and exit 2, recording nothing.
"""

import json

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app
from tunecost.planner.model.frameworks import PRESETS, STACKS, stack_name
from validation.calibration import CASES
from tunecost.planner.model.memory import estimate_memory
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.spec import Framework, Method, TrainSpec

L8 = ["--model", "meta-llama/Llama-3.1-8B", "--method", "qlora"]


def run(*args):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize("framework", [f.value for f in Framework])
def test_estimate_prices_the_framework_storage(framework):
    result = run("estimate", *L8, "--framework", framework, "--gpu", "A100-80GB", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", method="qlora", framework=framework)
    assert out["memory"]["peak_gib"] == estimate_memory(spec, resolve_shape(spec)).peak_gib
    assert out["framework"] == framework
    assert any(a.startswith("framework: ") for a in out["assumptions"])


def test_frameworks_differ_where_their_storage_does():
    parts = {f: json.loads(run("estimate", *L8, "--framework", f, "--json").stdout)["memory"]["components_gib"]
             for f in ("hf", "torchtune", "litgpt")}
    # fp32 upcast of embeddings, norms, lm_head (and the residual stream)
    assert parts["hf"]["weights"] > parts["torchtune"]["weights"]
    assert parts["hf"]["activations"] > parts["torchtune"]["activations"]
    assert parts["torchtune"]["logits"] > parts["litgpt"]["logits"]  # litgpt's 16-bit chunked loss vs fp32 logits
    # (the totals also carry each framework's own fitted overhead: litgpt's 2023 QLoRA rows sit 21 % over physics)


def test_each_preset_cites_exactly_the_memory_rows_the_calibration_runs_with_its_storage():
    """checked_on = the calibration cases (memory compared) whose stack is one of the preset's, no more, no less."""
    for preset in PRESETS.values():
        assert preset.checked_on or preset.basis, preset.framework
        own = {preset.stack, preset.qlora_stack, *preset.variants} - {""}
        rows = {c.row_id for c in CASES if c.memory and c.stack in own}
        assert set(preset.checked_on) == rows, preset.framework
    assert set(STACKS) | {"tunecost"} >= {p.stack_for(m) for p in PRESETS.values() for m in Method}


def test_plan_saves_the_framework_in_the_spec(tmp_path):
    path = tmp_path / "plan.json"
    result = run("plan", *L8, "--framework", "torchtune", "--save", str(path), "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(path.read_text())
    assert plan["spec"]["framework"] == "torchtune"
    spec = TrainSpec(**{**plan["spec"]})
    assert plan["chosen"]["peak_gib_per_gpu"] == pytest.approx(
        estimate_memory(spec, resolve_shape(spec), plan["chosen"]["offer"]["gpu_count"],
                        plan["chosen"]["parallelism"]).peak_gib, abs=0.01)
    assert stack_name(spec.framework, spec.method) == "torchtune"


def test_launch_refuses_another_frameworks_plan_in_one_line(tmp_path):
    path, data = tmp_path / "plan.json", tmp_path / "train.jsonl"
    data.write_text('{"text": "hello"}\n')
    assert run("plan", *L8, "--framework", "litgpt", "--save", str(path), "--json").exit_code == 0
    result = run("launch", str(path), "--dataset", str(data), "--dry-run")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "runs only its own job, not litgpt" in lines[0] and "--framework tunecost" in lines[0]
    assert not (tmp_path / "home" / "ledger.db").exists()


def test_launch_refuses_another_framework_from_flags():
    result = run("launch", "--model", "tiny", "--method", "lora", "--framework", "torchtune", "--local",
                 "--dataset", "demo")
    assert result.exit_code == 2
    assert "--framework torchtune: `tunecost launch` runs only its own job" in result.output


def test_estimate_without_gpu_prints_the_memory_breakdown():
    result = run("estimate", *L8, "--framework", "torchtune")
    assert result.exit_code == 0, result.output
    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", method="qlora", framework="torchtune")
    memory = estimate_memory(spec, resolve_shape(spec))
    assert f"Memory per GPU: {memory.peak_gib:.2f} GiB peak" in result.stdout
    for component, gib in memory.components_gib.items():
        assert f"{component.replace('_', ' ')}" in result.stdout and f"{gib:.2f}" in result.stdout
    assert "tokens/s" not in result.stdout and "memory only" in result.stdout


def test_estimate_without_gpu_json_has_memory_and_no_speed():
    out = json.loads(run("estimate", *L8, "--gpus", "2", "--json").stdout)
    assert out["gpu"] is None and out["speed"] is None and out["hours"] is None and out["fits"] is None
    assert out["parallelism"] == "fsdp" and out["memory"]["peak_gib"] > 0
    assert any("no --gpu: FSDP over 2 GPUs" in a for a in out["assumptions"])
    ddp = json.loads(run("estimate", *L8, "--gpus", "2", "--parallelism", "ddp", "--json").stdout)
    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", method="qlora")
    assert ddp["parallelism"] == "ddp"
    assert ddp["memory"]["peak_gib"] == estimate_memory(spec, resolve_shape(spec), 2, "ddp").peak_gib
