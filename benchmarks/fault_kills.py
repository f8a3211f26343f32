"""Fault figures: N random SIGKILLs of the real launcher and/or trainer of local tiny-model runs, each resumed.

    python benchmarks/fault_kills.py [--trials 20] [--steps 30] [--seed 12] [--out benchmarks/fault_kills.md]

Each trial starts `tunecost launch --local --model tiny --dataset demo --method lora --seq-len 64 --batch 8 --no-packing
--max-steps S --save-steps 5`, picks a
target (launcher, trainer, or both) and a moment uniformly between the launcher's start and the reference run's
duration, and os.kill()s the target's pid with SIGKILL. Once every process of the run is gone it reads
`tunecost runs --json` (which reconciles), then resumes with `tunecost launch --local --resume ID` when the run
is stopped or failed. A trial is good when the run is never left running, is labelled resumable (stopped or
failed) or succeeded with its summary, and ends succeeded with S steps and the reference's adapter bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

TUNECOST = [sys.executable, "-c", "from tunecost.launcher.cli import main; main()"]


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "TUNECOST_HOME": str(home), "PYTHONUNBUFFERED": "1"}


def _launch_cmd(steps: int) -> list[str]:
    return TUNECOST + ["launch", "--local", "--model", "tiny", "--dataset", "demo", "--method", "lora",
                       "--seq-len", "64", "--batch", "8", "--no-packing", "--max-steps", str(steps),
                       "--save-steps", "5", "--tag", "fault"]


def _runs(home: Path) -> list[dict]:
    out = subprocess.run(TUNECOST + ["runs", "--json"], env=_env(home), capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout)


def _adapter(home: Path, run_id: str) -> bytes:
    path = home / "runs" / run_id / "output" / "adapter" / "adapter_model.safetensors"
    return path.read_bytes() if path.is_file() else b""


def _gone(pids: list[psutil.Process], timeout: float) -> None:
    psutil.wait_procs(pids, timeout=timeout)


def _is_job(proc: psutil.Process) -> bool:
    """The launcher's child that trains (it may first run others, e.g. the CPU probe)."""
    try:
        return "tunecost.job.train" in proc.cmdline()
    except psutil.Error:
        return False


def trial(home: Path, steps: int, target: str, delay: float) -> dict:
    launcher = subprocess.Popen(_launch_cmd(steps), env=_env(home), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    began, trainer = time.monotonic(), None
    while time.monotonic() - began < delay:
        if trainer is None and launcher.poll() is None:
            kids = [kid for kid in psutil.Process(launcher.pid).children() if _is_job(kid)]
            trainer = kids[0] if kids else None
        time.sleep(0.01)
    killed = []
    for name, proc in (("trainer", trainer), ("launcher", launcher)):
        if target in (name, "both") and proc is not None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
                killed.append(name)
            except ProcessLookupError:
                pass
    launcher.wait(timeout=300)
    if trainer is not None:
        _gone([trainer], timeout=300)  # a trainer outliving its launcher finishes on its own
    [run] = [r for r in _runs(home) if r["id"] not in seen_ids]
    seen_ids.add(run["id"])
    after_kill, note = run["status"], run["history"][-1]["note"]
    resumed = after_kill in ("stopped", "failed")
    if resumed:
        subprocess.run(TUNECOST + ["launch", "--local", "--resume", run["id"]], env=_env(home),
                       capture_output=True, text=True, timeout=600)
        [run] = [r for r in _runs(home) if r["id"] == run["id"]]
    return {"target": target, "delay_s": round(delay, 2), "killed": "+".join(killed) or "none (already done)",
            "status_after_kill": after_kill, "note": note[:90], "resumed": resumed, "final": run["status"],
            "steps": (run.get("summary") or {}).get("steps"), "id": run["id"]}


seen_ids: set[str] = set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("fault_kills.md"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="tunecost-faults-"))
    began = time.monotonic()
    subprocess.run(_launch_cmd(args.steps), env=_env(home), capture_output=True, timeout=600, check=True)
    duration = time.monotonic() - began
    [ref] = _runs(home)
    seen_ids.add(ref["id"])
    reference = _adapter(home, ref["id"])
    rows = []
    for i in range(args.trials):
        target = rng.choice(["launcher", "trainer", "both"])
        row = trial(home, args.steps, target, rng.uniform(0.5, duration))
        row["same_adapter"] = _adapter(home, row["id"]) == reference
        row["good"] = (row["status_after_kill"] in ("stopped", "failed", "succeeded") and row["final"] == "succeeded"
                       and row["steps"] == args.steps and row["same_adapter"])
        rows.append(row)
        print(i + 1, row, flush=True)
        write_report(args, rows, duration)
    print(f"{sum(r['good'] for r in rows)}/{len(rows)} good; wrote {args.out}")


def write_report(args: argparse.Namespace, rows: list[dict], duration: float) -> None:
    """Rewritten after every trial, so a run cut short still leaves its figures."""
    good = sum(r["good"] for r in rows)
    lines = [
        "# Fault kills (benchmarks/fault_kills.py)", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `python benchmarks/fault_kills.py "
        f"--trials {args.trials} --steps {args.steps} --seed {args.seed}` on the shared 2-core machine (1-minute load "
        f"average {os.getloadavg()[0]:.1f} when written). Reference run (uninterrupted, same flags): {duration:.1f} s; "
        "each kill lands uniformly in [0.5 s, that duration] after the launcher starts.", "",
        f"**{good} of {len(rows)} trials good** ({len(rows)} of {args.trials} run): never left running, labelled "
        f"resumable (or succeeded from the job's own summary), resumed to {args.steps} of {args.steps} steps with "
        "the reference run's adapter bytes.",
        "", "| # | target | kill at s | killed | status after kill | ledger note | resumed | final | steps | same adapter "
        "| good |", "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        lines.append(f"| {i} | {r['target']} | {r['delay_s']} | {r['killed']} | {r['status_after_kill']} | "
                     f"{r['note'].replace('|', '/')} | {r['resumed']} | {r['final']} | {r['steps']} | "
                     f"{r['same_adapter']} | {r['good']} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
