"""How well do the memory and speed estimates hold up against published runs?

Prints, per method (full / lora / qlora), n, median and p90 absolute relative error for peak memory and for
tokens/s, every row's estimate beside its measurement, and the worst rows. Output is recorded in
benchmarks/estimate_accuracy.md. Run: python benchmarks/estimate_accuracy.py [path/to/published_runs.csv]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from tunecost.planner.calibration import EXCLUDED, compare

DEFAULT_CSV = Path(__file__).resolve().parents[1] / "tests" / "data" / "published_runs.csv"


def table(path: Path) -> pd.DataFrame:
    df = pd.DataFrame([{**c.model_dump(), "rel_error": c.rel_error} for c in compare(path)])
    df["abs_error"] = df["rel_error"].abs()
    return df


def summary(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby(["quantity", "method"])["abs_error"]
    out = pd.DataFrame({"n": g.size(), "median": g.median(), "p90": g.quantile(0.9),
                        "bias (median signed)": df.groupby(["quantity", "method"])["rel_error"].median()})
    return out.round(3)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CSV
    df = table(path)
    pd.set_option("display.width", 200)
    print("## Per method: absolute relative error |estimate - measured| / measured\n")
    print(summary(df).to_markdown())
    print("\n## Every compared row (memory in GiB as measured, speed in tokens/s per GPU)\n")
    shown = df[["row_id", "quantity", "method", "estimate", "measured", "rel_error"]].round(3)
    print(shown.to_markdown(index=False))
    print("\n## Worst rows\n")
    print(df.sort_values("abs_error", ascending=False).head(8)[["row_id", "quantity", "rel_error"]]
          .round(3).to_markdown(index=False))
    print("\n## Rows not compared, and why\n")
    for rows, why in EXCLUDED.items():
        print(f"- {rows}: {why}")


if __name__ == "__main__":
    main()
