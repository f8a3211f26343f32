"""`tunecost prices refresh` through SkyPilot's real catalog reader, with no network.

The catalog files sit in SkyPilot's own cache layout under a temporary HOME / SKY_RUNTIME_DIR, so the user's
~/.sky is never touched. Downloads are made to fail (or hang) by pointing HTTPS_PROXY at a local port: the
network is the one boundary replaced, because CI cannot be trusted to have or lack it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tunecost.planner.market.gpus import load_gpus
from tunecost.planner.market.offers import OFFER_COLUMNS, load_prices
from tunecost.planner.market.skypilot_catalog import catalog_to_offers

TUNECOST = str(Path(sys.executable).with_name("tunecost"))
SCHEMA = "v8"  # sky.skylet.constants.CATALOG_SCHEMA_VERSION in skypilot 0.14.1 (checked by the test below)

LAMBDA_VMS = """InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,SpotPrice,Region,GpuInfo
gpu_1x_h100_sxm5,H100,1,26,225,3.29,,us-east-1,"{'Gpus': [{'Name': 'H100', 'Manufacturer': 'NVIDIA', 'Count': 1, 'MemoryInfo': {'SizeInMiB': 81920}}], 'TotalGpuMemoryInMiB': 81920}"
gpu_1x_a10,A10,1,30,200,0.75,,us-east-1,"{'Gpus': [{'Name': 'A10', 'Manufacturer': 'NVIDIA', 'Count': 1, 'MemoryInfo': {'SizeInMiB': 24576}}], 'TotalGpuMemoryInMiB': 24576}"
cpu_4x_general,,,4,16,0.12,,us-east-1,
"""

GCP_VMS = """InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,AvailabilityZone,Price,SpotPrice
a2-highgpu-1g,12.0,85.0,,,,us-central1,us-central1-a,0.73948,0.44371
n1-highmem-8,8.0,52.0,,,,us-central1,us-central1-a,0.47321,0.15896
,,,A100,1.0,A100,us-central1,us-central1-a,2.93391,1.48431
,,,T4,1.0,T4,us-central1,us-central1-a,0.35,0.1915
,,,H100,8.0,H100,us-central1,us-central1-a,33.60609,42.7096
a3-highgpu-8g,208.0,1872.0,,,,us-central1,us-central1-a,9.46006,5.15644
,,,tpu-v4-8,1.0,,us-central1,us-central1-a,12.88,3.86
"""


def sky_env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HOME=str(tmp_path), SKY_RUNTIME_DIR=str(tmp_path), TUNECOST_HOME=str(tmp_path / "tc"),
               HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", NO_PROXY="", COLUMNS="200")
    env.update(extra)
    return env


def place_catalog(tmp_path: Path, cloud: str, text: str, mtime: float) -> Path:
    path = tmp_path / ".sky" / "catalogs" / SCHEMA / cloud / "vms.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, (mtime, mtime))
    return path


def run(args: list[str], env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([TUNECOST, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_schema_version_matches_installed_skypilot():
    from sky.skylet import constants

    assert constants.CATALOG_SCHEMA_VERSION == SCHEMA


def test_refresh_from_cached_catalog(tmp_path):
    stamp = time.mktime((2026, 10, 1, 12, 0, 0, 0, 0, -1))
    place_catalog(tmp_path, "lambda", LAMBDA_VMS, stamp)
    place_catalog(tmp_path, "gcp", GCP_VMS, stamp)
    done = run(["prices", "refresh", "--providers", "lambda,gcp"], sky_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "lambda: 2 offers, prices as of 2026-10-01 (skypilot catalog v8/lambda/vms.csv)" in done.stdout

    out = tmp_path / "tc" / "prices"
    assert sorted(p.name for p in out.iterdir()) == ["gcp.csv", "lambda.csv"]  # no temp files left behind
    lam = pd.read_csv(out / "lambda.csv", keep_default_na=False)
    assert list(lam.columns) == OFFER_COLUMNS
    assert set(lam["as_of"]) == {"2026-10-01"} and set(lam["source"]) == {"skypilot catalog v8/lambda/vms.csv"}

    tables = load_prices(home=tmp_path / "tc", today=date(2026, 11, 23))
    lam_rows = tables.offers[tables.offers["provider"] == "lambda"]
    assert sorted(lam_rows["instance_type"]) == ["gpu_1x_a10", "gpu_1x_h100_sxm5"]  # shipped lambda rows replaced
    assert lam_rows.set_index("instance_type").loc["gpu_1x_a10", "price_per_hour"] == 0.75
    assert str(out / "lambda.csv") in tables.sources
    assert (tables.offers["provider"] == "aws").sum() > 100  # providers not refreshed keep their shipped rows
    gcp = tables.offers[tables.offers["provider"] == "gcp"].set_index("instance_type")
    assert gcp.loc["a2-highgpu-1g", "price_per_hour"] == pytest.approx(3.67339)  # host + GPU, as SOURCES.md checks
    assert gcp.loc["n1-highmem-8+T4:1", "spot_price_per_hour"] == pytest.approx(0.35046)
    assert gcp.loc["a3-highgpu-8g", "flag"].startswith("spot above on-demand")


def test_refresh_without_network_or_cache_is_one_line(tmp_path):
    started = time.monotonic()
    done = run(["prices", "refresh", "--providers", "runpod"], sky_env(tmp_path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot refresh runpod: SkyPilot could not download v8/runpod/vms.csv")
    assert "no cached copy" in lines[-1] and "Traceback" not in done.stderr
    assert not (tmp_path / "tc" / "prices" / "runpod.csv").exists()
    assert time.monotonic() - started < 60


@pytest.mark.slow  # waits out the download timeout
def test_refresh_download_that_hangs_is_bounded(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    port = server.getsockname()[1]
    env = sky_env(tmp_path, HTTPS_PROXY=f"http://127.0.0.1:{port}", HTTP_PROXY=f"http://127.0.0.1:{port}")
    try:
        started = time.monotonic()
        done = run(["prices", "refresh", "--providers", "lambda", "--timeout", "2"], env, timeout=60)
        assert done.returncode == 2
        assert "no answer within 2 s" in done.stderr
        assert time.monotonic() - started < 30
    finally:
        server.close()


def test_unknown_provider_is_refused(tmp_path):
    done = run(["prices", "refresh", "--providers", "aws,acme"], sky_env(tmp_path))
    assert done.returncode == 2
    assert "error: cannot refresh 'acme': SkyPilot has no catalog for it" in done.stderr


def test_catalog_to_offers_drops_what_we_cannot_plan():
    frame = pd.read_csv(pd.io.common.StringIO(GCP_VMS))
    memory = {name: spec.memory_gib for name, spec in load_gpus().items()}
    offers = catalog_to_offers(frame, "gcp", "2026-10-01", "test", memory)
    assert sorted(offers["instance_type"]) == ["a2-highgpu-1g", "a3-highgpu-8g", "n1-highmem-8+T4:1"]
    assert not offers["gpu"].str.startswith("tpu").any()
    with pytest.raises(ValueError, match="missing columns"):
        catalog_to_offers(frame.drop(columns=["Price"]), "gcp", "", "", memory)
