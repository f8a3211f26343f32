"""How well do the memory and speed estimates hold up against published runs?

Prints, per method (full / lora / qlora) and per framework, n, median and p90 absolute relative error for peak
memory, in sample and leaving each source out, beside the planner without a preset (the bundled job's storage),
the peers ftuneai (benchmarks/ftune_estimates.csv, recorded by benchmarks/record_ftune.py) and accelerate's
weights x 4 rule, and the share of rows each estimator puts below the measurement; then tokens/s, every row's
estimate beside its measurement, and the worst rows. Output is recorded in benchmarks/estimate_accuracy.md (the
headline table also in README). `--write-bands` also rewrites planner/model/memory_bands.csv, the out-of-sample errors
the memory band is built from (planner/model/bands.py).
Run: python benchmarks/estimate_accuracy.py [--write-bands] [path/to/published_runs.csv]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from tunecost.planner.model import bands
from validation.accuracy import ACCELERATE_RULE, Goal, band_errors, score
from validation.calibration import (CASES, EXCLUDED, compare, fit_overheads, leave_one_out, load_rows,
                                         measured_gib, physics_gaps)
from tunecost.planner.model.memory import estimate_memory
from tunecost.planner.model.shapes import resolve_shape

DEFAULT_CSV = Path(__file__).resolve().parents[1] / "tests" / "data" / "published_runs.csv"
FTUNE_CSV = Path(__file__).with_name("ftune_estimates.csv")
ESTIMATORS = {"tunecost": "tunecost in sample", "tunecost_loso": "tunecost leave-one-source-out",
              "no_preset": "no preset (bundled job)", "ftune": "ftuneai 0.4.1", "accelerate": "accelerate x4 rule"}
BANDS_CSV = Path(__file__).resolve().parents[1] / "planner" / "model" / bands.BANDS_FILE


def peers(path: Path) -> pd.DataFrame:
    """Every compared memory row with each estimator's figure and its |relative error|."""
    df = pd.DataFrame([s.model_dump() for s in score(path, FTUNE_CSV)])
    for name in ESTIMATORS:
        df[f"signed_{name}"] = (df[name] - df["measured"]) / df["measured"]
        df[f"err_{name}"] = df[f"signed_{name}"].abs()
    return df


def share_under(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group, the share of rows each estimator puts below the measurement (the side that ends in OOM)."""
    g = df.groupby(by)
    out = pd.DataFrame({"n": g.size(), **{label: g[f"signed_{name}"].apply(lambda e: f"{(e < 0).mean():.0%}")
                                          for name, label in ESTIMATORS.items()}})
    out.index = [" ".join(i) if isinstance(i, tuple) else i for i in out.index]
    return out


def bands_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per framework and method the band is computed for: n, the 10th / 90th percentile out-of-sample error, and
    the band it puts around a 10 GiB estimate."""
    errors = [(r.row_id, r.framework, r.method, r.tunecost_loso / r.measured - 1) for r in df.itertuples()]
    rows = []
    for s in bands.error_sets(errors):
        p10, p90 = s.quantile(bands.LOW_Q), s.quantile(bands.HIGH_Q)
        rows.append({"framework": s.framework, "method": s.method, "n": len(s.errors), "p10 error": f"{p10:+.1%}",
                     "p90 error": f"{p90:+.1%}",
                     "10 GiB estimate shown as": f"10.0 ({10 / (1 + max(p90, 0)):.1f}-{10 / (1 + min(p10, 0)):.1f})"})
    return pd.DataFrame(rows)


def peer_summary(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """n, then 'median / p90' of |error| per estimator, per group."""
    g = df.groupby(by)
    cols: dict[str, pd.Series] = {"n": g.size()}
    for name, label in ESTIMATORS.items():
        med, p90 = g[f"err_{name}"].median(), g[f"err_{name}"].quantile(0.9)
        cols[label] = med.map("{:.1%}".format) + " / " + p90.map("{:.1%}".format)
    out = pd.DataFrame(cols)
    out.index = [" ".join(i) if isinstance(i, tuple) else i for i in out.index]
    return out


def goals(df: pd.DataFrame, by: list[str]) -> list[str]:
    """Per group: the goal met or not, beside no preset and the two peers."""
    out = []
    for key, rows in df.groupby(by):
        goal = Goal.of(rows["err_tunecost_loso"], rows["err_no_preset"])
        beaten = [p for p in ("ftune", "accelerate") if goal.median < rows[f"err_{p}"].median()
                  and goal.p90 < rows[f"err_{p}"].quantile(0.9)]
        name, n = " ".join(key) if isinstance(key, tuple) else key, len(rows)
        out.append(f"- {name} ({n} row{'s' * (n != 1)}): leave-one-source-out median {goal.median:.1%}, p90 "
                   f"{goal.p90:.1%}; no preset {goal.bare_median:.1%} / {goal.bare_p90:.1%}; better than "
                   f"{' and '.join(beaten) or 'neither peer'} on both: goal {'met' if goal.met else 'NOT met'}")
    return out


def table(path: Path) -> pd.DataFrame:
    df = pd.DataFrame([{**c.model_dump(), "rel_error": c.rel_error} for c in compare(path)])
    df["abs_error"] = df["rel_error"].abs()
    return df


def summary(df: pd.DataFrame) -> pd.DataFrame:
    g = df.groupby(["quantity", "method"])["abs_error"]
    signed = df.groupby(["quantity", "method"])["rel_error"]
    out = pd.DataFrame({"n": g.size(), "median": g.median(), "p90": g.quantile(0.9),
                        "bias (median signed)": signed.median(), "share under": signed.apply(lambda e: (e < 0).mean())})
    return out.round(3)


def memory_checks(path: Path) -> pd.DataFrame:
    """Per memory row: leave-one-out error (the row's group overhead fitted without it) and the fit-decision
    error (peak_gib, with CUDA context and allocator slack, against the measured peak)."""
    rows, gaps = load_rows(path), physics_gaps(path)
    loo = leave_one_out(gaps)
    out = []
    for case in CASES:
        if case.row_id not in loo:
            continue
        peak = estimate_memory(case.spec, resolve_shape(case.spec), case.gpu_count, case.parallelism,
                               stack=case.stack).peak_gib
        out.append({"row_id": case.row_id, "method": case.spec.method.value, "loo": loo[case.row_id],
                    "decision": peak / measured_gib(rows[case.row_id]) - 1})
    return pd.DataFrame(out)


def memory_summary(checks: pd.DataFrame) -> pd.DataFrame:
    g = checks.groupby("method")
    return pd.DataFrame({
        "n": g.size(), "LOO median |err|": g["loo"].apply(lambda e: e.abs().median()),
        "LOO p90 |err|": g["loo"].apply(lambda e: e.abs().quantile(0.9)), "LOO bias": g["loo"].median(),
        "LOO share under": g["loo"].apply(lambda e: (e < 0).mean()),
        "peak_gib bias": g["decision"].median(), "peak_gib share under": g["decision"].apply(lambda e: (e < 0).mean()),
    }).round(3)


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--write-bands"]
    path = Path(args[0]) if args else DEFAULT_CSV
    if "--write-bands" in sys.argv:
        BANDS_CSV.write_text(bands.to_csv(bands.error_sets(band_errors(score(path, FTUNE_CSV)))), encoding="utf-8")
    df = table(path)
    pd.set_option("display.width", 200)
    mem = peers(path)
    print("## Peak memory beside the peers (|estimate - measured| / measured)\n")
    print("tunecost = the planner with the framework preset each row ran (torchtune, litgpt, hf-fsdp-qlora, "
          "axolotl) and the row's own config knobs (loss kernel); leave one source out = every fitted constant "
          "fitted without the row's source (row-id prefix; a framework with no other source gets the pooled "
          "constant of the other frameworks' rows). no preset = the bundled job's storage (`--framework tunecost`), "
          "which has no fitted constant. ftuneai: its CLI "
          "`ftune estimate ... -o json` per row (benchmarks/ftune_estimates.csv). accelerate: " + ACCELERATE_RULE
          + ".\n")
    print("Each cell: median / p90 of |estimate - measured| / measured.\n")
    print("### Per method\n")
    print(peer_summary(mem, ["method"]).to_markdown())
    print("\n### Per framework (each preset over all its rows)\n")
    print(peer_summary(mem, ["framework"]).to_markdown())
    print("\n### Per framework and method\n")
    print(peer_summary(mem, ["framework", "method"]).to_markdown())
    print("\n### Share of rows below the measurement (the side that ends in an out-of-memory crash)\n")
    print(share_under(mem, ["framework"]).to_markdown())
    print()
    print(share_under(mem, ["framework", "method"]).to_markdown())
    print("\nAll rows:", ", ".join(f"{label} {(mem[f'signed_{name}'] < 0).mean():.0%}"
                                    for name, label in ESTIMATORS.items()))
    print("\n### Goal per framework: <= 10 % median and <= 25 % p90 out of sample, never worse than no preset\n")
    print("\n".join(goals(mem, ["framework"])))
    print("\nThe same goal per framework and method (fewer rows per cell):\n")
    print("\n".join(goals(mem, ["framework", "method"])))
    print("\n### The memory band (planner/model/memory_bands.csv): 10th-90th percentile out-of-sample error\n")
    print("An estimate E is shown as E (E / (1 + p90) - E / (1 + p10)); the fit is judged by the upper edge. "
          "Framework x method pairs with fewer than 3 rows use their method's rows over every framework.\n")
    print(bands_table(mem).to_markdown(index=False))
    print("\n### Every memory row (GiB)\n")
    print(mem[["row_id", "framework", "method", "measured", *ESTIMATORS]].round(2).to_markdown(index=False))
    print()
    print("## Per method: absolute relative error |estimate - measured| / measured\n")
    print(summary(df).to_markdown())
    checks = memory_checks(path)
    print("\n## Memory out of sample and as the fit decision sees it\n")
    print("LOO: each row's calibrated-overhead group refitted without the row. peak_gib: the planner's per-GPU "
          "figure (+ CUDA context + allocator slack) against the measured peak.\n")
    print(memory_summary(checks).to_markdown())
    print("\nFitted calibrated overheads (median of measured / physics - 1):\n")
    for group, (fraction, ids) in fit_overheads(physics_gaps(path)).items():
        print(f"- {group}: {fraction:+.3f} over {len(ids)} rows ({', '.join(ids)})")
    print("\n## Every compared row (memory in GiB as measured, speed in tokens/s per GPU)\n")
    shown = df[["row_id", "quantity", "method", "estimate", "measured", "rel_error"]].round(3)
    print(shown.to_markdown(index=False))
    print("\n## Worst rows\n")
    print(df.sort_values("abs_error", ascending=False).head(8)[["row_id", "quantity", "rel_error"]]
          .round(3).to_markdown(index=False))
    print("\n## Rows not compared, and why\n")
    for rows, why in EXCLUDED.items():
        print(f"- {rows}: {why}")
    speed_only: dict[str, list[str]] = {}
    for case in CASES:
        if not case.memory:
            speed_only.setdefault(case.why, []).append(case.row_id)
    for why, ids in speed_only.items():
        print(f"- {', '.join(ids)} (memory not compared; speed is): {why}")


if __name__ == "__main__":
    main()
