"""Rebuild pricing_data/offers.csv from the normalized SkyPilot-catalog snapshot (pricing_snapshot/offers.csv).

Run: python -m tunecost.pricing_data.build_offers /work/shared/pricing_snapshot/offers.csv
Kept as code so the shipped table can be regenerated and every drop or flag is reviewable (see SOURCES.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from tunecost.planner.offers import OFFER_COLUMNS, read_offer_table
from tunecost.planner.skypilot_catalog import flag_suspect

# Azure retired NCv3 (V100) on 2025-09-30: these VMs can no longer be launched, so the rows are dropped.
RETIRED = {"azure": ("Standard_NC6s_v3", "Standard_NC12s_v3", "Standard_NC24s_v3", "Standard_NC24rs_v3")}


def supersede(catalog: pd.DataFrame, listed: pd.DataFrame) -> pd.DataFrame:
    """Flag catalog rows that a dated list price replaces (same provider and instance type; an empty region or
    zone in list_prices.csv matches every region or zone). Flagged, not dropped: the catalog figure stays visible
    under `tunecost prices --all-regions`, but the optimizer uses the dated price."""
    df = catalog.copy()
    for row in listed.itertuples():
        hit = (df["provider"] == row.provider) & (df["instance_type"] == row.instance_type) & (df["flag"] == "")
        if row.region:
            hit &= df["region"] == row.region
        if row.zone:
            hit &= df["zone"] == row.zone
        price = row.price_per_hour if row.price_per_hour == row.price_per_hour else row.spot_price_per_hour
        df.loc[hit, "flag"] = f"superseded by the dated list price ({price:.2f} $/h as of {row.as_of})"
    return df


def build(snapshot: pd.DataFrame, listed: pd.DataFrame) -> pd.DataFrame:
    """Snapshot columns -> OFFER_COLUMNS: undated rows, source = catalog file@commit, suspect prices flagged,
    rows replaced by list_prices.csv flagged as superseded."""
    df = snapshot.copy()
    for provider, types in RETIRED.items():
        df = df[~((df["provider"] == provider) & df["instance_type"].isin(types))]
    df["region"] = df["region"].fillna("")
    df["zone"] = df["zone"].fillna("")
    df["as_of"] = ""
    df["source"] = "skypilot-catalog " + df["source_file"] + "@" + df["source_commit"]
    df["flag"] = ""
    df = supersede(flag_suspect(df), listed)
    return df[OFFER_COLUMNS].sort_values(["provider", "gpu", "instance_type", "region", "zone"], kind="stable")


def main(argv: list[str]) -> None:
    src = Path(argv[1]) if len(argv) > 1 else Path("/work/shared/pricing_snapshot/offers.csv")
    out = Path(__file__).with_name("offers.csv")
    listed = read_offer_table(Path(__file__).with_name("list_prices.csv"))
    table = build(pd.read_csv(src, keep_default_na=False, na_values=[""]), listed)
    table.to_csv(out, index=False)
    print(f"wrote {len(table)} rows to {out} ({(table['flag'] != '').sum()} flagged)")


if __name__ == "__main__":
    main(sys.argv)
