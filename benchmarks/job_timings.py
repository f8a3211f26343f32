"""Step time, checkpoint save time (as a share of a step) and resume time of the bundled job on this CPU.

Runs the real job in subprocesses: a fresh run that saves every `save_steps`, then the same run again after the
newest checkpoint is deleted (as if the VM died before it reached the bucket), so it resumes from the one before.
Figures come from run_summary.json: step_seconds (median, first step excluded), checkpoint_save_seconds (mean of
HF's save + our COMPLETE commit), startup_seconds (process start -> first training step). Resume overhead =
resumed startup - fresh startup (loading optimizer/scheduler/RNG state and skipping consumed batches).

    python benchmarks/job_timings.py [tiny|smollm2 ...]   # results -> paste into benchmarks/job_timings.md
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = {
    "tiny": ["--model", "tiny", "--method", "lora", "--micro-batch", "8", "--seq-len", "64"],
    "smollm2": ["--config", str(Path(__file__).resolve().parents[1] / "job" / "sample_config.json")],
}
COMMON = ["--dataset", "demo", "--max-steps", "20", "--save-steps", "5", "--logging-steps", "5", "--keep-checkpoints",
          "2", "--eval-fraction", "0"]


def run(argv: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", "tunecost.job.train", *argv], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1].split(" ", 1)[1])


def measure(name: str) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"job-timings-{name}-"))
    argv = CASES[name] + COMMON + ["--output-dir", str(out)]
    fresh = run(argv)
    shutil.rmtree(out / "checkpoint-20")
    (out / "run_summary.json").unlink()
    resumed = run(argv)
    shutil.rmtree(out, ignore_errors=True)
    step, save = fresh["step_seconds"], fresh["checkpoint_save_seconds"]
    return {"case": name, "step_s": step, "save_s": save, "save_share_of_step": save / step,
            "save_share_at_save_steps_5": save / (5 * step), "fresh_startup_s": fresh["startup_seconds"],
            "resumed_startup_s": resumed["startup_seconds"],
            "resume_overhead_s": resumed["startup_seconds"] - fresh["startup_seconds"],
            "resumed_from": resumed["resumed_from"], "tokens_per_sec": fresh["tokens_per_sec"],
            "peak_memory_gib": fresh["peak_memory_gib"], "final_loss": fresh["final_loss"],
            "first_loss": fresh["loss_curve"][0][1], "load_avg_1m": os.getloadavg()[0]}


def main() -> None:
    names = sys.argv[1:] or list(CASES)
    rows = [measure(n) for n in names]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main()
