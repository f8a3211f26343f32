"""Smaller bad-input and leftover cases: a price of 0, spot above on-demand and a header-only price CSV, an absurd
token count, and `--dry-run` leaving no unrecorded run folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tunecost.launcher.cli import app

from .conftest import SINGLE

HEADER = "provider,instance_type,gpu,gpu_count,price_per_hour,spot_price_per_hour,as_of\n"
MODEL = ["plan", "--model", "HuggingFaceTB/SmolLM2-135M", "--tokens", "1000000"]


def _prices(tmp_path: Path, rows: str) -> str:
    path = tmp_path / "quotes.csv"
    path.write_text(HEADER + rows)
    return str(path)


def test_a_price_of_zero_is_refused_with_its_line(tmp_path):
    result = CliRunner().invoke(app, [*MODEL, "--prices", _prices(tmp_path, "runpod,my-box,A100-80GB,1,0,,2026-11-01\n")])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "quotes.csv line 2, column price_per_hour" in line and "0 is not a price" in line


def test_spot_above_on_demand_and_a_header_only_file_warn(tmp_path):
    spot = CliRunner().invoke(app, [*MODEL, "--prices", _prices(tmp_path, "runpod,my-box,A100-80GB,1,1.0,2.5,2026-11-01\n")])
    assert spot.exit_code == 0, spot.output
    assert "warning: " in spot.stderr and "line 2: spot price 2.5 is above the on-demand price 1" in spot.stderr
    empty = CliRunner().invoke(app, [*MODEL, "--prices", _prices(tmp_path, "")])
    assert empty.exit_code == 0, empty.output
    assert "quotes.csv has a header but no offers" in empty.stderr


def test_an_absurd_token_count_is_refused():
    result = CliRunner().invoke(app, ["plan", "--model", "meta-llama/Llama-3.1-8B", "--tokens", str(10 ** 30)])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "--tokens" in line and "more than" in line


@pytest.mark.slow  # the real console script twice, SkyPilot imported
def test_dry_run_leaves_no_unrecorded_run_folder(tmp_path, write_plan, home):
    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    env = {**os.environ, "TUNECOST_HOME": str(home)}
    cmd = [sys.executable, "-c", "from tunecost.launcher.cli import main; main()", "launch", str(write_plan(SINGLE)),
           "--dataset", str(dataset), "--dry-run"]
    for _ in range(2):
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    assert not (home / "runs").exists()
    workdir = Path(yaml.safe_load(result.stdout)["workdir"])
    assert (workdir / "job" / "train.py").is_file()  # the printed YAML still runs with `sky jobs launch`
    assert len(list((home / "dry-run").iterdir())) == 1  # the latest dry run only
