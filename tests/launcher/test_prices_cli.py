"""`tunecost prices`: table and JSON listing of the offers the planner prices, warnings on stderr."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app

TUNECOST = str(Path(sys.executable).with_name("tunecost"))


@pytest.fixture
def runner(monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")
    return CliRunner()


def prices_json(runner, *args: str) -> list[dict]:
    result = runner.invoke(app, ["prices", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_one_row_per_instance_type_cheapest_first(runner):
    rows = prices_json(runner, "--gpu", "h100", "--providers", "aws,runpod,lambda")
    assert rows and {r["gpu"] for r in rows} == {"H100"}
    assert {r["provider"] for r in rows} == {"aws", "runpod", "lambda"}
    keys = [(r["provider"], r["instance_type"]) for r in rows]
    assert len(keys) == len(set(keys))
    prices = [r["price_per_hour"] for r in rows]
    assert prices == sorted(prices)
    p5 = next(r for r in rows if r["instance_type"] == "p5.48xlarge")
    assert p5["price_per_hour"] == 55.04 and p5["flag"] == ""  # cheapest region of a uniform price
    # superseded catalog rows stay out of the default view; the dated page price is shown instead
    runpod_1x = next(r for r in rows if r["instance_type"] == "1x_H100-SXM_SECURE")
    assert runpod_1x["as_of"] == "2026-11-09" and runpod_1x["source"].startswith("https://www.runpod.io/pricing")


def test_all_regions_and_spot(runner):
    every = prices_json(runner, "--gpu", "A10G", "--providers", "aws", "--all-regions")
    one = prices_json(runner, "--gpu", "A10G", "--providers", "aws")
    assert len(every) > len(one) >= 6
    spot = prices_json(runner, "--gpu", "A10G", "--providers", "aws", "--spot")
    assert all(r["spot_price_per_hour"] is not None for r in spot)
    assert [r["spot_price_per_hour"] for r in spot] == sorted(r["spot_price_per_hour"] for r in spot)
    assert all(r["price_per_hour"] is None or not math.isnan(r["price_per_hour"]) for r in every)


def test_table_and_warnings(runner):
    result = runner.invoke(app, ["prices", "--gpu", "L4", "--providers", "gcp"])
    assert result.exit_code == 0, result.output
    assert "g2-standard-4" in result.stdout and "L4 x1" in result.stdout
    assert "skypilot-catalog v9/gcp@2c3d7ea" in result.stdout
    assert "warning: prices are from an undated snapshot taken after 2025-09-10" in result.stderr


def test_user_prices_file_shows_up(runner, tmp_path):
    csv_path = tmp_path / "mine.csv"
    csv_path.write_text("provider,instance_type,gpu,gpu_count,price_per_hour,as_of\n"
                        "acme,acme-4090,RTX4090,1,0.01,2026-11-20\n", encoding="utf-8")
    rows = prices_json(runner, "--gpu", "RTX4090", "--prices", str(csv_path))
    assert rows[0]["provider"] == "acme" and rows[0]["source"] == "user file mine.csv"


def test_malformed_prices_file_real_console_script(tmp_path):
    csv_path = tmp_path / "prices.csv"
    csv_path.write_text("provider,instance_type,gpu,gpu_count,price_per_hour\n"
                        "acme,x,H100,1,1.0\nacme,z,H100,1,abc\n",
                        encoding="utf-8")
    env = dict(os.environ, TUNECOST_HOME=str(tmp_path / "home"))
    done = subprocess.run([TUNECOST, "prices", "--prices", "prices.csv"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == ("error: prices.csv line 3, column price_per_hour: 'abc' is not a number "
                           "(expected USD per hour, e.g. 1.29)\n")
    assert done.stdout == ""


def test_unknown_gpu_filter_is_a_user_error(runner):
    result = runner.invoke(app, ["prices", "--gpu", "H1000"])
    assert result.exit_code != 0
    # the app (or main(), depending on where cli.py catches UserError) reports it as one line
    assert "unknown GPU 'H1000'" in result.stderr + str(result.exception)


def test_providers_repeats_like_plan_and_top_keeps_the_cheapest_rows(runner):
    """The same flag names as `plan`: --providers (comma list or repeated) and --top N."""
    listed = prices_json(runner, "--gpu", "h100", "--providers", "aws,lambda")
    assert prices_json(runner, "--gpu", "h100", "--providers", "aws", "--providers", "lambda") == listed
    assert prices_json(runner, "--gpu", "h100", "--providers", "aws,lambda", "--top", "2") == listed[:2]
    assert len(listed) > 2
    assert runner.invoke(app, ["prices", "--provider", "aws"]).exit_code == 2  # the old name is gone


def test_top_below_one_is_one_line(runner):
    result = runner.invoke(app, ["prices", "--top", "0"])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "--top" in line
