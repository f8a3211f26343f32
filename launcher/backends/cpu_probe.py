"""A few seconds' probe of this machine's CPU for the local speed model, cached in $TUNECOST_HOME/cpu_probe.json
(the planner quotes a local run on it: planner/local_quote.py).

Run in a fresh Python process (as the job is), so the import time is what the job pays and the launcher itself
never imports torch. The cache is keyed by the machine (CPU model, cores) and kept for PROBE_MAX_AGE_HOURS, since
a shared machine's load moves the figures: delete the file (or pass a new TUNECOST_HOME) to probe again.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

from tunecost.job.atomic import atomic_write
from tunecost.planner.model.cpu_speed import CpuProbe

PROBE_FILE = "cpu_probe.json"
PROBE_MAX_AGE_HOURS = 24
SCRIPT = r"""
import json, time
t0 = time.perf_counter()
import torch, transformers, peft  # noqa: F401  what the job imports first
imports = time.perf_counter() - t0

def timed(fn, min_seconds=0.4):
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        fn(); n += 1
    return (time.perf_counter() - start) / n

a, w = torch.randn(160, 576, requires_grad=True), torch.randn(1536, 576)
def matmul():  # a frozen weight as in LoRA: forward + the input gradient, as training does
    (a @ w.t()).sum().backward()
mm = timed(matmul)
nf4 = None
try:  # what 4-bit weights add per weight and pass on this CPU (bitsandbytes dequantizes them for each matmul)
    import bitsandbytes as bnb
    q = bnb.nn.Linear4bit(576, 1536, bias=False, compute_dtype=torch.float32, quant_type="nf4")
    q.weight = bnb.nn.Params4bit(w * 0.02, requires_grad=False, quant_type="nf4", compress_statistics=True)
    q = q.to("cpu")  # quantizes the weight
    def quant():
        q(a).sum().backward()
    nf4 = max(0.0, (timed(quant) - mm) / 2 / w.numel())
except Exception:
    pass
x = torch.randn(8, 64, requires_grad=True)
def chain():
    y = x
    for _ in range(100):
        y = y * 1.0001 + 0.0001
    y.sum().backward()
op = timed(chain) / 200  # 100 multiply-adds forward, as many backward
big, out = torch.ones(32 * 2**20), torch.empty(32 * 2**20)
copy = timed(lambda: out.copy_(big))
print(json.dumps({"matmul_gflops": 4 * 160 * 576 * 1536 / mm / 1e9, "op_seconds": op, "nf4_seconds": nf4,
                  "copy_gb_s": 2 * big.numel() * 4 / copy / 1e9, "import_seconds": imports,
                  "threads": torch.get_num_threads()}))
"""


def _machine() -> str:
    return f"{platform.machine()} {platform.processor() or platform.system()}, {os.cpu_count()} cores"


def measure() -> CpuProbe:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=True)
    values = json.loads(out.stdout.strip().splitlines()[-1])
    return CpuProbe(**values, machine=_machine(), measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))


def cached_probe(home: Path) -> Optional[CpuProbe]:
    """The cached probe if it is this machine's and fresh, else None."""
    try:
        cached = CpuProbe.model_validate_json((home / PROBE_FILE).read_text())
        age = datetime.now(timezone.utc) - datetime.fromisoformat(cached.measured_at)
        return cached if cached.machine == _machine() and age < timedelta(hours=PROBE_MAX_AGE_HOURS) else None
    except (OSError, ValueError):
        return None


def cpu_probe(home: Path) -> Optional[CpuProbe]:
    """The cached probe, else a new one; None if probing fails. Nothing is written: the run that uses a new probe
    keeps it (save_probe, inside the run's staging), so a refused launch leaves no cache behind."""
    cached = cached_probe(home)
    if cached is not None:
        return cached
    try:
        return measure()
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def save_probe(home: Path, probe: CpuProbe) -> None:
    """Cache the probe a run was quoted on for the next local run, unless it is the cached one already."""
    if cached_probe(home) != probe:
        home.mkdir(parents=True, exist_ok=True)
        atomic_write(home / PROBE_FILE, probe.model_dump_json(indent=1))
