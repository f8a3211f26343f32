"""`tunecost plan --html`: one self-contained page (no external assets) with the chosen offer, the ranked table, a
scatter of every quote with the Pareto front and the managed services as their own marks, the memory bar against
the chosen GPU, every assumption; user text (model path, price-file names) escaped, checked by parsing the page."""

import json
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app

HOSTILE = "<script>alert('x')</script>"
LLAMA = {"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 16, "num_attention_heads": 32,
         "num_key_value_heads": 8, "intermediate_size": 8192, "vocab_size": 128256, "tie_word_embeddings": True}


class Page(HTMLParser):
    """Every tag and attribute, and the text as a reader sees it (entities decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.text, self.titles, self._in_title = [], [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self._in_title = False

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_title:
            self.titles.append(data)


def run(*args):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def hostile_plan(tmp_path):
    """A model folder, a user GPU price row (chosen: cheapest; on runpod, a provider SkyPilot launches) and a
    managed price row, all named with markup."""
    model = tmp_path / f"m{HOSTILE.replace('/', '')}&co"
    model.mkdir()
    (model / "config.json").write_text(json.dumps(LLAMA))
    prices = tmp_path / "prices.csv"
    prices.write_text("provider,region,instance_type,gpu,gpu_count,price_per_hour,source\n"
                      f'runpod,"<b>eu</b>","{HOSTILE}",A100-80GB,1,0.01,"<img src=x onerror=alert(1)>"\n')
    managed = tmp_path / "managed.csv"
    managed.write_text("provider,models,min_params_b,max_params_b,method,usd_per_million_training_tokens,"
                       "open_weights,status,source,serving\n"
                       f'together,open models <=16B,0,16,sft-lora,0.48,yes,active,"{HOSTILE}","<i>free</i>"\n')
    page = tmp_path / "plan.html"
    result = run("plan", "--model", str(model), "--tokens", "5000000", "--prices", str(prices),
                 "--managed-prices", str(managed), "--providers", "runpod,lambda,together,fireworks",
                 "--html", str(page), "--save", str(tmp_path / "plan.json"))
    assert result.exit_code == 0, result.stderr
    return page.read_text(encoding="utf-8"), json.loads((tmp_path / "plan.json").read_text())


def test_user_text_is_escaped_never_markup(hostile_plan):
    html, plan = hostile_plan
    assert plan["chosen"]["offer"]["instance_type"] == HOSTILE  # the hostile row really is on the page, and chosen
    page = Page()
    page.feed(html)
    assert not {"script", "img", "b", "i", "link", "iframe", "object"} & set(page.tags)
    text = "".join(page.text)
    assert HOSTILE in text and "<b>eu</b>" in text and "<i>free</i>" in text and "&co" in text
    assert "&lt;script&gt;" in html and "<script" not in html
    assert not any(name.startswith("on") for _, attrs in page.attrs for name in attrs)  # no event handlers


def test_page_is_self_contained_and_has_every_part(hostile_plan):
    html, plan = hostile_plan
    page = Page()
    page.feed(html)
    linked = [v for _, attrs in page.attrs for k, v in attrs.items() if k in ("src", "href") and v]
    assert linked == []  # no external assets: styles inline, pictures inline SVG
    text = " ".join(" ".join(page.text).split())
    assert f"Chosen: ${plan['chosen']['cost']:.4f}" in text or f"Chosen: ${plan['chosen']['cost']:,.2f}" in text
    assert "Offers ranked by total cost" in text and "Managed fine-tuning" in text
    assert ("Does not fit" in text) == bool(plan["infeasible"])
    assert all(" ".join(a.split()) in text for a in plan["assumptions"])
    assert plan["managed_verdict"] and plan["managed_verdict"] in text
    # the scatter: one mark with a tooltip per quote, one diamond per managed service, the Pareto staircase
    quote_titles = [t for t in page.titles if "): " in t and (", spot" in t or ", on-demand" in t)]
    assert len(quote_titles) == len(plan["quotes"])
    assert sum(t.startswith(m["provider"] + " $") for t in page.titles for m in plan["managed"]) == \
        len(plan["managed"])
    front = [a["d"] for tag, a in page.attrs if tag == "path" and a.get("class") == "front"]
    assert len(front) == 1 and front[0].count("H") == sum(q["pareto"] for q in plan["quotes"]) - 1
    providers = {q["offer"]["provider"] for q in plan["quotes"]}
    fills = {a["fill"] for tag, a in page.attrs if tag in ("circle", "rect", "path") and "fill" in a
             and a.get("fill-opacity")}
    assert len(fills) == len(providers)  # one colour per provider
    # the memory bar: one segment per non-zero component, against the chosen GPU's memory
    parts = {k for k, v in plan["memory"]["components_gib"].items() if v > 0}
    segments = [t for t in page.titles if t.endswith(" GiB") and t.rsplit(" ", 2)[0].replace(" ", "_") in parts]
    assert len(segments) == len(parts)
    assert f"{plan['chosen']['offer']['gpu']}: {plan['chosen']['offer']['gpu_memory_gib']:.1f} GiB" in text


def test_html_to_a_missing_folder_is_one_line_and_nothing_is_written(tmp_path):
    saved = tmp_path / "plan.json"
    result = run("plan", "--model", "meta-llama/Llama-3.1-8B", "--tokens", "1000000", "--save", str(saved),
                 "--html", str(tmp_path / "nope" / "plan.html"))
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: --html ") and "does not exist" in line
    assert not saved.exists()


def test_a_sweep_plan_page_lists_every_point_and_the_total(tmp_path):
    page = tmp_path / "sweep.html"
    saved = tmp_path / "sweep.json"
    result = run("plan", "--model", "meta-llama/Llama-3.1-8B", "--tokens", "2000000", "--sweep", "rank=8,64",
                 "--html", str(page), "--save", str(saved))
    assert result.exit_code == 0, result.stderr
    plan = json.loads(saved.read_text())
    parsed = Page()
    parsed.feed(page.read_text(encoding="utf-8"))
    text = " ".join(" ".join(parsed.text).split())
    assert "Sweep: 2 points" in text and "rank=8" in text and "rank=64" in text
    assert f"${plan['sweep']['total_cost']:,.2f} in total" in text or f"${plan['sweep']['total_cost']:.4f} in total" in text


def _lab(colour: str) -> tuple[float, float, float]:
    """sRGB hex -> CIE L*a*b* (D65), the space where distance follows what the eye tells apart."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
           for c in (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))]
    xyz = [sum(w * c for w, c in zip(row, lin)) / n for row, n in (((0.4124, 0.3576, 0.1805), 0.95047),
                                                                  ((0.2126, 0.7152, 0.0722), 1.0),
                                                                  ((0.0193, 0.1192, 0.9505), 1.08883))]
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def test_provider_colours_are_far_apart():
    """No two providers' marks share nearly one colour: every pair of the palette is more than 20 apart (CIE76 delta
    E); Azure and Lambda's two blues (#2f6fdb, #364fc7) were 17.4 apart."""
    from itertools import combinations

    from tunecost.launcher.views.plan_html import PALETTE

    def distance(a: str, b: str) -> float:
        return sum((p - q) ** 2 for p, q in zip(_lab(a), _lab(b))) ** 0.5

    assert distance("#2f6fdb", "#364fc7") < 20  # the measure tells the old pair apart from the new palette
    assert len(set(PALETTE)) == len(PALETTE) >= 10
    assert min(distance(a, b) for a, b in combinations(PALETTE, 2)) > 20


@pytest.mark.slow  # headless Chromium
@pytest.mark.parametrize("model", ["meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.1-8B",
                                   "HuggingFaceTB/SmolLM2-135M-Instruct"])
def test_the_page_prints_as_the_cli_says(tmp_path, model):
    """Printed by headless Chromium on A4: the plan on page 1 (chosen offer, warnings, chart, all 12 ranked rows),
    the details from page 2, nothing past the right margin, and no page ends on a heading. The 8B and 135M plans
    spilled two ranked rows onto a page of their own before the print CSS shrank the chart and the tables."""
    import re
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not chromium or not shutil.which("pdftotext"):
        pytest.skip("needs chromium and poppler-utils (apt-get install chromium poppler-utils)")
    page, pdf = tmp_path / "plan.html", tmp_path / "plan.pdf"
    result = CliRunner().invoke(app, ["plan", "--model", model, "--method", "qlora", "--tokens", "20000000", "--html",
                                      str(page)], env={"TUNECOST_HOME": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "it prints on A4: the plan on page 1, its details from page 2" in " ".join(result.output.split())
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", str(page)], capture_output=True, timeout=180, check=True)
    texts = []
    while True:
        done = subprocess.run(["pdftotext", "-layout", "-f", str(len(texts) + 1), "-l", str(len(texts) + 1), str(pdf),
                               "-"], capture_output=True, text=True)
        if done.returncode != 0 or not done.stdout.strip():
            break
        texts.append(done.stdout)
    assert len(texts) >= 2
    assert "Chosen:" in texts[0] and "Offers ranked by total cost (12 of" in texts[0]
    assert texts[1].lstrip().startswith("Managed fine-tuning")  # the ranked table ended on page 1
    assert not any("Assumptions" in text for text in texts[:1])
    for text in texts:
        last = [line.strip() for line in text.splitlines() if line.strip()][-1]
        assert not any(last.startswith(h) for h in ("Managed fine-tuning", "Memory per GPU", "Does not fit",
                                                    "Assumptions", "Warnings", "Offers ranked", "Cost against")), last
    boxes = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    width = float(re.search(r'<page width="([\d.]+)"', boxes).group(1))
    right = max(float(x) for x in re.findall(r'xMax="([\d.]+)"', boxes))
    assert right <= width - 20, (right, width)  # A4's 10 mm margin is 28 pt: no column cut at the right edge


def test_unlaunchable_offers_are_marked_in_the_table_and_the_page(tmp_path):
    """lium is priced and shown for comparison; the rich table marks it ✗ with a caption, the page says why."""
    import pandas as pd
    from rich.console import Console

    from tunecost.launcher.views.plan_html import render_plan_html
    from tunecost.launcher.views.plan_view import render_plan
    from tunecost.planner.market.offers import OFFER_COLUMNS, PriceTables
    from tunecost.planner.optimizer import optimize
    from tunecost.planner.spec import DatasetSize, TrainSpec

    def row(provider, price):
        return dict(provider=provider, region="r", zone="", instance_type=f"{provider}-a100", gpu="A100-80GB",
                    gpu_count=1, gpu_memory_gib=80.0, vcpus=8, memory_gib=64, price_per_hour=price,
                    spot_price_per_hour=float("nan"), as_of="2026-11-01", source="test", flag="")

    plan = optimize(TrainSpec(model="meta-llama/Llama-3.1-8B", method="qlora",
                              dataset=DatasetSize(tokens_per_epoch=1_000_000)),
                    PriceTables(offers=pd.DataFrame([row("lium", 0.5), row("runpod", 1.6)], columns=OFFER_COLUMNS),
                                as_of="2026-11-01"))
    console = Console(record=True, width=160)
    render_plan(plan, console)
    text = console.export_text()
    lium_line = next(line for line in text.splitlines() if "lium-a100" in line)
    assert lium_line.lstrip().startswith("✗") and "✗ SkyPilot cannot launch it" in text
    page = render_plan_html(plan)
    assert "(not launchable: SkyPilot 0.14.1 has no lium cloud)" in page
