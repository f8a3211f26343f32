"""The offers loader: shipped tables, refreshed tables, user CSV overrides, validation and staleness."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tunecost.planner.errors import UserError
from tunecost.planner.market.offers import OFFER_COLUMNS, load_prices, staleness, usable_gpu_memory
from tunecost.planner.market.skypilot_catalog import flag_suspect

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def shipped():
    return load_prices(home=Path("/nonexistent-tunecost-home"), today=TODAY)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_columns_and_types(shipped):
    df = shipped.offers
    assert list(df.columns) == OFFER_COLUMNS
    assert len(df) > 3000
    assert df["gpu_count"].dtype.kind == "i" and (df["gpu_count"] >= 1).all()
    for col in ("gpu_memory_gib", "price_per_hour", "spot_price_per_hour", "vcpus", "memory_gib"):
        assert df[col].dtype.kind == "f", col
    for col in ("provider", "region", "zone", "instance_type", "gpu", "as_of", "source", "flag"):
        assert df[col].map(type).eq(str).all(), col
    assert df["gpu_memory_gib"].notna().all(), "gpu memory must be filled from gpus.csv where the catalog has none"
    assert (df["price_per_hour"].notna() | df["spot_price_per_hour"].notna()).all()
    assert df["source"].ne("").all()
    assert shipped.sources[0] == "tunecost.pricing_data/offers.csv"


def test_azure_gpu_memory_filled_from_gpus_csv(shipped):
    df = shipped.offers
    nd = df[(df["provider"] == "azure") & (df["instance_type"] == "Standard_ND96isr_H100_v5")]
    assert not nd.empty and (nd["gpu_count"] == 8).all()
    assert (nd["gpu_memory_gib"] == 79.6).all()  # gpus.csv's 80, then the H100's usable figure (Vast's 79.6)


def test_one_chip_gets_one_usable_gib_figure_the_smallest_stated(shipped):
    """Snapshot: AWS states L4 22.4 / L40S 44.7 (usable), RunPod/GCP/Shadeform 24 / 48 (GB in a MiB field)."""
    df = shipped.offers
    for gpu, usable in (("L4", 22.4), ("L40S", 44.7), ("H100", 79.6), ("A100-80GB", 80.0), ("T4", 16.0)):
        assert set(df.loc[df["gpu"] == gpu, "gpu_memory_gib"]) == {usable}, gpu
    runpod_l4 = df[(df["provider"] == "runpod") & (df["gpu"] == "L4")]
    assert not runpod_l4.empty and (runpod_l4["gpu_memory_gib"] == 22.4).all()
    assert set(df.loc[df["gpu"] == "RTX4090", "gpu_memory_gib"]) == {24.0, 48.0}  # a 48 GB variant is not the chip


def test_usable_memory_rule_on_a_small_frame():
    rows = [("aws", "L4", 22.4), ("runpod", "L4", 24.0), ("vast", "RTX4090", 48.0), ("lium", "RTX4090", 24.0),
            ("user", "L4", 20.0)]
    df = pd.DataFrame([dict(provider=p, gpu=g, gpu_memory_gib=m) for p, g, m in rows])
    assert usable_gpu_memory(df)["gpu_memory_gib"].tolist() == [22.4, 22.4, 48.0, 24.0, 20.0]


def test_suspect_rows_flagged_not_dropped(shipped):
    df = shipped.offers
    gcp_h100 = df[(df["provider"] == "gcp") & (df["gpu"] == "H100")]
    low = gcp_h100[gcp_h100["price_per_hour"] / gcp_h100["gpu_count"] < 8]
    assert len(low) > 0 and (low["flag"] != "").all()
    # us-east4 a3-highgpu-8g (~87.8 $/h) is the plausible list price: kept unflagged
    east4 = gcp_h100[(gcp_h100["instance_type"] == "a3-highgpu-8g") & (gcp_h100["region"] == "us-east4")]
    assert not east4.empty and (east4["flag"] == "").all()
    spot_above = df["spot_price_per_hour"] > df["price_per_hour"] * 1.001
    assert (df.loc[spot_above, "flag"] != "").all()
    assert (df.loc[df["provider"] == "mithril", "flag"] != "").all()
    azure_h100 = df[(df["provider"] == "azure") & df["gpu"].str.startswith("H100")]
    assert len(azure_h100) == 11 and azure_h100["spot_price_per_hour"].isna().all()
    assert azure_h100["price_per_hour"].notna().all()


def test_aws_spot_rounding_not_flagged(shipped):
    df = shipped.offers
    aws = df[df["provider"] == "aws"]
    hair = aws[(aws["spot_price_per_hour"] > aws["price_per_hour"])]
    assert len(hair) > 0 and (hair["flag"] == "").all()


def test_retired_azure_ncv3_dropped(shipped):
    assert not shipped.offers["instance_type"].str.endswith("s_v3").any()


def test_flag_suspect_rules_on_a_small_frame():
    frame = pd.DataFrame([
        ("gcp", "H100", 8, 43.06615, 47.86592),   # 4.20 $/GPU-h group, spot above on-demand
        ("gcp", "H100", 8, 87.83233, 34.16),      # us-east4, plausible
        ("aws", "A10G", 1, 18.08518, 18.0852),    # spot rounding
        ("azure", "H100", 8, 98.32, 98.32),       # spot copied from on-demand
    ], columns=["provider", "gpu", "gpu_count", "price_per_hour", "spot_price_per_hour"])
    out = flag_suspect(frame)
    assert out["flag"].tolist()[1:3] == ["", ""]
    assert out["flag"][0].startswith("spot above on-demand")
    assert math.isnan(out["spot_price_per_hour"][3]) and out["flag"][3] == ""


def test_undated_snapshot_warning(shipped):
    assert shipped.as_of == "undated snapshot (after 2025-09-10)"
    assert any("undated snapshot taken after 2025-09-10" in w and "tunecost prices refresh" in w
               for w in shipped.warnings)


def test_staleness_over_90_days():
    frame = pd.DataFrame({"as_of": ["2026-08-01", "2026-11-01"], "provider": ["runpod", "lambda"]})
    as_of, warnings = staleness(frame, TODAY)
    assert as_of == "2026-08-01"
    assert len(warnings) == 1 and "older than 90 days" in warnings[0] and "runpod" in warnings[0]
    assert "lambda" not in warnings[0]
    as_of, warnings = staleness(frame, date(2026, 10, 30))  # exactly 90 days after 2026-08-01
    assert warnings == []


def test_user_csv_overrides_and_adds(tmp_path, shipped):
    base = shipped.offers
    target = base[(base["provider"] == "runpod") & (base["instance_type"] == "1x_L4_SECURE")].iloc[0]
    csv_path = write(tmp_path / "prices.csv",
                     "provider,region,zone,instance_type,gpu,gpu_count,price_per_hour,spot_price_per_hour,as_of\n"
                     f"runpod,{target.region},{target.zone},1x_L4_SECURE,L4,1,1.11,,2026-11-20\n"
                     "acme,eu-1,,acme.h100x1,h100,1,2.50,1.00,\n")
    tables = load_prices(user_csv=csv_path, home=tmp_path / "home", today=TODAY)
    df = tables.offers
    assert len(df) == len(base) + 1
    mine = df[(df["provider"] == "runpod") & (df["instance_type"] == "1x_L4_SECURE")
              & (df["zone"] == target.zone) & (df["region"] == target.region)]
    assert mine["price_per_hour"].tolist() == [1.11] and math.isnan(mine["spot_price_per_hour"].iloc[0])
    assert mine["as_of"].tolist() == ["2026-11-20"] and mine["source"].tolist() == ["user file prices.csv"]
    other_zone = df[(df["provider"] == "runpod") & (df["instance_type"] == "1x_L4_SECURE")
                    & (df["zone"] != target.zone)]
    assert (other_zone["price_per_hour"] == target.price_per_hour).all()
    acme = df[df["provider"] == "acme"].iloc[0]
    assert acme.gpu == "H100" and acme.gpu_memory_gib == 79.6 and acme.as_of == date.today().isoformat()
    assert tables.sources[-1] == str(csv_path)


@pytest.mark.parametrize("body, expected", [
    ("provider,instance_type,gpu,gpu_count,price_per_hour\nacme,x,H100,1,1.0\nacme,y,H100,1,abc\n",
     "prices.csv line 3, column price_per_hour: 'abc' is not a number (expected USD per hour, e.g. 1.29)"),
    ("provider,instance_type,gpu,gpu_count,price_per_hour\nacme,x,H100,two,1.0\n",
     "prices.csv line 2, column gpu_count: 'two' is not a whole number"),
    ("provider,instance_type,gpu,gpu_count,price_per_hour\nacme,x,H1OO-SXM,1,1.0\n",
     "prices.csv line 2, column gpu: unknown GPU 'H1OO-SXM'"),
    ("provider,instance_type,gpu,gpu_count,price_per_hour,as_of\nacme,x,H100,1,1.0,11/2026\n",
     "prices.csv line 2, column as_of: '11/2026' is not a date (expected YYYY-MM-DD"),
    ("provider,instance_type,gpu,gpu_count,price_per_hour\nacme,x,H100,1,-2\n",
     "prices.csv line 2, column price_per_hour: '-2' is not a non-negative number"),
    ("provider,instance_type,gpu,gpu_count,prce_per_hour\n", "prices.csv line 1: unknown column 'prce_per_hour'"),
    ("provider,gpu,gpu_count,price_per_hour\n", "prices.csv line 1: missing column 'instance_type'"),
    ("provider,instance_type,gpu,gpu_count,price_per_hour,spot_price_per_hour\nacme,x,H100,1,,\n",
     "prices.csv line 2: no price"),
    ("provider,instance_type,gpu,gpu_count,price_per_hour\nacme,x,H100,1,1\nacme,x,H100,1,2\n",
     "prices.csv line 3: same provider, region, zone and instance_type as line 2"),
    ("provider,instance_type,gpu,gpu_count,price_per_hour\nacme,x,H100,1,1,9\n",
     "prices.csv line 2: 6 fields but the header has 5"),
    ("", "prices.csv: empty file"),
])
def test_malformed_user_csv_names_file_line_column(tmp_path, monkeypatch, body, expected):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "prices.csv", body)
    with pytest.raises(UserError) as err:
        load_prices(user_csv=Path("prices.csv"), home=tmp_path / "home", today=TODAY)
    assert str(err.value).startswith(expected)
    assert "\n" not in str(err.value)


def test_missing_user_csv(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        load_prices(user_csv=tmp_path / "nope.csv", home=tmp_path)


SOLD = {  # provider -> common fine-tuning GPUs it sells (Azure has no L4/L40S/RTX; GCP no L40S/RTX; ...)
    "runpod": ["L4", "L40S", "A100-80GB", "H100", "RTX4090", "RTX3090"],
    "lambda": ["A10", "A100", "A100-80GB", "H100"],
    "aws": ["A10G", "L4", "L40S", "A100", "A100-80GB", "H100"],
    "gcp": ["L4", "A100", "A100-80GB", "H100"],
    "azure": ["A10", "A100", "A100-80GB", "H100"],
}


@pytest.mark.parametrize("provider", sorted(SOLD))
def test_required_provider_gpu_pairs_have_a_usable_price(shipped, provider):
    df = shipped.offers
    usable = df[(df["provider"] == provider) & (df["flag"] == "") & df["price_per_hour"].notna()]
    missing = [gpu for gpu in SOLD[provider] if not (usable["gpu"] == gpu).any()]
    assert missing == []


def test_list_prices_are_dated_and_sourced(shipped):
    listed = shipped.offers[shipped.offers["source"].str.startswith(("https://", "Google Cloud"))]
    assert len(listed) >= 40
    assert listed["as_of"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    superseded = shipped.offers[shipped.offers["flag"].str.startswith("superseded by the dated list price")]
    assert {"runpod", "lambda"} <= set(superseded["provider"])
