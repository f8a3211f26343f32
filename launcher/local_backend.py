"""Run the training job on this machine: same job config as on a VM, a subprocess, the ledger kept in step.

WHY a subprocess (not an import): the job owns its signals, memory and exit code exactly as on a VM, and torchrun
can fan it out to several processes. Ctrl-C (or SIGTERM) is forwarded once: the job saves a checkpoint and exits,
the run is marked "stopped", and `tunecost launch --local --resume RUN_ID` continues it in the same folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

from tunecost.job.checkpoints import newest_complete
from tunecost.job.config import HUB_ID, model_folder_problem
from tunecost.launcher.job_config import CONFIG_NAME, build_job_config, write_job_config
from tunecost.launcher.job_output import OutputScanner
from tunecost.launcher.ledger import Ledger, new_run_id, now
from tunecost.launcher.local_estimate import estimate_local
from tunecost.launcher.run_record import RunRecord
from tunecost.planner.errors import UserError

Echo = Callable[[str], None]
# The job's own names for models it builds locally -> the catalog model they are ('tiny' has no catalog shape).
JOB_MODEL_IDS = {"smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def run_dir(ledger: Ledger, run_id: str) -> Path:
    """$TUNECOST_HOME/runs/<id>: the job config, and output/ with checkpoints, adapter and run_summary.json."""
    return ledger.home / "runs" / run_id


def rate_note(rate: float, given: bool) -> str:
    if given:
        return f"--rate {rate:g} USD/h (given for this local run)"
    return "local run priced at 0 USD/h: --rate not given"


def estimated_peak_gib(plan: dict[str, Any], model: Optional[str] = None) -> Optional[float]:
    """The planner's peak GiB for one process of this run (hardware-independent, so it holds on this machine too).

    Computed from the spec for one process, not read from the plan: the plan's figure is per GPU of the cloud
    topology it chose (an FSDP shard, or with a factor learned on that GPU). None when the trained model has no
    known shape (the job's 'tiny'), so the report says "no estimate" rather than compare against a wrong one.
    """
    from pydantic import ValidationError

    from tunecost.planner.memory import estimate_memory
    from tunecost.planner.shapes import resolve_shape
    from tunecost.planner.spec import TrainSpec

    fields = dict(plan.get("spec") or {})
    if model:
        fields.update(model=JOB_MODEL_IDS.get(model, model), params_b=None)
    try:
        spec = TrainSpec.model_validate(fields)
        return round(estimate_memory(spec, resolve_shape(spec)).peak_gib, 3)
    except (UserError, ValidationError):
        return None


def hub_model_problem(name: str) -> Optional[str]:
    """Why a hub id cannot be loaded on this machine (None when it can, or is no hub id): one look in the local
    cache, then one hub request, instead of the job's from_pretrained retrying for minutes after the run began."""
    if not HUB_ID.fullmatch(name) or Path(name).exists():
        return None
    try:
        from huggingface_hub import HfApi, try_to_load_from_cache
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    except ImportError:  # the job's dependencies are missing: the job says so itself
        return None
    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return (f"{name}: not in the local Hugging Face cache and HF_HUB_OFFLINE is set; download it first "
                "(huggingface-cli download) or pass a local folder")
    try:
        HfApi().model_info(name, timeout=10, token=os.environ.get("HF_TOKEN") or None)
    except GatedRepoError:
        return None if os.environ.get("HF_TOKEN") else f"{name}: a gated model; set HF_TOKEN to a token with access"
    except RepositoryNotFoundError:
        return f"{name}: no such model on the Hugging Face hub (or it is private: set HF_TOKEN)"
    except Exception as err:  # network: no DNS, proxy, timeout
        return (f"{name}: not in the local Hugging Face cache and the hub cannot be reached "
                f"({type(err).__name__}); download it first or pass a local folder")
    return None


def start_local(plan: dict[str, Any], *, dataset: str, ledger: Ledger, echo: Echo, model: Optional[str] = None,
                rate: Optional[float] = None, budget_usd: Optional[float] = None, nproc: int = 1, tag: str = "",
                overrides: Optional[dict[str, Any]] = None, run_id: Optional[str] = None,
                sweep: Optional[dict[str, Any]] = None) -> RunRecord:
    """Write the job config for a new run, record it, and run it to the end (or until interrupted).
    `sweep`: the sweep_id / sweep_point / sweep_params fields of a sweep's run.

    The record gets the planner's peak memory and its hours for this machine (the CPU speed model on a probe of
    this machine, launcher/local_estimate.py), not the plan's quote, which is for a cloud GPU."""
    run_id = run_id or new_run_id()
    folder = run_dir(ledger, run_id)
    price = float(rate or 0.0)
    config = build_job_config(plan, run_id=run_id, dataset=dataset, output_dir=str(folder / "output"),
                              price_per_hour=price, budget_usd=budget_usd if price > 0 else None, model=model,
                              local=True, overrides=overrides)
    problem = model_folder_problem(config["model"]) or hub_model_problem(config["model"])
    if problem:  # before anything is written: a bad --model is not a failed run
        raise UserError(f"--model {problem}" if problem.startswith(config["model"]) else f"--model: {problem}")
    write_job_config(config, folder / CONFIG_NAME)
    hours = estimate_local(plan, config, JOB_MODEL_IDS.get(config["model"], config["model"]), ledger.home)
    if hours is not None:
        echo(f"estimated {hours.hours * 60:.1f} min on this machine ({hours.step_seconds:.2f} s per step)")
    record = ledger.create(RunRecord(
        id=run_id, status="pending", backend="local", created_at=now(), tag=tag, provider="local",
        instance_type="this machine", gpu_count=nproc, price_per_hour=price, method=config.get("method", ""),
        model=config["model"], plan=plan, output_dir=str(folder / "output"), budget_usd=budget_usd,
        rate_source=rate_note(price, rate is not None), estimated_peak_gib=estimated_peak_gib(plan, model),
        estimated_hours=hours.hours if hours else None, estimated_cost=hours.hours * price if hours else None,
        **(sweep or {}),
    ))
    return _run(record, ledger, echo, nproc=nproc, note="started")


def resume_local(run_id: str, *, ledger: Ledger, echo: Echo, nproc: Optional[int] = None) -> RunRecord:
    """Continue a stopped (or failed) local run: same run id, same output folder, newest complete checkpoint."""
    record = ledger.get(run_id)
    if record.backend != "local":
        raise UserError(f"run '{run_id}' ran on {record.backend}; --resume continues local runs only")
    if record.status not in ("stopped", "failed"):
        raise UserError(f"run '{run_id}' is {record.status}; only a stopped or failed run can be resumed")
    if not (run_dir(ledger, run_id) / CONFIG_NAME).is_file():
        raise UserError(f"run '{run_id}' has no job config in {run_dir(ledger, run_id)}; it cannot be resumed")
    return _run(record, ledger, echo, nproc=nproc or max(record.gpu_count, 1), note="resumed")


def _command(config: Path, nproc: int) -> list[str]:
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                "-m", "tunecost.job.train", "--config", str(config)]
    return [sys.executable, "-m", "tunecost.job.train", "--config", str(config)]


def _checkpoint_step(output_dir: Path) -> Optional[int]:
    newest = newest_complete(output_dir)
    return int(newest.name.rsplit("-", 1)[1]) if newest is not None else None


def _run(record: RunRecord, ledger: Ledger, echo: Echo, *, nproc: int, note: str) -> RunRecord:
    """One process of the run: start, stream, forward signals, then record the outcome in one update."""
    folder = run_dir(ledger, record.id)
    resume_step = _checkpoint_step(folder / "output")
    if resume_step is not None:
        note = f"{note} from checkpoint step {resume_step}"
    ledger.set_status(record.id, "running", note)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    scanner = OutputScanner(echo=echo)
    signals: list[int] = []
    started = time.monotonic()
    proc = subprocess.Popen(_command(folder / CONFIG_NAME, nproc), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1, env=env, start_new_session=True)

    def forward(signum: int, _frame: Any) -> None:
        # First signal: the job saves a checkpoint and exits. A second one kills it (the last checkpoint stays).
        signals.append(signum)
        if len(signals) == 1:
            echo("stopping: the job saves a checkpoint, then exits (interrupt again to kill it now)")
        _signal_group(proc, signum if len(signals) == 1 else signal.SIGKILL)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            scanner.feed(line)
        scanner.close()
        code = proc.wait()
    except BaseException as err:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
        ledger.set_status(record.id, "failed", f"launcher error: {type(err).__name__}: {err}"[:300])
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    hours = (time.monotonic() - started) / 3600
    return _record_outcome(record, ledger, scanner, code, hours, bool(signals), resume_step)


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def _record_outcome(record: RunRecord, ledger: Ledger, scanner: OutputScanner, code: int, hours: float,
                    interrupted: bool, resume_step: Optional[int]) -> RunRecord:
    current = ledger.get(record.id)
    summary = scanner.summary or {}
    reason = summary.get("stop_reason")
    if reason == "sigterm" or (interrupted and code != 0):
        status, note = "stopped", f"interrupted; checkpointed at step {summary.get('steps', '?')}; " \
                                  f"continue with: tunecost launch --local --resume {record.id}"
    elif code == 0 and reason == "budget":
        status, note = "stopped", f"budget guard stopped the job at ${summary.get('cost_usd', 0):.2f}"
    elif code == 0:
        status, note = "succeeded", f"stop_reason {reason}"
    else:
        status, note = "failed", f"job exited {code}: {scanner.last_error()}"
    actual_hours = (current.actual_hours or 0.0) + hours
    resumes = list(current.resumes) + ([resume_step] if resume_step is not None else [])
    ledger.set_status(record.id, status, note, actual_hours=actual_hours,
                      actual_cost=actual_hours * current.price_per_hour, resumes=resumes,
                      summary=summary or current.summary, gpu=summary.get("device") or current.gpu)
    return ledger.get(record.id)
