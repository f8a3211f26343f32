"""Run the training job on this machine: same job config as on a VM, a subprocess, the ledger kept in step.

WHY a subprocess (not an import): the job owns its signals, memory and exit code exactly as on a VM, and torchrun
can fan it out to several processes. Ctrl-C (or SIGTERM) is forwarded once: the job saves a checkpoint and exits,
the run is marked "stopped", and `tunecost launch --local --resume RUN_ID` continues it in the same folder.
"""

from __future__ import annotations

import codecs
import errno
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from tunecost.job.atomic import sweep_temps
from tunecost.job.config import HUB_ID, model_folder_problem
from tunecost.launcher.backends.job_config import build_job_config, check_with_the_job, write_job_config
from tunecost.launcher.backends.cpu_probe import save_probe
from tunecost.launcher.backends.job_output import OutputScanner
from tunecost.launcher.backends.staging import staging
from tunecost.launcher.ledger.liveness import Session, live_pids, proc, summary_since, write_session
from tunecost.launcher.ledger.reconcile import checkpoint_step, reconcile, record_outcome
from tunecost.launcher.ledger.run_folder import RunFolder
from tunecost.launcher.ledger.run_record import RunRecord, local_offer
from tunecost.launcher.ledger.run_status import RunStatus
from tunecost.launcher.ledger.store import Ledger, now
from tunecost.planner.errors import UserError
from tunecost.planner.plan import Plan

Echo = Callable[[str], None]


def rate_note(rate: float, given: bool) -> str:
    if given:
        return f"--rate {rate:g} USD/h (given for this local run)"
    return "local run priced at 0 USD/h: --rate not given"


def check_job_model(name: str) -> None:
    """UserError when the job cannot load `name` here: a bad --model is bad input, not a failed run."""
    problem = model_folder_problem(name) or hub_model_problem(name)
    if problem:
        raise UserError(f"--model {problem}" if problem.startswith(name) else f"--model: {problem}")


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


def start_local(plan: Plan, *, dataset: str, ledger: Ledger, echo: Echo, model: Optional[str] = None,
                rate: Optional[float] = None, budget_usd: Optional[float] = None, nproc: int = 1, tag: str = "",
                overrides: Optional[dict[str, Any]] = None, run_id: Optional[str] = None,
                sweep: Optional[dict[str, Any]] = None) -> RunRecord:
    """Write the job config for a new run, record it, and run it to the end (or until interrupted).
    `sweep`: the sweep_id / sweep_point / sweep_params fields of a sweep's run.

    The record gets the plan's quote for this machine (`plan.local`, planner/local_quote.py: one process's peak
    memory, hours from the CPU speed model on this machine's probe), not its cloud quote; without one, none."""
    run_id = run_id or ledger.new_run_id()
    local = plan.local
    hours = local.estimate if local else None
    folder = RunFolder.of(ledger.home, run_id)
    price = float(rate or 0.0)
    config = build_job_config(plan, run_id=run_id, dataset=dataset, output_dir=str(folder.output),
                              price_per_hour=price, budget_usd=budget_usd if price > 0 else None, model=model,
                              local=True, overrides=overrides)
    check_job_model(config.model)  # before anything is written
    with _staging(folder.path):
        write_job_config(config, folder.config)
        if local and local.probe:  # measured for this quote: kept for the next run, taken back if this one is refused
            save_probe(ledger.home, local.probe)
        write_session(folder, Session(launcher=proc(), began=time.time()))  # a launcher killed from here on is seen
        record = ledger.create(RunRecord(
            id=run_id, status=RunStatus.PENDING, backend="local", created_at=now(), tag=tag,
            offer=local_offer(price, gpus=nproc), method=config.method.value,
            model=config.model, plan=plan, output_dir=str(folder.output), budget_usd=budget_usd,
            rate_source=rate_note(price, rate is not None), estimated_peak_gib=local.peak_gib if local else None,
            estimated_hours=hours.hours if hours else None, estimated_cost=hours.hours * price if hours else None,
            **(sweep or {}),
        ))
    if hours is not None:
        echo(f"estimated {hours.hours * 60:.1f} min on this machine ({hours.step_seconds:.2f} s per step)")
    return _run(record, ledger, echo, nproc=nproc, note="started", expect=(RunStatus.PENDING,))


@contextmanager
def _staging(folder: Path) -> Iterator[None]:
    """The new run's folder (backends/staging.py), all taken back if the run is not recorded; a refused write is
    one line naming the disk or the permissions. The folder is new: its id was drawn free of folders and records
    (Ledger.new_run_id)."""
    try:
        with staging(folder):
            yield
    except OSError as err:
        fix = "free some space" if err.errno in (errno.ENOSPC, errno.EDQUOT) else "fix its permissions"
        raise UserError(f"cannot write the run folder {folder} ({err.strerror or err}); nothing was recorded. "
                        f"{fix.capitalize()}, or set TUNECOST_HOME to another folder") from None


RESUME_OVERRIDES = ("max_steps", "save_steps")  # what a resume may change: when to stop and to save, not what trains


def resume_local(run_id: str, *, ledger: Ledger, echo: Echo, nproc: Optional[int] = None,
                 overrides: Optional[dict[str, Any]] = None) -> RunRecord:
    """Continue a stopped (or failed) local run: same run id, same output folder, newest complete checkpoint.
    A run whose launcher died is reconciled first, so it can be resumed too. `overrides` (RESUME_OVERRIDES keys,
    None for unchanged) go into its job config first: `--max-steps N` trains the run to step N."""
    record = ledger.get(run_id)
    if record.backend != "local":
        raise UserError(f"run '{run_id}' ran on {record.backend}; --resume continues local runs only")
    reconcile(ledger)
    record = ledger.get(run_id)
    if record.status in (RunStatus.PENDING, RunStatus.RUNNING):
        raise UserError(f"run '{run_id}' is still running (its launcher or job process is alive); wait for it, "
                        f"or stop it with `tunecost stop {run_id}`")
    if record.status not in (RunStatus.STOPPED, RunStatus.FAILED):
        raise UserError(f"run '{run_id}' is {record.status}; only a stopped or failed run can be resumed")
    folder = RunFolder.of(ledger.home, run_id)
    if not folder.config.is_file():
        raise UserError(f"run '{run_id}' has no job config in {folder.path}; it cannot be resumed")
    alive = live_pids(folder)
    if alive:  # the ledger says it ended, but a process still trains in its folder: never start a second one
        raise UserError(f"run '{run_id}' is {record.status} in the ledger, but its job still runs (pid "
                        f"{', '.join(map(str, alive))}); stop it first with `tunecost stop {run_id}`")
    changed = _override_config(run_id, folder, {k: v for k, v in (overrides or {}).items() if v is not None})
    return _run(record, ledger, echo, nproc=nproc or (record.offer.gpu_count if record.offer else 1), note="resumed",
                also=changed,
                expect=(RunStatus.STOPPED, RunStatus.FAILED))


def _override_config(run_id: str, folder: RunFolder, overrides: dict[str, Any]) -> str:
    """Write `overrides` into the run's job config (checked by the job's own rules first); returns the note for
    the history, e.g. " with max_steps 300 -> 500". A step target below the newest checkpoint is refused: those
    steps are trained already, and the run cannot be made shorter than it is."""
    from tunecost.job.numbers import loads

    unknown = set(overrides) - set(RESUME_OVERRIDES)
    assert not unknown, f"a resume cannot change {unknown}"
    if not overrides:
        return ""
    path = folder.config
    try:
        config = loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"run '{run_id}': its job config {path} cannot be read ({err}); resume it without "
                        f"{', '.join('--' + k.replace('_', '-') for k in overrides)}") from None
    done = checkpoint_step(folder)
    target = overrides.get("max_steps")
    if target is not None and done is not None and target < done:
        planned = config.get("max_steps", -1)
        keep = f"train to step {planned}" if planned > 0 else "train its epochs"
        raise UserError(f"--max-steps {target}: run '{run_id}' is checkpointed at step {done} already; give "
                        f"--max-steps {done} or more, or leave it out to {keep}")
    changes = {k: v for k, v in overrides.items() if config.get(k) != v}
    if not changes:
        return ""
    write_job_config(check_with_the_job({**config, **changes}), path)
    return " with " + ", ".join(f"{k} {config.get(k, 'unset')} -> {v}" for k, v in changes.items())


def _command(config: Path, nproc: int) -> list[str]:
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
                "-m", "tunecost.job.train", "--config", str(config)]
    return [sys.executable, "-m", "tunecost.job.train", "--config", str(config)]


def _run(record: RunRecord, ledger: Ledger, echo: Echo, *, nproc: int, note: str, also: str = "",
         expect: tuple[RunStatus, ...] = (RunStatus.PENDING,)) -> RunRecord:
    """One process of the run: start, follow its log, forward signals, then record the outcome in one update.

    The job writes to runs/<id>/job.log, not to a pipe, and runs in its own session: if this launcher dies the
    job carries on to its end, and alive.json lets `runs` tell (reconcile)."""
    folder = RunFolder.of(ledger.home, record.id)
    for place in (folder.path, folder.output, *folder.output.glob("checkpoint-*/")):
        sweep_temps(place)  # temp files of writers killed mid-write (a dead pid's only)
    resume_step = checkpoint_step(folder)
    if resume_step is not None:
        note = f"{note} from checkpoint step {resume_step}"
    note += also
    session = Session(launcher=proc(), began=time.time(), resume_step=resume_step)
    write_session(folder, session)
    if not ledger.set_status(record.id, RunStatus.RUNNING, note, expect=expect):
        raise UserError(f"run '{record.id}' was started by another launcher meanwhile; see tunecost runs")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    scanner = OutputScanner(echo=echo)
    signals: list[int] = []
    log = folder.log
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as sink:
        proc_ = subprocess.Popen(_command(folder.config, nproc), stdout=sink, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    write_session(folder, session.model_copy(update={"job": proc(proc_.pid)}))

    def forward(signum: int, _frame: Any) -> None:
        # First signal: the job saves a checkpoint and exits. A second one kills it (the last checkpoint stays).
        signals.append(signum)
        if len(signals) == 1:
            echo("stopping: the job saves a checkpoint, then exits (interrupt again to kill it now)")
        _signal_group(proc_, signum if len(signals) == 1 else signal.SIGKILL)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = _follow(proc_, log, offset, scanner)
    except BaseException as err:
        _signal_group(proc_, signal.SIGKILL)
        proc_.wait()
        ledger.set_status(record.id, RunStatus.FAILED, f"launcher error: {type(err).__name__}: {err}"[:300])
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    hours = (time.time() - session.began) / 3600
    summary = scanner.summary or summary_since(folder, session.began)
    record_outcome(record.id, ledger, summary, code, hours, bool(signals), resume_step,
                   last_error=scanner.last_error())
    return ledger.get(record.id)


def _follow(proc_: subprocess.Popen, log: Path, offset: int, scanner: OutputScanner) -> int:
    """Tail the job's log from `offset` until the job exits; returns its exit code."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    with log.open("rb") as fh:
        fh.seek(offset)
        while True:
            chunk = fh.read(1 << 16)
            if chunk:
                scanner.feed(decoder.decode(chunk))
            elif proc_.poll() is not None:
                scanner.feed(decoder.decode(fh.read(), final=True))
                scanner.close()
                return proc_.returncode
            else:
                time.sleep(0.1)


def _signal_group(proc_: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc_.pid, signum)
    except ProcessLookupError:
        pass
