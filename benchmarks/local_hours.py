"""Local-run hours: the estimate `launch --local` records against the duration the launcher measured.

Each run gets a fresh TUNECOST_HOME, so the CPU probe is taken just before it (on a shared machine the load
moves the probe and the run alike). Runs: the job's tiny Llama saved as a folder (LoRA, demo data, 2 epochs)
and `tunecost demo` (SmolLM2-135M QLoRA; --max-steps keeps it short). Prints one row per run and the
estimate's parts; recorded in benchmarks/local_hours.md.

Run: python benchmarks/local_hours.py [--tiny N] [--demo N] [--demo-steps S]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUNECOST = [str(Path(sys.executable).with_name("tunecost"))]
DATA = str(ROOT / "job" / "demo_data.jsonl")
TINY_PLAN = ["plan", "--method", "lora", "--targets", "attention", "--seq-len", "64", "--batch", "8",
             "--no-packing", "--epochs", "2", "--dataset", DATA]


def _run(args: list[str], home: Path) -> None:
    env = {**os.environ, "TUNECOST_HOME": str(home)}
    subprocess.run(TUNECOST + args, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _record(home: Path) -> dict:
    from tunecost.launcher.ledger.store import Ledger

    record = Ledger(home).list()[0]
    summary = record.summary
    probe = json.loads((home / "cpu_probe.json").read_text())
    return {"estimated_s": round(record.estimated_hours * 3600, 1), "actual_s": round(record.actual_hours * 3600, 1),
            "ratio": round(record.estimated_hours / record.actual_hours, 3), "steps": summary.steps,
            "startup_s": summary.startup_seconds, "train_s": summary.train_seconds,
            "probe_gflops": round(probe["matmul_gflops"], 1), "probe_op_us": round(probe["op_seconds"] * 1e6, 1),
            "probe_import_s": round(probe["import_seconds"], 1), "load_1min": round(os.getloadavg()[0], 2)}


def tiny(work: Path) -> dict:
    folder = work / "tiny-model"
    if not folder.exists():
        subprocess.run([sys.executable, "-c", "import sys; from tunecost.job.tiny import build_tiny; "
                        "build_tiny(sys.argv[1])", str(folder)], check=True)
    home = Path(tempfile.mkdtemp(dir=work))
    _run(TINY_PLAN + ["--model", str(folder), "--save", str(home / "plan.json")], home)
    _run(["launch", "--local", str(home / "plan.json"), "--model", str(folder), "--dataset", DATA], home)
    return {"run": "tiny (LoRA, 80 steps)", **_record(home)}


def demo(work: Path, steps: int) -> dict:
    home = Path(tempfile.mkdtemp(dir=work))
    _run(["demo", "--max-steps", str(steps)], home)
    return {"run": f"demo (SmolLM2 QLoRA, --max-steps {steps})", **_record(home)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", type=int, default=2)
    ap.add_argument("--demo", type=int, default=1)
    ap.add_argument("--demo-steps", type=int, default=8)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="local-hours-"))
    rows = [tiny(work) for _ in range(args.tiny)] + [demo(work, args.demo_steps) for _ in range(args.demo)]
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |", flush=True)


if __name__ == "__main__":
    main()
