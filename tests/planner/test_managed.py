"""Managed fine-tuning quotes: the shipped table as the research snapshot holds it, each service's billing rule,
model brackets, closed models only when asked, user overrides, malformed tables, and the break-even verdict."""

import csv
from pathlib import Path

import pytest

from tunecost.planner.errors import UserError
from tunecost.planner.managed import break_even_tokens, quote_managed, verdict
from tunecost.planner.market.managed_prices import ManagedPrice, load_managed_prices, read_managed_prices
from tunecost.planner.market.offer import Offer
from tunecost.planner.quote import Quote
from tunecost.planner.spec import DatasetSize, Method, TrainSpec

SNAPSHOT = Path("/work/shared/managed_finetuning/prices.csv")
HEADER = ("provider,models,min_params_b,max_params_b,method,usd_per_million_training_tokens,usd_per_hour,"
          "minimum_charge_usd,open_weights,status,as_of,source,source_kind")


def spec(method=Method.qlora, examples=10_000, avg=800, epochs=3.0, packing=True, seq_len=2048, model="x"):
    return TrainSpec(model=model, method=method, epochs=epochs, packing=packing, seq_len=seq_len,
                     dataset=DatasetSize(tokens_per_epoch=examples * avg, examples=examples, source="given"))


def by_provider(quotes):
    return {q.provider: q for q in quotes}


@pytest.mark.skipif(not SNAPSHOT.is_file(), reason="the team's research snapshot is not on this machine")
def test_shipped_table_holds_every_snapshot_row_unchanged():
    shipped = {(r.provider, r.models, r.method): r for r in load_managed_prices()}
    rows = list(csv.DictReader(SNAPSHOT.open(encoding="utf-8")))
    assert len(shipped) == len(rows)
    for row in rows:
        ours = shipped[(row["provider"], row["models"], row["method"])]
        rate = row["usd_per_million_training_tokens"]
        assert ours.usd_per_million_training_tokens == (float(rate) if rate else None)
        assert (ours.as_of, ours.source, ours.source_kind, ours.status) == (
            row["as_of"], row["source"], row["source_kind"], row["status"])


def test_llama_8b_qlora_is_quoted_by_the_open_model_services_with_their_rates():
    quotes = by_provider(quote_managed(spec(), 8.03, load_managed_prices()))
    assert set(quotes) == {"together", "fireworks", "ori"}  # Bedrock trains only the named Llama 2 models
    assert quotes["together"].cost == pytest.approx(0.48 * 24)
    assert quotes["fireworks"].cost == pytest.approx(0.50 * 24)
    assert quotes["together"].as_of == "2026-02-13" and quotes["fireworks"].as_of == "2026-02"
    assert "dedicated deployment" in quotes["fireworks"].serving_note
    assert all(q.open_weights and q.method == "sft-lora" for q in quotes.values())


def test_full_fine_tuning_takes_the_full_rate_and_prompt_tuning_no_service():
    full = by_provider(quote_managed(spec(Method.full), 8.03, load_managed_prices()))
    assert full["together"].usd_per_million_tokens == 0.54 and "fireworks" not in full  # Fireworks: LoRA only
    assert quote_managed(spec(Method.prompt_tuning), 8.03, load_managed_prices()) == []


@pytest.mark.parametrize("params, together, fireworks", [(70.6, 2.90, 3.00), (16.5, 1.50, 3.00), (405, None, 10.0),
                                                         (12.0, 0.48, 0.50)])
def test_size_brackets_and_a_size_between_two_takes_the_upper_one(params, together, fireworks):
    quotes = by_provider(quote_managed(spec(Method.lora), params, load_managed_prices()))
    assert (quotes["together"].usd_per_million_tokens if "together" in quotes else None) == together
    assert quotes["fireworks"].usd_per_million_tokens == fireworks
    assert ("ori" in quotes) == (params <= 10)


def test_without_packing_together_bills_every_example_at_max_length_and_fireworks_the_tokens():
    quotes = by_provider(quote_managed(spec(packing=False, seq_len=2048), 8.03, load_managed_prices()))
    assert quotes["together"].billed_tokens == 10_000 * 2048 * 3
    assert quotes["together"].cost == pytest.approx(0.48 * 10_000 * 2048 * 3 / 1e6)
    assert quotes["fireworks"].billed_tokens == 10_000 * 800 * 3
    assert "max length" in quotes["together"].billing_note


def test_closed_models_only_when_asked_marked_and_winding_down_said():
    assert all(q.open_weights for q in quote_managed(spec(), 8.03, load_managed_prices()))
    quotes = quote_managed(spec(), 8.03, load_managed_prices(), include_closed=True)
    closed = [q for q in quotes if not q.open_weights]
    assert {q.provider for q in closed} == {"openai", "google-vertex"}
    assert all("(closed)" in q.model_bracket for q in closed)
    assert all(q.status.startswith("winding down") for q in closed if q.provider == "openai")
    assert quotes.index(closed[0]) > max(quotes.index(q) for q in quotes if q.open_weights)  # same model first


def test_a_named_model_row_matches_that_model_only():
    bedrock = [q for q in quote_managed(spec(Method.lora, model="meta-llama/Llama-2-13b-hf"), 13.0,
                                        load_managed_prices()) if q.provider == "aws-bedrock"]
    assert [q.usd_per_million_tokens for q in bedrock] == [1.49]
    assert "Provisioned Throughput" in bedrock[0].serving_note


def test_user_csv_replaces_the_shipped_row_and_its_minimum_charge_applies(tmp_path):
    mine = tmp_path / "managed.csv"
    mine.write_text(HEADER + "\ntogether,open models <=16B,0,16,sft-lora,0.10,,50,yes,active,2026-11-30,my quote,\n")
    rows = load_managed_prices(mine)
    quotes = by_provider(quote_managed(spec(), 8.03, rows))
    assert quotes["together"].usd_per_million_tokens == 0.10 and quotes["together"].source_kind == "user"
    assert quotes["together"].cost == 50.0 and quotes["together"].minimum_usd == 50.0
    assert len(rows) == len(load_managed_prices())


@pytest.mark.parametrize("body, says", [
    ("together,open models,0,16,sft-lorra,0.1,,,yes,active,,src,\n", "line 2, column: method"),
    ("together,open models,0,16,sft-lora,cheap,,,yes,active,,src,\n", "usd_per_million_training_tokens"),
    ("together,open models,0,16,sft-lora,-1,,,yes,active,,src,\n", "usd_per_million_training_tokens"),
    ("together,open models,0,16,sft-lora,0.1,,,yes,active,Feb 2026,src,\n", "as_of"),
    ("together,open models,0,16,sft-lora,,,,yes,active,,src,\n", "no price"),
    ("together,open models,0,16,sft-lora,0.1,,,yes\n", "fields but the header has"),
    ("together,open models,0,16,sft-lora,0.1,,,yes,active,,src,\n"
     "together,open models,0,16,sft-lora,0.2,,,yes,active,,src,\n", "line 3: same provider"),
])
def test_malformed_user_csv_is_one_line_naming_file_line_and_column(tmp_path, body, says):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "\n" + body)
    with pytest.raises(UserError) as err:
        read_managed_prices(bad)
    assert says in str(err.value) and str(bad) in str(err.value) and "\n" not in str(err.value)


def test_unknown_or_missing_column_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("provider,models,price\nx,y,1\n")
    with pytest.raises(UserError, match="unknown column 'price'"):
        read_managed_prices(bad)
    bad.write_text("provider,models,method\nx,y,sft\n")
    with pytest.raises(UserError, match="missing column 'open_weights'"):
        read_managed_prices(bad)


def _rented(cost=0.32, price=0.10, hours=3.2):
    offer = Offer(provider="runpod", region="CA", instance_type="i", gpu="V100", gpu_count=2, gpu_memory_gib=16,
                  spot=True, price_per_hour=price, source="t")
    return Quote(offer=offer, hours=hours, cost=cost, peak_gib_per_gpu=12, parallelism="fsdp", tokens_per_sec=2330,
                 hours_breakdown={"compute": 2.9, "provisioning": 0.1, "setup": 0.1, "model_download": 0.05,
                                  "checkpoints": 0.0, "rework": 0.05})


def _managed(rate, minimum=0.0, billed=24_000_000):
    row = ManagedPrice(provider="together", models="open models <=16B", method="sft-lora", open_weights="yes",
                       status="active", source="s", usd_per_million_training_tokens=rate, minimum_charge_usd=minimum)
    return quote_managed(spec(), 8.0, [row])[0].model_copy(update={"billed_tokens": billed})


def test_break_even_is_where_both_bills_meet():
    rented, managed, n = _rented(), _managed(0.48), 24_000_000
    at = break_even_tokens(rented, managed, n)
    fixed = 0.10 * 0.25
    rent_at = fixed + (rented.cost - fixed) / n * at
    assert rent_at == pytest.approx(0.48e-6 * at)
    assert 40_000 < at < 70_000


def test_break_even_with_a_minimum_charge_meets_on_the_minimum():
    rented, n = _rented(), 24_000_000
    at = break_even_tokens(rented, _managed(0.48, minimum=4.0), n)
    fixed = 0.10 * 0.25
    assert fixed + (rented.cost - fixed) / n * at == pytest.approx(4.0)


def test_verdict_says_the_ratio_and_where_it_flips():
    line = verdict(_rented(), [_managed(0.48)], 24_000_000)
    assert line.startswith("renting is $0.32 vs $11.52 at Together (36x); managed wins below about ")
    cheap = verdict(_rented(cost=30.0, price=10.0, hours=3.0), [_managed(0.48)], 24_000_000)
    assert cheap.startswith("managed at Together is $11.52 vs renting $30.00")
    assert verdict(_rented(), [], 24_000_000) == ""
