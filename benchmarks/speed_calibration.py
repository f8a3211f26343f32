"""Speed model calibration, reported honestly: fitted constants with their rows, in-sample and leave-one-source-out
factors (max(pred/actual, actual/pred)) per row, per method x GPU class, single vs multi-GPU.

Recorded in benchmarks/speed_calibration.md. Run: python benchmarks/speed_calibration.py [published_runs.csv]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from validation.calibration import load_rows
from tunecost.planner.model.speed import FITTED
from validation.speed_calibration import SPEED_CASES, fit, leave_one_source_out, points

DEFAULT_CSV = Path(__file__).resolve().parents[1] / "tests" / "data" / "published_runs.csv"
GOAL = "goal on rows not fitted on: median <= x1.25, p90 <= x2.0, no multi-GPU row above x2.5"


def frame(pts) -> pd.DataFrame:
    return pd.DataFrame([{**p.model_dump(), "factor": p.factor, "signed": p.predicted / p.measured} for p in pts])


def summary(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Factor quantiles per group, and which side the model errs on: rows predicted too fast (pred > measured)
    and the median signed ratio predicted / measured."""
    g = df.groupby(by)
    return pd.DataFrame({"n": g.size(), "median": g["factor"].median(), "p90": g["factor"].quantile(0.9),
                         "max": g["factor"].max(), "too fast": g["signed"].apply(lambda s: int((s > 1).sum())),
                         "median pred/meas": g["signed"].median()}).round(2)


def overall(df: pd.DataFrame, label: str) -> dict:
    multi = df[df["gpus"] > 1]["factor"]
    return {"set": label, "n": len(df), "median": round(df["factor"].median(), 2),
            "p90": round(df["factor"].quantile(0.9), 2), "max": round(df["factor"].max(), 2),
            "multi-GPU max": round(multi.max(), 2) if len(multi) else None}


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CSV
    rows = load_rows(path)
    constants, used = fit(SPEED_CASES, rows)
    print(f"Fresh fit equals the constants in planner/model/speed.py: {constants == FITTED}\n")
    print("## Fitted constants and the rows each was fitted on\n")
    for (kind, cls), value in sorted(constants.efficiency.items()):
        print(f"- efficiency {kind}/{cls}: {value:.2f} ({', '.join(used[f'efficiency {kind}/{cls}'])})")
    print(f"- launch overhead: {constants.launch_seconds * 1e3:.2f} ms per layer and pass; fixed step overhead: "
          f"{constants.step_seconds * 1e3:.0f} ms per optimizer step ({', '.join(used['launch_seconds, step_seconds'])})")
    print(f"- QLoRA dequantization: {constants.dequant_bytes_per_param:g} B per 4-bit weight and pass "
          f"({', '.join(used['dequant_bytes_per_param'])})")
    inside, loso = frame(points(SPEED_CASES, rows, constants)), frame(leave_one_source_out(SPEED_CASES, rows))
    print(f"\n## Summary ({GOAL})\n")
    tt, lg = loso[loso["source"].str.startswith("TT")], loso[loso["source"].str.startswith("LG")]
    aa = loso[loso["source"] == "AA"]
    print(pd.DataFrame([overall(inside, "in-sample"), overall(loso, "leave-one-source-out"),
                        overall(tt, "LOSO, 15 torchtune tokens/s rows"), overall(lg, "LOSO, 18 litgpt wall-time rows"),
                        overall(aa, "LOSO, 16 Answer.AI fsdp_qlora rows")])
          .to_markdown(index=False))
    print("\n## Leave-one-source-out by source\n")
    print(summary(loso, ["source"]).to_markdown())
    print("\n## Leave-one-source-out by method and GPU class\n")
    print(summary(loso, ["method", "gpu_class"]).to_markdown())
    print("\n## Leave-one-source-out by GPU class and parallelism (link: nvlink, pcie_host = PCIe without P2P)\n")
    print(summary(loso.assign(link=loso["link"].replace("", "-")), ["gpu_class", "parallelism", "link"])
          .to_markdown())
    print("\n## Every row: tokens/s per GPU, in-sample and leave-one-source-out\n")
    table = inside[["row_id", "method", "gpu_class", "gpus", "measured", "predicted", "factor"]].copy()
    table["LOSO predicted"] = loso.set_index("row_id").loc[table["row_id"], "predicted"].values
    table["LOSO factor"] = loso.set_index("row_id").loc[table["row_id"], "factor"].values
    print(table.round(2).to_markdown(index=False))


if __name__ == "__main__":
    main()
