"""Turn SkyPilot catalog `vms.csv` frames into our offer columns, and flag the prices the catalog gets wrong.

Pure pandas, no `sky` import: the launcher's refresh reads the catalog through SkyPilot and hands the frame here,
and the shipped-table build uses the same rules, so a refreshed table is cleaned exactly like the shipped one.
"""

from __future__ import annotations

import math

import pandas as pd

from tunecost.planner.market.providers import find_provider

VMS_COLUMNS = ["InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs", "MemoryGiB", "GpuInfo", "Price",
               "SpotPrice", "Region", "AvailabilityZone"]

# SkyPilot spellings of one part -> our gpus.csv name (see pricing_data/SOURCES.md, "gpu normalization").
GPU_ALIASES = {
    "A6000": "RTXA6000", "RTX-A6000": "RTXA6000", "A5000": "RTXA5000", "A4000": "RTXA4000",
    "RTX-A4000": "RTXA4000", "RTX6000Ada": "RTX6000-Ada", "RTX-6000-Ada": "RTX6000-Ada",
    "RTX-PRO-6000": "RTXPRO6000", "RTXPro6000": "RTXPRO6000", "RTXPRO6000S": "RTXPRO6000",
    "RTXPRO6000-WK": "RTXPRO6000", "H100-SXM": "H100", "H100-MEGA": "H100", "H200-SXM": "H200",
    "A100-80GB-SXM": "A100-80GB",
}

# GCP bills a2/a3/g2 VMs as host row + accelerator row; SkyPilot pairs them by these machine types
# (sky/catalog/gcp_catalog.py _ACC_INSTANCE_TYPE_DICTS). Other GPUs attach to an n1 host; we price them on
# n1-highmem-8, the host SkyPilot picks by default, as the shipped snapshot does.
GCP_HOSTS = {
    "A100": {1: ["a2-highgpu-1g"], 2: ["a2-highgpu-2g"], 4: ["a2-highgpu-4g"], 8: ["a2-highgpu-8g"],
             16: ["a2-megagpu-16g"]},
    "A100-80GB": {1: ["a2-ultragpu-1g"], 2: ["a2-ultragpu-2g"], 4: ["a2-ultragpu-4g"], 8: ["a2-ultragpu-8g"]},
    "L4": {1: ["g2-standard-4", "g2-standard-8", "g2-standard-12", "g2-standard-16", "g2-standard-32"],
           2: ["g2-standard-24"], 4: ["g2-standard-48"], 8: ["g2-standard-96"]},
    "H100": {1: ["a3-highgpu-1g"], 2: ["a3-highgpu-2g"], 4: ["a3-highgpu-4g"], 8: ["a3-highgpu-8g"]},
    "H100-MEGA": {8: ["a3-megagpu-8g"]},
    "H200": {8: ["a3-ultragpu-8g"]},
    "B200": {8: ["a4-highgpu-8g"]},
    "RTXPRO6000": {1: ["g4-standard-48"], 2: ["g4-standard-96"], 4: ["g4-standard-192"], 8: ["g4-standard-384"]},
}
GCP_N1_HOST = "n1-highmem-8"

# Spot may exceed on-demand by catalog rounding (AWS rounds spot to 4 decimals); beyond this it is a bad SKU.
SPOT_ROUNDING = 1e-3

# GCP accelerator SKUs the catalog maps to implausibly low on-demand prices (pricing_snapshot/SOURCES.md §3):
# H100 at ~4.20 $/GPU-h in some regions vs 9.80-12.74 elsewhere; A100 80GB / 40GB below the US list price in
# regions that cost more than the US. Threshold = whole-VM $/GPU-h under which the row is not believable.
GCP_MIN_PER_GPU_HOUR = {"H100": 8.0, "A100-80GB": 4.5, "A100": 3.0}

FLAG_SPOT_ABOVE = "spot above on-demand in the catalog (suspect SKU mapping)"
FLAG_GCP_LOW = "GCP {gpu} at {per_gpu:.2f} $/GPU-h, below the {floor:.2f} list floor (suspect catalog SKU)"
FLAG_PLACEHOLDER = "placeholder price (1.00 $/GPU-h, spot = on-demand): auction floor, not a quote"


def normalize_gpu(name: str) -> str:
    """SkyPilot's accelerator name -> our gpus.csv name."""
    return GPU_ALIASES.get(name, name)


def flag_suspect(offers: pd.DataFrame) -> pd.DataFrame:
    """Fill `flag` for prices we do not believe, and blank spot prices that are a known copy of on-demand.

    Rows stay in the table (the optimizer skips flagged rows), so a user can still see and override them.
    Azure H100 spot == on-demand is a catalog quirk (no real Spot discount is that small): spot is blanked,
    on-demand kept unflagged.
    """
    df = offers.copy()
    flag = df["flag"].fillna("").astype(str) if "flag" in df else pd.Series("", index=df.index)
    od, spot = df["price_per_hour"], df["spot_price_per_hour"]

    azure_copy = (df["provider"] == "azure") & df["gpu"].str.startswith("H100") & (spot == od)
    df.loc[azure_copy, "spot_price_per_hour"] = math.nan
    spot = df["spot_price_per_hour"]

    above = spot > od * (1 + SPOT_ROUNDING)
    flag = flag.mask((flag == "") & above, FLAG_SPOT_ABOVE)

    per_gpu = od / df["gpu_count"]
    for gpu, floor in GCP_MIN_PER_GPU_HOUR.items():
        low = (df["provider"] == "gcp") & (df["gpu"] == gpu) & (per_gpu < floor)
        for idx in df.index[low & (flag == "")]:
            flag[idx] = FLAG_GCP_LOW.format(gpu=gpu, per_gpu=per_gpu[idx], floor=floor)

    placeholder = (df["provider"] == "mithril") & (per_gpu == 1.0) & (spot == od)
    flag = flag.mask((flag == "") & placeholder, FLAG_PLACEHOLDER)
    df["flag"] = flag
    return df




def _pair_gcp(vms: pd.DataFrame) -> pd.DataFrame:
    """GCP accelerator rows (no InstanceType) + their host VM row in the same zone -> one priced VM row."""
    acc = vms[vms["InstanceType"].isna() & vms["AcceleratorName"].notna()
              & ~vms["AcceleratorName"].astype(str).str.startswith("tpu")].copy()
    hosts = vms[vms["InstanceType"].notna() & vms["AcceleratorName"].isna()]
    acc["AcceleratorCount"] = acc["AcceleratorCount"].astype(int)
    acc["host"] = [GCP_HOSTS.get(name, {}).get(count, [GCP_N1_HOST])
                   for name, count in zip(acc["AcceleratorName"], acc["AcceleratorCount"])]
    acc = acc.explode("host")
    host_cols = hosts[["InstanceType", "Region", "AvailabilityZone", "vCPUs", "MemoryGiB", "Price", "SpotPrice"]]
    paired = acc.drop(columns=["InstanceType", "vCPUs", "MemoryGiB"]).merge(
        host_cols, left_on=["host", "Region", "AvailabilityZone"],
        right_on=["InstanceType", "Region", "AvailabilityZone"], suffixes=("", "_host"))
    paired["Price"] = paired["Price"] + paired["Price_host"]
    paired["SpotPrice"] = paired["SpotPrice"] + paired["SpotPrice_host"]
    n1 = paired["InstanceType"] == GCP_N1_HOST
    paired.loc[n1, "InstanceType"] = (GCP_N1_HOST + "+" + paired.loc[n1, "AcceleratorName"] + ":"
                                      + paired.loc[n1, "AcceleratorCount"].astype(str))
    return paired[vms.columns.intersection(paired.columns)]


def catalog_to_offers(vms: pd.DataFrame, provider: str, as_of: str, source: str,
                      gpu_memory_gib: dict[str, float]) -> pd.DataFrame:
    """A SkyPilot `<cloud>/vms.csv` frame -> offer rows (OFFER_COLUMNS), suspect prices flagged.

    Only GPUs we have specs for (`gpu_memory_gib`, from gpus.csv) are kept: the planner cannot estimate speed
    or memory fit on others, and TPUs, Trainium, Inferentia and fractional GPUs drop out the same way.
    """
    required = ["InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region"]
    missing = [c for c in required if c not in vms.columns]
    if missing:
        raise ValueError(f"not a SkyPilot vms.csv (missing columns {', '.join(missing)})")
    vms = vms.copy()
    for col in ("SpotPrice", "vCPUs", "MemoryGiB"):
        if col not in vms.columns:
            vms[col] = math.nan
    if "AvailabilityZone" not in vms.columns:
        vms["AvailabilityZone"] = ""
    vms["AvailabilityZone"] = vms["AvailabilityZone"].fillna("")
    direct = vms[vms["InstanceType"].notna() & vms["AcceleratorName"].notna()]
    row = find_provider(provider)
    if row is not None and row.catalog_layout == "host+accelerator":
        direct = pd.concat([direct, _pair_gcp(vms)], ignore_index=True)
    df = pd.DataFrame({
        "provider": provider,
        "region": direct["Region"].fillna("").astype(str),
        "zone": direct["AvailabilityZone"].astype(str),
        "instance_type": direct["InstanceType"].astype(str),
        "gpu": direct["AcceleratorName"].astype(str).map(normalize_gpu),
        "gpu_count": pd.to_numeric(direct["AcceleratorCount"], errors="coerce"),
        "vcpus": pd.to_numeric(direct["vCPUs"], errors="coerce"),
        "memory_gib": pd.to_numeric(direct["MemoryGiB"], errors="coerce"),
        "price_per_hour": pd.to_numeric(direct["Price"], errors="coerce").round(6),
        "spot_price_per_hour": pd.to_numeric(direct["SpotPrice"], errors="coerce").round(6),
    })
    df.loc[df["spot_price_per_hour"] <= 0, "spot_price_per_hour"] = math.nan  # Vast writes 0.00 for "none"
    df.loc[df["price_per_hour"] <= 0, "price_per_hour"] = math.nan
    keep = (df["gpu"].isin(list(gpu_memory_gib)) & (df["gpu_count"] >= 1) & (df["gpu_count"] % 1 == 0)
            & (df["price_per_hour"].notna() | df["spot_price_per_hour"].notna()))
    df = df[keep].copy()
    df["gpu_count"] = df["gpu_count"].astype(int)
    df["gpu_memory_gib"] = df["gpu"].map(gpu_memory_gib)
    df["as_of"], df["source"], df["flag"] = as_of, source, ""
    return flag_suspect(df).reset_index(drop=True)
