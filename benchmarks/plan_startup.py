"""How long `tunecost plan` takes from a fresh process to the answer, over all shipped offers.

Target: under 1 s wall on the team's 2-core machine, pandas import included. Each figure is the median of N fresh
interpreter runs (a new process each time, so no in-process cache helps; the OS file cache is warm after the
first run, as it is for a user who runs the command twice). Baselines: an empty interpreter and `import pandas`,
which the price tables need. Also lists the slowest imports of one `plan` run (python -X importtime) and checks
that no heavy library (torch, transformers, peft, bitsandbytes, sky) was imported.

Run:  python benchmarks/plan_startup.py [--runs 15]   (writes benchmarks/plan_startup.md)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
TUNECOST = Path(sys.executable).with_name("tunecost")
PLAN = ["plan", "--model", "meta-llama/Llama-3.1-8B", "--tokens", "20000000"]
HEAVY = ("torch", "transformers", "peft", "bitsandbytes", "sky")


def wall(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return times


STAGES = """
import json, time
t = [time.perf_counter()]
import typer, pydantic; t.append(time.perf_counter())
from tunecost.launcher.cli import app; t.append(time.perf_counter())
import pandas; t.append(time.perf_counter())
from tunecost.planner.market.offers import load_prices
from tunecost.planner.optimizer import optimize
from tunecost.planner.spec import TrainSpec
t.append(time.perf_counter())
prices = load_prices(); t.append(time.perf_counter())
plan = optimize(TrainSpec(model="meta-llama/Llama-3.1-8B", dataset={"tokens_per_epoch": 20000000}), prices)
t.append(time.perf_counter())
print(json.dumps([b - a for a, b in zip(t, t[1:])]))
"""
STAGE_NAMES = ("import typer + pydantic", "import command modules (TrainSpec etc.)", "import pandas",
               "import planner (shapes, memory, speed, offers)", "load_prices() (all shipped tables)",
               "optimize() (every offer)")


def stages(env: dict[str, str], runs: int) -> list[float]:
    """Median seconds of each stage of a plan, in a fresh interpreter each run (interpreter start excluded)."""
    import json

    samples = [json.loads(subprocess.run([sys.executable, "-c", STAGES], env=env, capture_output=True, text=True,
                                         check=True).stdout) for _ in range(runs)]
    return [statistics.median(column) for column in zip(*samples)]


def slowest_imports(env: dict[str, str], top: int = 12) -> tuple[list[tuple[int, str]], list[str]]:
    """Cumulative import time per top-level package of one `plan --json` run, and any heavy module seen."""
    code = f"import sys; sys.argv = {['tunecost', *PLAN, '--json']!r}\nfrom tunecost.launcher.cli import main\nmain()"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True,
                            text=True)
    rows, heavy = [], set()
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        if not cumulative.isdigit():
            continue
        if name.split(".")[0] in HEAVY:
            heavy.add(name.split(".")[0])
        if not name.startswith(" ") and "." not in name.strip():  # top level only (no indentation in the name)
            rows.append((int(cumulative), name.strip()))
    return sorted(rows, reverse=True)[:top], sorted(heavy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", type=Path, default=HERE / "plan_startup.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as home:
        # Shipped tables only (a fresh TUNECOST_HOME), and bytecode cached as after `pip install` (in a temp prefix,
        # so the work tree stays clean) even where PYTHONDONTWRITEBYTECODE=1 is set, as on the team machine.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(TUNECOST_HOME=home, PYTHONPYCACHEPREFIX=str(Path(home) / "pycache"))
        no_bytecode = {**os.environ, "TUNECOST_HOME": home, "PYTHONDONTWRITEBYTECODE": "1"}
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ("python -c 'import pandas'", [sys.executable, "-c", "import pandas"]),
            ("tunecost --help", [str(TUNECOST), "--help"]),
            ("tunecost plan ... --json", [str(TUNECOST), *PLAN, "--json"]),
            ("tunecost plan ... (rich table)", [str(TUNECOST), *PLAN]),
        ]
        wall(cases[-1][1], env, 1)  # warm the OS file cache once
        results = []
        for label, cmd in cases:
            times = wall(cmd, env, args.runs)
            results.append((label, statistics.median(times), min(times), max(times)))
            print(f"{label:34s} median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f})")
        label = "tunecost plan ... --json, tunecost not byte-compiled"
        times = wall([str(TUNECOST), *PLAN, "--json"], no_bytecode, args.runs)
        results.append((label, statistics.median(times), min(times), max(times)))
        print(f"{label:34s} median {statistics.median(times):.3f} s")
        imports, heavy = slowest_imports(env)
        parts = stages(env, args.runs)
        for name, seconds in zip(STAGE_NAMES, parts):
            print(f"{name:48s} {seconds:.3f} s")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# `tunecost plan` startup time",
        "",
        f"Measured {date.today().isoformat()} by `python benchmarks/plan_startup.py --runs {args.runs}` on "
        f"{platform.machine()} Linux, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"(1-min load average at the end: {load:.2f}; the machine is shared, so figures move by ~0.2 s).",
        f"Command: `tunecost {' '.join(PLAN)}` over all shipped offers. Target: < 1 s wall. Bytecode is cached "
        "(as after `pip install`) except in the row that says otherwise: this machine sets "
        "PYTHONDONTWRITEBYTECODE=1, so an editable checkout recompiles its own modules on every start.",
        "",
        "| command | median s | min s | max s |",
        "|---|---:|---:|---:|",
        *(f"| `{label}` | {med:.3f} | {lo:.3f} | {hi:.3f} |" for label, med, lo, hi in results),
        "",
        "Where the time goes (median of the same number of fresh interpreters, interpreter start excluded):",
        "",
        "| stage | median s |",
        "|---|---:|",
        *(f"| {name} | {seconds:.3f} |" for name, seconds in zip(STAGE_NAMES, parts)),
        f"| total | {sum(parts):.3f} |",
        "",
        "Slowest top-level imports of one `plan --json` run (`python -X importtime`, cumulative ms):",
        "",
        "| module | ms |",
        "|---|---:|",
        *(f"| {name} | {us / 1000:.0f} |" for us, name in imports),
        "",
        f"Heavy libraries imported: {', '.join(heavy) if heavy else 'none'} "
        f"(checked: {', '.join(HEAVY)}).",
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
