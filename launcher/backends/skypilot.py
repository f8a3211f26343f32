"""Run a plan on the cloud through SkyPilot: stage, render and validate the task, launch, follow, record, tear down.

WHY managed jobs: a spot VM can vanish; SkyPilot's jobs controller re-provisions (EAGER_NEXT_REGION) and the job
resumes from its newest complete checkpoint in the bucket. An unmanaged `--cluster NAME` run is for debugging and
is always torn down (down=True, and sky.down in a finally). Every SkyPilot call goes through sky_client.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from pydantic import BaseModel, Field

from tunecost.job.run_summary import RunSummary
from tunecost.launcher.backends import sky_client
from tunecost.launcher.backends.job_config import build_job_config
from tunecost.launcher.backends.job_output import OutputScanner
from tunecost.launcher.backends.staging import discard, staging
from tunecost.launcher.ledger.run_folder import RunFolder
from tunecost.launcher.ledger.store import Ledger, now
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.planner.market.providers import provider_of
from tunecost.launcher.ledger.run_status import STATUS_OF_STOP, RunStatus
from tunecost.launcher.backends.sky_task import (TaskOptions, check_bucket_name, remote_dataset_path,
                                                 remote_output_dir, render_task_yaml, secret_names, stage_workdir)
from tunecost.planner.errors import UserError
from tunecost.planner.plan import Plan
from tunecost.planner.quote import Quote

Echo = Callable[[str], None]
Confirm = Callable[[str], bool]

# SkyPilot managed job status -> ledger status; anything else (PENDING, RUNNING, RECOVERING...) is still running.
# A managed job is judged by its controller (it may have recovered, or never started), not by one session's summary.
_FINAL: dict[str, RunStatus] = {
    "SUCCEEDED": RunStatus.SUCCEEDED, "CANCELLED": RunStatus.STOPPED, "CANCELLING": RunStatus.STOPPED,
    "FAILED": RunStatus.FAILED, "FAILED_SETUP": RunStatus.FAILED, "FAILED_PRECHECKS": RunStatus.FAILED,
    "FAILED_NO_RESOURCE": RunStatus.FAILED, "FAILED_CONTROLLER": RunStatus.FAILED,
}


class Prepared(BaseModel):
    """A staged, validated task, ready to launch (or to print for --dry-run)."""

    run_id: str
    folder: str
    yaml_text: str
    secrets: list[str]
    offers: list[Quote] = Field(description="the fallback order, the plan's choice first")
    plan: Plan
    job_model: str
    budget_usd: Optional[float] = None
    sweep: dict[str, Any] = {}  # the sweep_id / sweep_point / sweep_params of a sweep's run
    made: list[str] = []  # what staging made besides the folder (backends/staging.py), taken back on a refusal


def prepare(plan: Plan, *, dataset: Path, bucket: str, ledger: Ledger, model: Optional[str] = None,
            budget_usd: Optional[float] = None, overrides: Optional[dict[str, Any]] = None, top_k: int = 3,
            max_restarts_on_errors: int = 3, run_id: Optional[str] = None, dry_run: bool = False,
            tag: str = "") -> Prepared:
    """Stage job/ + config under $TUNECOST_HOME/runs/<id>/sky, render the YAML, and have SkyPilot validate it.
    A dry run stages under $TUNECOST_HOME/dry-run/<id> instead (the previous one removed): runs/ holds recorded
    runs only, and the printed YAML still runs with `sky jobs launch`."""
    check_bucket_name(bucket)
    run_id = run_id or ledger.new_run_id()
    offers = [f.quote for f in plan.fallback_order(top_k)]
    guard_price = max(o.offer.total_per_hour for o in offers)
    dataset_local = str(dataset.expanduser().resolve())
    config = build_job_config(plan, run_id=run_id, dataset=remote_dataset_path(),
                              output_dir=remote_output_dir(run_id), price_per_hour=guard_price,
                              budget_usd=budget_usd, model=model, overrides=overrides, offers=offers)
    folder = RunFolder.of(ledger.home, run_id, dry_run=dry_run)
    if dry_run:
        shutil.rmtree(folder.path.parent, ignore_errors=True)
    with staging(folder.path) as made:
        workdir = stage_workdir(folder.sky, config)
        secrets = secret_names()
        text = render_task_yaml(plan, TaskOptions(run_id=run_id, bucket=bucket, dataset_local=dataset_local,
                                                  workdir=str(workdir), top_k=top_k, secrets=secrets,
                                                  max_restarts_on_errors=max_restarts_on_errors, tag=tag),
                                guard_price=guard_price)
        sky_client.validate_task(text)
    return Prepared(run_id=run_id, folder=str(folder.path), yaml_text=text, secrets=secrets, offers=offers, plan=plan,
                    job_model=config.model, budget_usd=budget_usd, made=[str(p) for p in made])


def _new_record(prep: Prepared, backend: str, tag: str) -> RunRecord:
    chosen = prep.offers[0]
    return RunRecord(
        id=prep.run_id, status=RunStatus.PENDING, backend=backend, created_at=now(), tag=tag,
        offer=chosen.offer, method=prep.plan.spec.method.value, model=prep.job_model, estimated_hours=chosen.hours,
        estimated_cost=chosen.cost, estimated_peak_gib=chosen.peak_gib_per_gpu, plan=prep.plan, task_yaml=prep.yaml_text,
        output_dir=f"{remote_output_dir(prep.run_id)} (bucket mount)", budget_usd=prep.budget_usd,
        rate_source=f"plan: {chosen.offer.describe()}, prices as of {chosen.offer.as_of or 'undated'}",
        **prep.sweep,
    )


def _task_with_secrets(prep: Prepared) -> Any:
    """Secret values join the task in memory, at launch, from this environment; they are never written."""
    return sky_client.validate_task(prep.yaml_text, {n: os.environ[n] for n in prep.secrets if os.environ.get(n)})


def _check_and_record(prep: Prepared, started_server: bool, ledger: Ledger, backend: str, tag: str) -> Any:
    """Validate and check credentials, then record the run: a launch refused before the record leaves no trace
    (its staged files are discarded, backends/staging.py)."""
    try:
        task = _task_with_secrets(prep)
        if not sky_client.enabled_clouds():
            raise UserError(sky_client.NO_CLOUD)
        ledger.create(_new_record(prep, backend, tag))
        return task
    except BaseException:
        discard(Path(prep.folder), [Path(p) for p in prep.made])
        if started_server:
            sky_client.api_stop()
        raise


def launch_managed(prep: Prepared, *, ledger: Ledger, echo: Echo, confirm: Confirm, tag: str = "") -> RunRecord:
    """Launch as a managed job, follow its logs, and record what SkyPilot and the job report when it ends."""
    started_server = not sky_client.server_running()
    task = _check_and_record(prep, started_server, ledger, "sky-managed", tag)
    done = True
    try:
        try:
            job_id = sky_client.jobs_launch(task, prep.run_id)
        except BaseException as err:
            ledger.set_status(prep.run_id, RunStatus.FAILED, f"launch failed: {err}"[:300])
            raise
        ledger.set_status(prep.run_id, RunStatus.RUNNING, f"managed job {job_id}", sky_job_id=job_id)
        scanner = OutputScanner(echo=echo)
        try:
            for chunk in sky_client.tail_job_logs(job_id):
                scanner.feed(chunk)
            scanner.close()
        except KeyboardInterrupt:
            if not confirm(f"Cancel managed job {job_id} (run {prep.run_id})? It keeps running otherwise"):
                done = False
                ledger.set_status(prep.run_id, RunStatus.RUNNING, f"detached; follow with: sky jobs logs {job_id}")
                return ledger.get(prep.run_id)
            sky_client.jobs_cancel(job_id)
            ledger.set_status(prep.run_id, RunStatus.RUNNING, "cancel requested by the user")
        return _record_managed(prep, ledger, job_id, scanner)
    finally:
        if started_server and done:
            sky_client.api_stop()


def _ts(value: Optional[float]) -> Optional[datetime]:
    return datetime.fromtimestamp(value, tz=timezone.utc) if value else None


def _ran_on(prep: Prepared, job: dict[str, Any]) -> Quote:
    """The offer the job ran on: the first candidate in SkyPilot's cloud and region, else the chosen one."""
    cloud, region = str(job.get("cloud") or "").lower(), job.get("region")
    for quote in prep.offers:
        offer = quote.offer
        if (provider_of(offer.provider).sky_cloud or offer.provider).lower() == cloud and \
                (not region or offer.region == region):
            return quote
    return prep.offers[0]


POLL_SECONDS = 10.0
POLL_LIMIT_SECONDS = 15 * 60  # the controller marks a job done within a minute or two of its log's end


def _final_record(job_id: int) -> dict[str, Any]:
    """SkyPilot's record once the job is in a terminal state: the log stream can end (or break) before the
    controller says so, and one cached read would record the run as running forever. Polled with refresh, up
    to POLL_LIMIT_SECONDS; after that the last record (still running: `sky jobs queue` will say)."""
    deadline = time.monotonic() + POLL_LIMIT_SECONDS
    while True:
        job = sky_client.job_record(job_id, refresh=True)
        if str(job.get("status")) in _FINAL or time.monotonic() >= deadline:
            return job
        time.sleep(POLL_SECONDS)


def _record_managed(prep: Prepared, ledger: Ledger, job_id: int, scanner: OutputScanner) -> RunRecord:
    job = _final_record(job_id)
    status = _FINAL.get(str(job.get("status")), RunStatus.RUNNING)
    start, end = _ts(job.get("start_at")), _ts(job.get("end_at"))
    hours = (job["end_at"] - job["start_at"]) / 3600 if start and end else (job.get("job_duration") or 0) / 3600
    ran = _ran_on(prep, job).offer
    offer = ran.model_copy(update={"region": job.get("region") or ran.region, "zone": job.get("zone") or ran.zone})
    price = offer.total_per_hour
    note = f"SkyPilot: {job.get('status')}"
    if job.get("failure_reason"):
        note += f" ({job['failure_reason']})"[:300]
    ledger.set_status(
        prep.run_id, status, note, actual_hours=hours, actual_cost=hours * price, offer=offer,
        recoveries=int(job.get("recovery_count") or 0), summary=scanner.summary,
        started_at=start,
        resumes=list(scanner.summary.resumed_from) if scanner.summary else [],
    )
    if end is not None and status is not RunStatus.RUNNING:
        ledger.update(prep.run_id, ended_at=end)
    return ledger.get(prep.run_id)


def launch_cluster(prep: Prepared, cluster: str, *, ledger: Ledger, echo: Echo, tag: str = "") -> RunRecord:
    """Unmanaged run on `cluster` (no recovery); the cluster is torn down whatever happens."""
    started_server = not sky_client.server_running()
    task = _check_and_record(prep, started_server, ledger, "sky-cluster", tag)
    scanner = OutputScanner(echo=echo)
    started = time.monotonic()
    try:
        job_id = sky_client.cluster_launch(task, cluster)
        ledger.set_status(prep.run_id, RunStatus.RUNNING, f"cluster {cluster}, job {job_id}", sky_job_id=job_id)
        for chunk in sky_client.tail_cluster_logs(cluster, job_id):
            scanner.feed(chunk)
        scanner.close()
    except BaseException as err:
        reason = "interrupted" if isinstance(err, KeyboardInterrupt) else f"{type(err).__name__}: {err}"
        interrupted = isinstance(err, KeyboardInterrupt)
        ledger.set_status(prep.run_id, RunStatus.STOPPED if interrupted else RunStatus.FAILED, reason[:300])
        raise
    finally:
        try:
            sky_client.down(cluster)
        finally:
            hours = (time.monotonic() - started) / 3600
            price = prep.offers[0].offer.total_per_hour
            ledger.update(prep.run_id, actual_hours=hours, actual_cost=hours * price, summary=scanner.summary)
            if started_server:
                sky_client.api_stop()
    ledger.set_status(prep.run_id, *cluster_outcome(scanner.summary, scanner.last_error()))
    return ledger.get(prep.run_id)


def cluster_outcome(summary: Optional[RunSummary], last_error: str) -> tuple[RunStatus, str]:
    """(status, note) of a --cluster job whose logs ended: no controller judges it, so its summary's stop_reason
    does, through the mapping every backend shares (a job that crashed is failed, not stopped)."""
    if summary is None or summary.stop_reason is None:
        return RunStatus.FAILED, f"no job summary: {last_error}"
    return STATUS_OF_STOP[summary.stop_reason], f"stop_reason {summary.stop_reason}"
