"""Managed fine-tuning in `tunecost plan`: beside the GPU offers in the table with as-of dates, the `managed` list in
--json, closed models only with --include-closed, a malformed --managed-prices CSV as one line with exit 2 and
nothing saved, and `tunecost launch` refusing a managed quote in one line."""

import json

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app

DONE_WHEN = ["--model", "meta-llama/Llama-3.1-8B", "--method", "qlora", "--examples", "10000", "--avg-tokens", "800",
             "--epochs", "3"]
MANAGED_KEYS = {"provider", "model_bracket", "method", "usd_per_million_tokens", "billed_tokens", "cost",
                "minimum_usd", "serving_note", "as_of", "source", "source_kind"}


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def run(*args):
    return CliRunner().invoke(app, list(args))


def test_table_shows_together_and_fireworks_beside_the_gpu_offers_with_as_of_dates():
    result = run("plan", *DONE_WHEN)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.index("Offers ranked by total cost") < out.index("Managed fine-tuning") < out.index("Memory per GPU")
    together = next(line for line in out.splitlines() if line.strip().startswith("together"))
    fireworks = next(line for line in out.splitlines() if line.strip().startswith("fireworks"))
    assert "$11.52" in together and "2026-02-13" in together
    assert "$12.00" in fireworks and "2026-02" in fireworks
    assert "renting is $" in out and "managed wins below about" in out


def test_json_carries_the_managed_list_and_the_verdict():
    result = run("plan", *DONE_WHEN, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert MANAGED_KEYS <= set(data["managed"][0])
    providers = {m["provider"]: m for m in data["managed"]}
    assert {"together", "fireworks"} <= set(providers) and not {"openai", "google-vertex"} & set(providers)
    assert providers["together"]["billed_tokens"] == 24_000_000
    assert data["managed_verdict"].startswith(f"renting is ${data['chosen']['cost']:,.2f} vs $")


def test_include_closed_adds_openai_and_gemini_marked_as_another_model():
    data = json.loads(run("plan", *DONE_WHEN, "--include-closed", "--json").stdout)
    closed = [m for m in data["managed"] if not m["open_weights"]]
    assert {m["provider"] for m in closed} == {"openai", "google-vertex"}
    assert all(m["model_bracket"].endswith("(closed)") for m in closed)
    out = run("plan", *DONE_WHEN, "--include-closed").stdout
    assert "winding down: no new training jobs after 2027-01-06" in out


def test_providers_filter_applies_to_services_too():
    data = json.loads(run("plan", *DONE_WHEN, "--providers", "runpod,fireworks", "--json").stdout)
    assert [m["provider"] for m in data["managed"]] == ["fireworks"]
    assert {q["offer"]["provider"] for q in data["quotes"]} == {"runpod"}
    only = run("plan", *DONE_WHEN, "--providers", "together")
    assert only.exit_code == 2 and "names only managed services" in only.stderr


def test_malformed_managed_csv_is_one_line_exit_2_and_nothing_saved(tmp_path):
    bad = tmp_path / "managed.csv"
    bad.write_text("provider,models,method,open_weights,status,source,usd_per_million_training_tokens\n"
                   "together,open models,sft-lora,yes,active,me,free\n")
    target = tmp_path / "plan.json"
    result = run("plan", *DONE_WHEN, "--managed-prices", str(bad), "--save", str(target))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "line 2" in lines[-1] and "usd_per_million_training_tokens" in lines[-1]
    assert not any(line.startswith("Traceback") for line in lines)
    assert not target.exists()


def test_launch_refuses_a_managed_quote_in_one_line(tmp_path):
    saved = tmp_path / "plan.json"
    assert run("plan", *DONE_WHEN, "--save", str(saved), "--json").exit_code == 0
    plan = json.loads(saved.read_text())
    plan["chosen"] = {**plan["chosen"], "offer": {**plan["chosen"]["offer"], "provider": "together"}}
    saved.write_text(json.dumps(plan))
    result = run("launch", str(saved), "--dataset", str(saved), "--dry-run")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "error: together is a managed fine-tuning service: tunecost cannot launch there; submit the job on "
        "together's own platform, or launch one of the plan's GPU offers"]
