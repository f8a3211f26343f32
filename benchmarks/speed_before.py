"""The speed model before issue 13 (planner/speed.py at commit 8069a3b: FLOPs / (peak x efficiency), flat 90 % /
95 % multi-GPU scaling, no per-step cost) on the same rows as benchmarks/speed_calibration.py: as shipped, and
leave-one-source-out with its efficiencies refitted the way it was (median ratio per cell, tokens/s rows only).

Run: python benchmarks/speed_before.py   (needs git; recorded in benchmarks/speed_calibration.md)
"""
import importlib.util, subprocess, sys, tempfile
from pathlib import Path
from statistics import median
import pandas as pd
ROOT = Path(__file__).resolve().parents[1]
OLD = Path(tempfile.mkdtemp()) / "old_speed.py"
OLD.write_text(subprocess.run(["git", "-C", str(ROOT), "show", "8069a3b:planner/speed.py"], capture_output=True,
                              text=True, check=True).stdout
               .replace("tunecost.planner.gpus", "tunecost.planner.market.gpus")  # moved since (issue 19)
               .replace("tunecost.planner.shapes", "tunecost.planner.model.shapes")
               .replace("tunecost.planner.targets", "tunecost.planner.model.targets"))
spec = importlib.util.spec_from_file_location("old_speed", OLD)
old = importlib.util.module_from_spec(spec); spec.loader.exec_module(old)
from validation.calibration import load_rows
from tunecost.planner.market.gpus import get_gpu
from tunecost.planner.model.shapes import resolve_shape
from validation.speed_calibration import SPEED_CASES, measured_tokens_per_sec
rows = load_rows(ROOT / "tests" / "data" / "published_runs.csv")
def kind(s): return "full" if s.method.value == "full" else "qlora" if s.method.value == "qlora" else "lora"
def pred(c, eff):
    old.EFFICIENCY = eff
    e = old.estimate_speed(c.spec, resolve_shape(c.spec), get_gpu(c.gpu), c.gpu_count, c.parallelism)
    return e.tokens_per_sec_per_gpu * (old.COMPILE_SPEEDUP if c.compiled else 1)
SHIPPED = dict(old.EFFICIENCY)
def refit(cases):
    ratios = {}
    for c in cases:
        cell = (kind(c.spec), old.gpu_class(get_gpu(c.gpu)))
        ratios.setdefault(cell, []).append(SHIPPED[cell] * measured_tokens_per_sec(c, rows) / pred(c, SHIPPED))
    out = {}
    for cell in SHIPPED:
        same = [r for (k, _), v in ratios.items() if k == cell[0] for r in v]
        out[cell] = median(ratios.get(cell) or same or [r for v in ratios.values() for r in v])
    return out
recs = []
long_only = [c for c in SPEED_CASES if c.micro_steps is None]  # the old fit used the tokens/s rows only
for c in SPEED_CASES:
    m = measured_tokens_per_sec(c, rows)
    p_in = pred(c, SHIPPED)
    p_lo = pred(c, refit([k for k in long_only if k.source != c.source]))
    recs.append(dict(row_id=c.row_id, gpus=c.gpu_count, measured=m, shipped=p_in, f_shipped=max(p_in/m, m/p_in),
                     loso=p_lo, f_loso=max(p_lo/m, m/p_lo)))
df = pd.DataFrame(recs)
def summ(col, d):
    multi = d[d.gpus > 1][col]
    return dict(n=len(d), median=round(float(d[col].median()), 2), p90=round(float(d[col].quantile(.9)), 2),
                max=round(float(d[col].max()), 2), multi_gpu_max=round(float(multi.max()), 2) if len(multi) else None)
out = []
for name, d in [("all 33 rows", df), ("15 tokens/s rows (torchtune)", df[~df.row_id.str.startswith("LG")]),
                ("18 litgpt wall-time rows", df[df.row_id.str.startswith("LG")])]:
    out.append({"rows": name, "as shipped": summ("f_shipped", d), "LOSO": summ("f_loso", d)})
print(pd.DataFrame([{"rows": o["rows"], "set": k, **o[k]} for o in out for k in ("as shipped", "LOSO")])
      .to_markdown(index=False))
print()
print(df.round(2).to_markdown(index=False))
