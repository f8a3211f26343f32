"""benchmarks/gpu_truth.py on CPU: the job's own model building, PEFT and training step on a random-weight model of
the SmolLM2-135M catalog shape, beside the planner's estimate for the same spec. The only boundary: CPU instead of
a GPU (no CUDA allocator, so no memory figures; the GPU run records them). Shortened to seq 32 and one step so it
runs in seconds; `python benchmarks/gpu_truth.py` alone runs the full CPU configuration (seq 512)."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_truth.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_truth", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # ~40 s of CPU: a 135M-parameter model is built, saved, loaded and trained
@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path; on a GPU run the script itself")
def test_gpu_truth_runs_the_jobs_step_and_prints_it_beside_the_planner(tmp_path, capsys):
    gpu_truth = _load()
    out = tmp_path / "truth.json"
    assert gpu_truth.main(["--config", "HuggingFaceTB/SmolLM2-135M,lora,32,1", "--steps", "2", "--warmup", "0",
                           "--json", str(out), "--cache", str(tmp_path / "cache")]) == 0
    report = json.loads(out.read_text())
    (row,) = report["results"]
    measured, planner = row["measured"], row["planner"]
    assert measured["steps"] == 2 and measured["tokens_per_sec"] > 0
    assert math.isfinite(measured["loss"]) and abs(measured["loss"] - math.log(49152)) < 1.0  # random weights
    assert measured["allocated_gib"] is None and report["planner_gpu"] is None  # CPU: no allocator statistics
    assert measured["trainable_params"] == planner["trainable_params"] > 0  # the job's PEFT model = the plan's
    assert planner["allocated_gib"] > 0 and set(planner["components_gib"]) >= {"weights", "activations"}
    printed = capsys.readouterr().out
    assert "| SmolLM2-135M | lora | 32 | 1 |" in printed and printed.rstrip().splitlines()[-1].startswith("GPU_TRUTH ")
    assert (tmp_path / "cache" / "HuggingFaceTB--SmolLM2-135M" / "config.json").is_file()


def test_gpu_configurations_fit_the_issue_budget():
    """qlora/lora/full x seq 512, 2048 x batch 1, 4 for three models, 8B full left out; the CPU runs one."""
    gpu_truth = _load()
    configs = gpu_truth.configurations(cuda=True)
    assert len(configs) == 3 * 3 * 4 - 4
    assert ("meta-llama/Llama-3.1-8B", "full", 2048, 4) not in configs
    assert gpu_truth.configurations(cuda=False) == [gpu_truth.CPU_CONFIG]
