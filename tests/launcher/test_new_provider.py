"""Adding a provider is one table row: a row in $TUNECOST_HOME/providers.csv (the user's layer over the shipped
pricing_data/providers.csv, same columns) plus its offers in a `--prices` file, as a user would write them. With
no code changed, `tunecost plan` picks the new provider, prices it with its billing rule and names it by its
display name; `launch --dry-run` writes a task SkyPilot parses for its cloud; the bill rounds by the same rule and
the expense report names the vendor. Nothing is replaced: the real CLI, the real SkyPilot parser."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime, timezone
from importlib.resources import files

import pytest
import yaml
from typer.testing import CliRunner

from tunecost.launcher.cli import app
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.launcher.reports.expense_report import line_item
from tunecost.planner.market.offer import Offer

PRICE = 0.05  # per hour: cheaper than anything shipped, so the plan picks it
ACME = {"provider": "acme", "display_name": "Acme GPU Cloud", "sky_cloud": "kubernetes", "launchable": "yes",
        "sky_spot": "no", "sky_multi_node": "yes", "launch_source": "our own cluster, run through SkyPilot's "
        "kubernetes cloud", "spot": "no", "spot_notice_seconds": "", "spot_source": "no spot market",
        "billing_granularity_seconds": "3600", "billing_minimum_seconds": "3600", "billing_rounding": "up",
        "billing_source": "https://acme.example/billing", "billing_as_of": "2026-12-01",
        "billing_notes": "every started hour is billed", "refresh_default": "no", "catalog_layout": "instance",
        "attach_accelerators_on": "", "layout_source": ""}
PRICES = ("provider,region,zone,instance_type,gpu,gpu_count,price_per_hour,as_of,source\n"
          f"acme,eu-1,,acme.h100x1,H100,1,{PRICE},2026-12-01,acme price sheet\n")
PLAN = ["plan", "--model", "meta-llama/Llama-3.1-8B", "--tokens", "20000000", "--providers", "acme,runpod"]


@pytest.fixture
def acme(home, tmp_path):
    """The new provider's row in the user's provider table (header copied from the shipped one) and its offers."""
    header = next(csv.reader(io.StringIO(files("tunecost.pricing_data").joinpath("providers.csv")
                                         .read_text(encoding="utf-8"))))
    assert set(ACME) == set(header), "the test row must have exactly the shipped table's columns"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerow(ACME)
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.csv").write_text(out.getvalue(), encoding="utf-8")
    prices = tmp_path / "acme.csv"
    prices.write_text(PRICES, encoding="utf-8")
    return prices


def test_a_new_provider_row_is_planned_billed_and_named_without_code(acme):
    result = CliRunner().invoke(app, [*PLAN, "--prices", str(acme), "--json"])
    assert result.exit_code == 0, result.output
    chosen = json.loads(result.stdout)["chosen"]
    assert chosen["offer"]["provider"] == "acme" and chosen["offer"]["instance_type"] == "acme.h100x1"
    # its billing rule: every started hour, so the hours are whole and the rounding is a part of them
    rounding = chosen["hours_breakdown"]["billing"]
    assert 0 < rounding < 1 and chosen["hours"] == math.ceil(chosen["hours"] - rounding)
    assert chosen["cost"] == pytest.approx(chosen["hours"] * PRICE)

    text = CliRunner().invoke(app, [*PLAN, "--prices", str(acme)], env={"COLUMNS": "160"})
    assert text.exit_code == 0, text.output
    assert "Chosen: $" in text.stdout and "on Acme GPU Cloud acme.h100x1 (H100 x1, on-demand, eu-1)" in text.stdout
    assert "billing" in text.stdout  # the hours line shows the rounding


def test_a_new_provider_is_launched_on_its_skypilot_cloud_and_billed_by_its_rule(acme, tmp_path):
    saved = tmp_path / "plan.json"
    planned = CliRunner().invoke(app, [*PLAN, "--prices", str(acme), "--save", str(saved)])
    assert planned.exit_code == 0, planned.output
    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    task = CliRunner().invoke(app, ["launch", str(saved), "--dataset", str(dataset), "--dry-run", "--top", "1"])
    assert task.exit_code == 0, task.output  # the launcher had SkyPilot parse it (sky.Task.from_yaml_config)
    entry = yaml.safe_load(task.stdout)["resources"]["ordered"][0]
    assert entry == {"infra": "kubernetes/eu-1", "instance_type": "acme.h100x1", "use_spot": False}

    record = RunRecord(id="tc-acme", status="succeeded", backend="sky-managed", created_at=datetime.now(timezone.utc),
                       offer=Offer(provider="acme", region="eu-1", instance_type="acme.h100x1", gpu="H100",
                                   price_per_hour=PRICE), actual_hours=0.25)
    item = line_item(record)
    assert item.vendor == "Acme GPU Cloud"
    assert item.quantity == 1.0 and item.summary.billing_rule == "per 60 minutes (partial rounded up), 3600 s minimum"
