"""`tunecost launch` (a plan as a SkyPilot managed spot job, or `--local` on this machine) and `tunecost runs`.

Launch takes a saved plan.json, or the workload flags of `plan` (it plans first). SkyPilot is imported only
inside sky_client; the local backend never imports it.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from tunecost.launcher.commands.common_options import date_range, since_option, top_option, until_option
from tunecost.launcher.commands.sweep_options import SWEEP, SWEEP_FILE, SweepFlags, sweep_points
from tunecost.launcher.commands.workload_options import DEMO_DATASET, Workload, workload_options
from tunecost.job.numbers import MAX_COUNT, MAX_GPUS, MAX_STEPS
from tunecost.planner.errors import UserError

if TYPE_CHECKING:
    from tunecost.planner.plan import Plan

RUN = "Run"


def _refuse_managed(plan: "Plan") -> None:
    """A managed fine-tuning quote is the service's to run, not ours: refuse it before anything is recorded."""
    from tunecost.planner.managed import refuse_managed_launch
    from tunecost.planner.market.managed_prices import load_managed_prices

    services = {r.provider for r in load_managed_prices()} | {m.provider.lower() for m in plan.managed}
    refuse_managed_launch(plan.chosen.offer.provider if plan.chosen else "", services)


def refuse_other_framework(framework: str, source: str) -> None:
    """launch runs tunecost's own job only; a plan priced for another stack would train something else."""
    if framework != "tunecost":
        raise UserError(f"{source}: `tunecost launch` runs only its own job, not {framework}; plan it with "
                        f"--framework tunecost (the default), launch with --config FILE (the job runs the config's "
                        f"knobs), or train with {framework} yourself")


def as_the_job(workload: Workload) -> tuple[Workload, list[str]]:
    """A --config workload as the bundled job runs it: the config's knobs the job has (model, method, rank, alpha,
    targets, seq len, packing, batch, accumulation, checkpointing, optimizer, precision) and a line for each it
    lacks (the stack's own storage and loss kernel, what the config reader could not model, its GPU layout)."""
    read = workload.config_read()
    if read is None or "framework" in workload.flags_given:
        return workload, []
    spec = workload.to_spec()
    lacks = [f"{read.path}: tunecost's job runs it, not {spec.framework.value}: the job's own storage "
             "(job/contract.py) is planned"] if spec.framework.value != "tunecost" else []
    if spec.loss_kernel is not None:
        lacks.append(f"loss kernel {spec.loss_kernel.value}: the job runs its own chunked loss (job/loss.py)")
    if read.parallelism is not None:
        lacks.append(f"{read.parallelism.value} from the config: the plan chooses the GPUs and their parallelism")
    lacks += [f"config: {w}" for w in read.warnings_besides(workload.flagged)]
    from tunecost.planner.spec import Framework

    return replace(workload, framework=Framework.tunecost, flags_given=workload.flags_given | {"framework"}), lacks


def _plan_from_flags(workload: Workload, local: bool, budget: Optional[float], sweep: SweepFlags = None,
                     sweep_file: Optional[Path] = None) -> "Plan":
    """Plan from the workload flags. A local run needs only the spec; a cloud run needs priced offers."""
    workload, lacks = as_the_job(workload)
    for line in lacks:
        sys.stderr.write(f"warning: {line}\n")
    refuse_other_framework(workload.framework.value, f"--framework {workload.framework.value}")
    if not workload.given:
        raise UserError("give a plan file (tunecost plan ... --save plan.json) or the workload flags "
                        "(--model ID or --params SIZE, ...)")
    if local:
        points = sweep_points(workload, sweep, sweep_file)
        if points:
            from tunecost.planner.sweep import unpriced_sweep

            return unpriced_sweep(points)
        from tunecost.planner.plan import PLAN_SCHEMA, Plan

        return Plan(schema_version=PLAN_SCHEMA, spec=workload.to_spec())
    from tunecost.planner.corrections import load_corrections
    from tunecost.planner.market.offers import load_prices
    from tunecost.planner.optimizer import optimize

    points = sweep_points(workload, sweep, sweep_file)
    learned = load_corrections()  # as `plan` does: a launch from flags runs what `plan` would have chosen
    if points:
        from tunecost.planner.sweep import price_sweep

        return price_sweep(points, load_prices(), budget=budget, corrections=learned)
    return optimize(workload.to_spec(), load_prices(), budget=budget, corrections=learned)


def _dataset(workload: Workload, local: bool, eval_fraction: Optional[float] = None) -> Path:
    if workload.dataset is None:
        raise UserError("--dataset FILE is required: the JSONL file to train on"
                        + (" (or 'demo' for the job's demo data)" if local else ""))
    if local and str(workload.dataset) == DEMO_DATASET:
        return workload.dataset
    if not workload.dataset.expanduser().is_file():
        raise UserError(f"--dataset {workload.dataset}: no such file")
    path = workload.dataset.expanduser().resolve()
    check_rows(path, eval_fraction or 0.0)
    return path


def check_rows(path: Path, eval_fraction: float = 0.0) -> None:
    """The job's own row checks (and its eval split), before anything is recorded: a bad row is bad input here,
    not a failed run."""
    from tunecost.job.errors import JobError
    from tunecost.job.rows import check_dataset

    try:
        check_dataset(path, eval_fraction=eval_fraction)
    except JobError as err:
        raise UserError(f"--dataset {err}") from None


def _quoted_here(plan: "Plan", model: Optional[str], overrides: dict[str, Any]) -> "Plan":
    """The plan with the planner's quote for this machine (each sweep point's too): the CPU probe, the cached one
    or measured now, is its input. The local backend records the quote (and caches a new probe); it estimates
    nothing."""
    from tunecost.launcher.backends.cpu_probe import cpu_probe
    from tunecost.planner.home import tunecost_home
    from tunecost.planner.local_quote import plan_local

    home = tunecost_home()
    return plan_local(plan, lambda: cpu_probe(home), model=model, max_steps=overrides.get("max_steps"),
                      eval_fraction=overrides.get("eval_fraction"))


def _check_budget(plan: "Plan", budget: Optional[float]) -> None:
    chosen = plan.chosen
    if budget is not None and chosen is not None and chosen.cost > budget:
        raise UserError(f"the plan's estimate ${chosen.cost:.2f} exceeds --budget ${budget:.2f}; raise "
                        f"--budget or re-plan within it (tunecost plan ... --budget {budget:g})")


EXIT_CODES = {"succeeded": 0, "failed": 1, "stopped": 3}  # 2 is bad input (cli.fail); see README "Exit codes"


def _finish(record: Any) -> None:
    """Print the run's outcome in a few lines (the bill itself is `tunecost report`'s, printed once, there), and
    exit with it so scripts and CI can tell: finished 0, failed 1, stopped 3 (Ctrl-C, SIGTERM, budget guard)."""
    from tunecost.launcher.reports.cost_summary import summarize
    from tunecost.launcher.views.safe_text import clean
    from tunecost.launcher.views.summary_view import outcome_lines

    note = record.history[-1].note if record.history else ""
    for line in outcome_lines(summarize(record), note):
        _echo(clean(line))  # the note may quote the job's output
    code = EXIT_CODES.get(record.status, 0)  # running: a managed job left running on its own
    if code:
        raise typer.Exit(code)


def _echo(line: str) -> None:
    """One line to stdout. Once stdout is gone (EIO: a closed terminal whose hangup the launcher outlives, as under
    nohup or disown; EPIPE: a closed pipe, `| head`) the rest goes to /dev/null: the job trains on and the launcher
    still records its end, where a write error would have killed the job and recorded it failed."""
    from tunecost.launcher.views.safe_text import clean

    try:
        sys.stdout.write(clean(line) + "\n")  # the job's own lines too: a sample generation may hold anything
        sys.stdout.flush()
    except OSError as err:
        if err.errno not in (errno.EIO, errno.EPIPE):
            raise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


RESUME_TAKES = ("local", "resume", "max_steps", "save_steps")  # the flags a resume applies; it refuses the rest


def _resume_ignores(workload: Workload, values: dict[str, Any]) -> list[str]:
    """The flags typed beside --resume that the resumed run would silently ignore: it trains what it was started
    with (its job config), so a new --rate, --tag, plan file or workload flag there is a mistake to say, not drop.
    Every launch flag but RESUME_TAKES, a flag added later too; typed means: not launch's default."""
    import inspect

    ignored = ["--" + name.replace("_", "-") for name in sorted(workload.flags_given)]
    for name, param in inspect.signature(launch).parameters.items():
        if name in values and name not in RESUME_TAKES and values[name] not in (param.default.default, [], ()):
            decls = [d for d in param.default.param_decls or () if d.startswith("--")]
            ignored.append(decls[0].split("/")[0] if decls else name.upper())
    return ignored


def _confirm(question: str) -> bool:
    return typer.confirm(question, default=False, err=True)


@workload_options(dataset="JSONL file to train on: the job reads it (a local run may name 'demo', the job's demo "
                          "data); without a plan file it is also counted to plan the run",
                  model="The model the job trains: a hub id, a local HF folder, or the job's own tiny / smollm2; "
                        "without a plan file it is planned first, as `plan --model`")
def launch(
    workload: Workload,
    plan_file: Optional[Path] = typer.Argument(None, help="plan.json from `tunecost plan --save` [or give the "
                                               "workload flags]"),
    local: bool = typer.Option(False, "--local", help="Run on this machine instead of the cloud",
                               rich_help_panel=RUN),
    resume: Optional[str] = typer.Option(None, "--resume", metavar="RUN_ID",
                                         help="Continue a stopped local run (with --local)", rich_help_panel=RUN),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the SkyPilot task YAML and exit (nothing is "
                                 "recorded)", rich_help_panel=RUN),
    bucket: Optional[str] = typer.Option(None, "--bucket", help="Checkpoint bucket (created if missing) "
                                         "[default: tunecost-checkpoints-<user hash>]", rich_help_panel=RUN),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="Unmanaged run on this cluster name, torn down "
                                          "at the end (no spot recovery)", rich_help_panel=RUN),
    budget: Optional[float] = typer.Option(None, "--budget", help="Refuse a plan estimated above this many USD; "
                                           "the job stops itself when it has spent it", rich_help_panel=RUN),
    rate: Optional[float] = typer.Option(None, "--rate", help="USD per hour to bill a local run at [default: 0]",
                                         rich_help_panel=RUN),
    nproc: int = typer.Option(1, "--nproc", min=1, max=MAX_GPUS, help="Local processes (torchrun when > 1)",
                              rich_help_panel=RUN),
    top: int = top_option(3, "Offers in the fallback order (the plan's cheapest first)", max=20,
                          rich_help_panel=RUN),
    max_restarts: int = typer.Option(3, "--max-restarts", min=0, max=MAX_COUNT, help="Restarts on job errors (managed job)",
                                     rich_help_panel=RUN),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, max=MAX_STEPS, help="Stop after this many steps",
                                            rich_help_panel=RUN),
    save_steps: Optional[int] = typer.Option(None, "--save-steps", min=1, max=MAX_STEPS, help="Checkpoint every N steps",
                                             rich_help_panel=RUN),
    logging_steps: Optional[int] = typer.Option(None, "--logging-steps", min=1, max=MAX_STEPS, help="Print the loss "
                                                "every N steps "
                                                "[default: 10; the last step is always printed]",
                                                rich_help_panel=RUN),
    learning_rate: Optional[float] = typer.Option(None, "--learning-rate", min=0.0, help="Job learning rate "
                                                  "[default: the job's per-method default]", rich_help_panel=RUN),
    eval_fraction: Optional[float] = typer.Option(None, "--eval-fraction", min=0.0, max=0.5, help="Hold out this "
                                                  "share of the dataset for eval loss and a before/after sample",
                                                  rich_help_panel=RUN),
    tag: str = typer.Option("", "--tag", help="Label for the ledger and reports", rich_help_panel=RUN),
    sweep: SweepFlags = SWEEP,
    sweep_file: Optional[Path] = SWEEP_FILE,
) -> None:
    """Run a plan: a SkyPilot managed spot job with checkpoints in a bucket, or --local on this machine."""
    from tunecost.launcher.ledger.store import Ledger

    if rate is not None and rate < 0 or budget is not None and budget <= 0:
        raise UserError("--rate must be >= 0 and --budget > 0")
    if resume is not None:
        if not local:
            raise UserError("--resume continues local runs; use it with --local (a managed job resumes itself)")
        ignored = _resume_ignores(workload, locals())
        if ignored:
            raise UserError(f"--resume {resume} continues the run as it was recorded: {', '.join(ignored)} cannot "
                            "change it (a resume takes --max-steps and --save-steps only); drop "
                            f"{'them' if len(ignored) > 1 else 'it'}, or launch a new run")
        from tunecost.launcher.backends.local import resume_local

        record = resume_local(resume, ledger=Ledger(), echo=_echo,
                              overrides={"max_steps": max_steps, "save_steps": save_steps})
        _finish(record)
        return
    if local and (dry_run or cluster):
        raise UserError("--dry-run and --cluster are for cloud runs; drop them or drop --local")
    if plan_file is not None and (sweep or sweep_file):
        raise UserError("--sweep and --sweep-file plan a sweep from the workload flags; a plan file brings its own "
                        "(tunecost plan ... --sweep ... --save plan.json)")
    from tunecost.planner.plan import load_plan

    plan = load_plan(plan_file) if plan_file is not None else _plan_from_flags(workload, local, budget, sweep,
                                                                               sweep_file)
    _refuse_managed(plan)
    if plan_file is not None:
        framework = plan.spec.framework.value
        refuse_other_framework(framework, f"{plan_file} (planned for --framework {framework})")
    model = workload.model if plan_file is not None else None
    dataset = _dataset(workload, local, eval_fraction)
    overrides = {"max_steps": max_steps, "save_steps": save_steps, "learning_rate": learning_rate,
                 "eval_fraction": eval_fraction, "logging_steps": logging_steps}
    if local:
        plan = _quoted_here(plan, model, overrides)
    if plan.sweep is not None:
        if dry_run or cluster:
            raise UserError("--dry-run and --cluster take one run; a sweep launches one managed job per point")
        from tunecost.launcher.backends.sweep_launch import launch_sweep
        from tunecost.launcher.views.console import wide_console
        from tunecost.launcher.views.sweep_view import print_sweeps

        ledger = Ledger()
        records = launch_sweep(plan, local=local, dataset=dataset, ledger=ledger, echo=_echo, confirm=_confirm,
                               model=model, rate=rate, budget=budget, nproc=nproc, tag=tag, overrides=overrides,
                               bucket=bucket, top_k=top, max_restarts=max_restarts)
        if records:  # each point's losses and cost, and the sweep's total
            print_sweeps([ledger.get(r.id) for r in records], wide_console())
        if any(r.status == "failed" for r in records):
            raise typer.Exit(1)
        return
    if local:
        from tunecost.launcher.backends.local import start_local

        record = start_local(plan, dataset=str(dataset), ledger=Ledger(), echo=_echo, model=model, rate=rate,
                             budget_usd=budget, nproc=nproc, tag=tag, overrides=overrides)
        _finish(record)
        return
    _check_budget(plan, budget)
    from tunecost.launcher.backends import skypilot as sky_backend
    from tunecost.launcher.backends.sky_task import default_bucket

    ledger = Ledger()
    prep = sky_backend.prepare(plan, dataset=dataset, bucket=bucket or default_bucket(), ledger=ledger,
                               model=model, budget_usd=budget, overrides=overrides, top_k=top,
                               max_restarts_on_errors=max_restarts, dry_run=dry_run, tag=tag)
    if dry_run:
        sys.stdout.write(prep.yaml_text)
        sys.stderr.write(f"dry run: nothing recorded; the job is staged in {prep.folder} for the YAML's workdir\n")
        return
    if cluster:
        record = sky_backend.launch_cluster(prep, cluster, ledger=ledger, echo=_echo, tag=tag)
    else:
        record = sky_backend.launch_managed(prep, ledger=ledger, echo=_echo, confirm=_confirm, tag=tag)
    _finish(record)


RUN_FIELDS_EXCLUDED = {"plan", "task_yaml"}


def runs(
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON"),
    tag: Optional[str] = typer.Option(None, "--tag", help="Only runs with this tag"),
    since: Optional[datetime] = since_option(),
    until: Optional[datetime] = until_option(),
    repair: bool = typer.Option(False, "--repair", help="Move a damaged ledger aside and rebuild it from the "
                                "local run folders"),
) -> None:
    """The run ledger: every launch with its status, hardware, estimate and actual cost."""
    from tunecost.launcher.ledger.store import Ledger
    from tunecost.launcher.ledger.reconcile import reconcile

    if repair:
        from tunecost.launcher.ledger.repair import repair as rebuild

        _echo(rebuild().message(Ledger().path))
    ledger = Ledger()
    reconcile(ledger)  # a run whose launcher died is shown as what it is, not as running
    dates = date_range(since, until)
    records = ledger.list(since=dates.since, until=dates.until, tag=tag)
    if as_json:
        rows = [r.model_dump(mode="json", exclude=RUN_FIELDS_EXCLUDED) for r in records]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    from tunecost.launcher.views.runs_view import print_runs
    from tunecost.launcher.views.safe_text import console

    print_runs(records, console())
