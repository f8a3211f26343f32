"""The memory band and the "tight" verdict as the user sees them: CLI text, JSON and the HTML page of one real
`tunecost plan` (planner/model/bands.py; the fit uses the band's upper edge)."""

import json
import re

from typer.testing import CliRunner

from tunecost.launcher.cli import app

ARGS = ["plan", "--model", "meta-llama/Llama-3.1-8B", "--method", "qlora", "--tokens", "1000000",
        "--providers", "aws,runpod", "--top", "3"]


def test_plan_shows_the_band_in_the_text_json_and_html(tmp_path):
    page = tmp_path / "plan.html"
    text = CliRunner().invoke(app, [*ARGS, "--html", str(page)], env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    plan = json.loads(CliRunner().invoke(app, [*ARGS, "--json"]).stdout)
    low, high = plan["chosen"]["peak_band_gib"]
    peak = plan["chosen"]["peak_gib_per_gpu"]
    assert low <= peak <= high and high > peak
    shown = f"{peak:.1f} ({low:.1f}-{high:.1f})"
    assert f"peak {shown} GiB per GPU" in text.output
    assert re.search(r"Memory per GPU: [\d.]+ GiB peak \(band [\d.]+-[\d.]+ GiB\)", text.output)
    html = page.read_text()
    assert shown in html and "(band " in html


def test_an_offer_that_fits_only_at_the_expected_peak_is_listed_as_tight_with_the_odds():
    """An 8B QLoRA at 7 x 4096 tokens on a 24 GB GPU: the expected peak fits 90 % of it, the band's edge not."""
    args = ["plan", "--model", "meta-llama/Llama-3.1-8B", "--method", "qlora", "--tokens", "1000000",
            "--seq-len", "4096", "--batch", "7", "--gpu", "RTX4090", "--gpu", "A100-80GB", "--json"]
    plan = json.loads(CliRunner().invoke(app, args).stdout)
    tight = [i for i in plan["infeasible"] if i["tight"]]
    assert tight, plan["infeasible"]
    item = tight[0]
    assert item["needs_gib"] <= 0.9 * item["has_gib"]
    assert re.search(r"^tight: .*; \d+% of the published runs like it went over$", item["reason"])
    assert all(q["peak_band_gib"][1] <= 0.9 * q["offer"]["gpu_memory_gib"] for q in plan["quotes"])
