"""`tunecost launch --local`: the real job (tiny model) run by the real CLI, recorded in the ledger; interrupted
with SIGINT to the launcher, then resumed as the same run; budget refusal and bad input as one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tunecost.launcher.reports.cost_summary import summarize
from tunecost.launcher.views.summary_view import summary_rows
from tunecost.launcher.ledger.store import Ledger
from tunecost.planner.local_quote import plan_local, quote_local
from tunecost.planner.model.memory import MemoryEstimate, estimate_memory
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.spec import Parallelism, TrainSpec

from .conftest import MULTI_NODE, OPTIMIZED, SINGLE

TUNECOST = [sys.executable, "-c", "from tunecost.launcher.cli import main; main()"]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "TUNECOST_HOME": str(home), "HF_TOKEN": "secret-value", "PYTHONUNBUFFERED": "1"}


def _launch(args: list[str], home: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run(TUNECOST + ["launch", *args], env=_env(home), capture_output=True, text=True,
                          timeout=timeout)


def _tiny_folder(target: Path) -> Path:
    """The job's tiny Llama saved as a plain HF folder (config.json + weights), built in a child process."""
    subprocess.run([sys.executable, "-c", "import sys; from tunecost.job.tiny import build_tiny; "
                    "build_tiny(sys.argv[1])", str(target)], check=True, capture_output=True, timeout=120)
    return target


def _planner_peak(spec: TrainSpec, model: str) -> float:
    shaped = spec.with_model(model)
    return estimate_memory(shaped, resolve_shape(shaped)).peak_gib


@pytest.mark.slow  # a real training run
def test_local_tiny_run_records_actual_cost_and_job_summary(tmp_path, write_plan):
    """From a real plan (the optimizer's, chosen: a gcp T4): the run records the planner's one-process peak for
    the model it trains (a folder with config.json), hours for this machine (CPU probe + speed model, not the
    plan's T4 quote), and its summary says this machine."""
    home, model = tmp_path / "home", _tiny_folder(tmp_path / "tiny-model")
    result = _launch(["--local", str(write_plan(OPTIMIZED)), "--model", str(model), "--dataset", "demo",
                      "--max-steps", "6", "--save-steps", "3", "--rate", "1.5", "--tag", "t1"], home)
    assert result.returncode == 0, result.stderr[-2000:]
    [run] = Ledger(home).list()
    assert run.status == "succeeded" and run.backend == "local" and run.tag == "t1"
    assert run.summary.steps == 6 and run.summary.stop_reason == "max_steps"
    assert run.summary.run_id == run.id and run.model == str(model)
    assert run.estimated_peak_gib == pytest.approx(_planner_peak(OPTIMIZED.spec, str(model)), abs=1e-3)
    assert run.estimated_peak_gib != OPTIMIZED.chosen.peak_gib_per_gpu
    assert 0 < run.estimated_hours < 0.1 and run.estimated_hours != OPTIMIZED.chosen.hours
    assert run.estimated_cost == pytest.approx(run.estimated_hours * 1.5)
    assert (home / "cpu_probe.json").is_file()  # the probe is cached for the next local run
    s = summarize(run)
    assert s.estimated_hours == run.estimated_hours and s.hours_diff is not None
    assert s.offer.region == "" and s.offer.gpu == run.offer.gpu and s.offer.gpu.startswith("cpu")  # not the plan's gcp us-central1 T4
    assert s.estimated_peak_gib == run.estimated_peak_gib and s.peak_memory_gib > 0
    rows = dict(summary_rows(s))
    assert "where" not in rows and "this machine" in rows["hardware"]  # the title says local; where is the hardware
    assert "billed" not in rows and rows["ran"].startswith(f"{s.actual_seconds:,.0f} s")  # billed per second: as ran
    assert rows["estimated"].startswith(f"{run.estimated_hours:.4f} h")
    printed = result.stdout.split("its bill, estimate vs actual")[0].rsplit("\nrun ", 1)[1]  # launch's outcome lines
    assert "T4" not in printed and "gcp" not in printed and f"{run.id} succeeded: 6 steps" in printed
    assert 0 < run.actual_hours < 0.1
    assert run.actual_cost == run.actual_hours * 1.5 and run.rate == 1.5
    assert "--rate 1.5" in run.rate_source
    assert [h.status for h in run.history] == ["pending", "running", "succeeded"]
    assert (home / "runs" / run.id / "output" / "adapter").is_dir()
    assert "Cost summary" not in result.stdout  # the bill is `tunecost report`'s: printed once, there
    assert f"tunecost report {run.id}" in result.stdout
    assert b"secret-value" not in (home / "ledger.sqlite").read_bytes()


def _peak(plan, model=None) -> float:
    local = quote_local(plan, lambda: None, model=model)
    return local.peak_gib if local else None


def test_local_peak_estimate_is_one_process_of_the_model_the_run_trains(tmp_path):
    tiny = _tiny_folder(tmp_path / "tiny-model")  # the job's tiny model is shaped from the contract, as built
    assert _peak(SINGLE, "tiny") == pytest.approx(_planner_peak(SINGLE.spec, str(tiny)), abs=1e-3)
    smol = _planner_peak(SINGLE.spec, "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert _peak(SINGLE, "smollm2") == pytest.approx(smol, abs=1e-3)  # the job's name for it
    spec = MULTI_NODE.spec
    shard = estimate_memory(spec, resolve_shape(spec), gpu_count=16, parallelism=Parallelism.fsdp).peak_gib
    sharded = MemoryEstimate(peak_gib=shard, components_gib={}, trainable_params=0, assumptions=[])
    one = _peak(MULTI_NODE.model_copy(update={"memory": sharded}))
    assert one == pytest.approx(estimate_memory(spec, resolve_shape(spec)).peak_gib, abs=1e-3) and one > 4 * shard


def test_the_local_quote_probes_only_when_it_can_count_steps_and_once_for_a_sweep():
    """The probe takes seconds: no example count, no probe; a sweep's points share one."""
    from tunecost.planner.model.cpu_speed import CpuProbe
    from tunecost.planner.spec import DatasetSize
    from tunecost.planner.sweep import unpriced_sweep

    probe = CpuProbe(matmul_gflops=50.0, op_seconds=2e-5, copy_gb_s=5.0, import_seconds=4.0, threads=2,
                     machine="test", measured_at="2026-12-01T00:00:00+00:00")
    calls: list[int] = []

    def probed():
        calls.append(1)
        return probe

    uncounted = SINGLE.model_copy(update={"spec": SINGLE.spec.model_copy(update={
        "dataset": DatasetSize(tokens_per_epoch=6400, source="given")})})
    assert quote_local(uncounted, probed, model="tiny").estimate is None and not calls
    counted = SINGLE.spec.model_copy(update={"dataset": DatasetSize(tokens_per_epoch=6400, examples=320)})
    points = [({"rank": r}, counted.model_copy(update={"rank": r})) for r in (4, 8)]
    swept = plan_local(unpriced_sweep(points), probed, model="tiny", max_steps=3)
    quotes = [p.local for p in swept.sweep.points]
    assert len(calls) == 1 and all(q.estimate and q.estimate.hours > 0 for q in quotes)
    assert swept.point(swept.sweep.points[1]).local == quotes[1] and quotes[0] != quotes[1]


@pytest.mark.parametrize("model", ["tiny", "smollm2"])
def test_a_local_run_from_flags_alone_of_the_jobs_own_model_gets_an_hours_estimate_given_a_fixed_probe(model):
    """`launch --local --model tiny --dataset demo` (no plan file) plans a spec that names the job's model; the
    quote resolves it as the job builds it (was: "no known shape", no estimate). The probe is a fixed CpuProbe: the
    boundary replaced is this CPU's measurement only."""
    from tunecost.planner.model.cpu_speed import CpuProbe
    from tunecost.planner.plan import PLAN_SCHEMA, Plan
    from tunecost.planner.spec import DatasetSize, TrainSpec

    probe = CpuProbe(matmul_gflops=50.0, op_seconds=2e-5, copy_gb_s=5.0, import_seconds=4.0, threads=2,
                     machine="test", measured_at="2026-12-01T00:00:00+00:00")
    spec = TrainSpec(model=model, dataset=DatasetSize(tokens_per_epoch=6400, examples=320))
    quote = quote_local(Plan(schema_version=PLAN_SCHEMA, spec=spec), lambda: probe, max_steps=3)
    assert quote.model == model and quote.estimate is not None and quote.estimate.hours > 0
    from tunecost.job.contract import TINY_CONFIG
    from tunecost.planner.model.shapes import shape_from_config

    shape = shape_from_config(TINY_CONFIG, "tiny") if model == "tiny" else \
        resolve_shape(spec.with_model("HuggingFaceTB/SmolLM2-135M-Instruct"))
    assert quote.peak_gib == pytest.approx(estimate_memory(spec, shape).peak_gib, abs=1e-3)  # the job's own model


@pytest.mark.slow  # probes this CPU
def test_a_local_run_of_the_tiny_model_gets_an_hours_estimate(tmp_path):
    from tunecost.launcher.backends.cpu_probe import cpu_probe
    from tunecost.planner.spec import DatasetSize

    spec = SINGLE.spec.model_copy(update={"dataset": DatasetSize(tokens_per_epoch=6400, examples=320)})
    plan = SINGLE.model_copy(update={"spec": spec})
    quoted = plan_local(plan, lambda: cpu_probe(tmp_path / "home"), model="tiny", max_steps=3)
    hours = quoted.local.estimate  # was None: "no known shape"
    assert hours is not None and hours.hours > 0 and hours.step_seconds > 0


def _wait_for(proc: subprocess.Popen, text: str, timeout: float) -> str:
    seen, deadline = "", time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"never saw {text!r}; output:\n{seen[-2000:]}")


@pytest.mark.slow  # a real training run
def test_sigint_stops_with_a_checkpoint_and_resume_continues_the_same_run(tmp_path, write_plan):
    home = tmp_path / "home"
    proc = subprocess.Popen(TUNECOST + ["launch", "--local", str(write_plan(SINGLE)), "--model", "tiny",
                                        "--dataset", "demo", "--max-steps", "20", "--save-steps", "100"],
                            env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(proc, "step 10/20", timeout=180)
        proc.send_signal(signal.SIGINT)  # to the launcher, as Ctrl-C would
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out[-2000:]  # stopped: not 0, so a script can tell it from finished
    [run] = Ledger(home).list()
    assert run.status == "stopped", run.history
    assert run.summary.stop_reason == "sigterm"
    stopped_at = run.summary.steps
    assert 10 <= stopped_at < 20
    assert f"--resume {run.id}" in run.history[-1].note
    first_hours = run.actual_hours

    result = _launch(["--local", "--resume", run.id], home)
    assert result.returncode == 0, result.stderr[-2000:]
    [resumed] = Ledger(home).list()  # still one run
    assert resumed.id == run.id and resumed.status == "succeeded"
    assert resumed.resumes == [stopped_at]
    assert resumed.summary.resumed_from == [stopped_at] and resumed.summary.steps == 20
    assert resumed.actual_hours > first_hours
    assert [h.status for h in resumed.history] == ["pending", "running", "stopped", "running", "succeeded"]
    assert f"from checkpoint step {stopped_at}" in resumed.history[3].note


def test_budget_below_the_estimate_is_refused_and_nothing_is_written(tmp_path, write_plan):
    home = tmp_path / "home"
    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    result = _launch([str(write_plan(SINGLE)), "--dataset", str(dataset), "--budget", "1"], home, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: the plan's estimate $2.38 exceeds --budget $1.00; raise --budget or re-plan within it "
        "(tunecost plan ... --budget 1)"]
    assert Ledger(home).list() == [] and not (home / "runs").exists()


def test_resume_of_unknown_run_is_one_line(tmp_path):
    result = _launch(["--local", "--resume", "tc-nope"], tmp_path / "home", timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no run 'tc-nope'; see tunecost runs"


def test_missing_plan_file_is_one_line(tmp_path):
    result = _launch([str(tmp_path / "nope.json"), "--dataset", "demo", "--local"], tmp_path / "home", timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: plan file ") and len(result.stderr.strip().splitlines()) == 1


def test_incomplete_model_folder_is_one_line_and_nothing_is_recorded(tmp_path, write_plan):
    """A folder with config.json but no weights or tokenizer (a half-finished copy) is refused before a run exists."""
    folder = tmp_path / "half-copied"
    folder.mkdir()
    (folder / "config.json").write_text((_tiny_folder(tmp_path / "tiny") / "config.json").read_text())
    home = tmp_path / "home"
    result = _launch(["--local", str(write_plan(SINGLE)), "--model", str(folder), "--dataset", "demo"], home,
                     timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: --model: model folder {folder} has no weights (*.safetensors or pytorch_model*.bin) and no "
        "tokenizer (tokenizer.json, tokenizer.model or vocab.json); save the model and its tokenizer there with "
        "save_pretrained (or pass tiny / smollm2)"]
    assert Ledger(home).list() == [] and not (home / "runs").exists()


@pytest.mark.slow  # a real training run
def test_a_job_that_fails_exits_1_and_is_recorded_failed_with_its_reason(tmp_path, write_plan):
    """Rows the launcher accepts (well-formed) but the job cannot train on: every completion is cut off by the
    plan's seq_len (64 tokens). The job says so in one line; the launcher records the run as failed with that line
    and exits 1. (A hub model that cannot be fetched is now refused before the run: test_launch_bad_input.py.)"""
    home = tmp_path / "home"
    dataset = tmp_path / "long.jsonl"
    dataset.write_text(json.dumps({"prompt": "convert " * 200, "completion": "5 km = 5000 m"}) + "\n")
    result = subprocess.run(TUNECOST + ["launch", "--local", str(write_plan(SINGLE)), "--model", "tiny",
                                        "--dataset", str(dataset), "--max-steps", "2"],
                            env=_env(home), capture_output=True, text=True, timeout=240)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    [run] = Ledger(home).list()
    assert run.status == "failed" and run.model == "tiny"
    assert "every example lost its completion to truncation" in run.history[-1].note
    assert f"run {run.id} failed" in result.stdout and f"why: {run.history[-1].note}" in result.stdout  # and why
