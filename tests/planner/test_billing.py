"""Billing granularity math against the rules in pricing_data/providers.csv (each rule cites its source)."""

from __future__ import annotations

import csv
from importlib.resources import files

import pytest

from tunecost.planner.market.billing import BillingRule, billed_hours, billed_seconds
from tunecost.planner.market.providers import load_providers, provider_of


def rule_for(name: str) -> BillingRule:
    return provider_of(name).billing


def billing_rules() -> dict[str, BillingRule]:
    return {name: p.billing for name, p in load_providers().items()}


def test_aws_bills_per_second_with_a_60_second_minimum():
    aws = rule_for("aws")
    assert (aws.granularity_seconds, aws.minimum_seconds) == (1, 60)
    assert billed_seconds(1, aws) == 60
    assert billed_seconds(59.2, aws) == 60
    assert billed_seconds(61, aws) == 61
    assert billed_seconds(61.2, aws) == 62  # a started second is a billed second
    assert billed_seconds(5430.4, aws) == 5431


def test_gcp_bills_one_minute_minimum_then_per_second():
    gcp = rule_for("GCP")  # provider names are matched case-insensitively
    assert billed_seconds(30, gcp) == 60
    assert billed_seconds(90.5, gcp) == 91


def test_lambda_bills_started_minutes():
    lam = rule_for("lambda")
    assert lam.granularity_seconds == 60
    assert billed_seconds(1, lam) == 60
    assert billed_seconds(60, lam) == 60
    assert billed_seconds(61, lam) == 120
    assert billed_hours(3601, lam) == pytest.approx(61 / 60)


def test_azure_bills_full_minutes_only_as_its_faq_says():
    azure = rule_for("azure")
    # Azure knowledge center: a VM that ran 6 min 45 s is billed 6 minutes.
    assert billed_seconds(6 * 60 + 45, azure) == 6 * 60
    assert billed_seconds(6 * 60, azure) == 6 * 60


def test_float_noise_does_not_cost_an_extra_increment():
    lam = rule_for("lambda")
    assert billed_seconds(120.0000000001, lam) == 120
    assert billed_seconds(119.9999999999, rule_for("azure")) == 120


def test_unknown_provider_is_assumed_per_second_and_says_so():
    rule = rule_for("mycloud")
    assert not rule.known
    assert billed_seconds(10.2, rule) == 11
    assert "assumed" in rule.describe()


def test_zero_seconds_bills_nothing_and_negative_is_refused():
    assert billed_seconds(0, rule_for("aws")) == 0
    with pytest.raises(ValueError):
        billed_seconds(-1, rule_for("aws"))


def test_every_offer_provider_has_a_rule_with_a_source_or_an_unknown_note():
    rules = billing_rules()
    offers = files("tunecost.pricing_data").joinpath("offers.csv").read_text(encoding="utf-8")
    providers = {row["provider"].lower() for row in csv.DictReader(offers.splitlines())}
    assert providers, "shipped offers table is empty"
    assert providers - set(rules) == set(), "a provider we sell offers for has no billing rule"
    assert "local" in rules
    for rule in rules.values():
        assert rule.as_of, rule.provider
        if rule.provider != "local":
            assert rule.source_url.startswith("https://") or rule.notes.startswith("unknown"), rule.provider


def test_describe_reads_like_the_provider_page():
    assert rule_for("aws").describe() == "per second, 60 s minimum"
    assert rule_for("azure").describe() == "per minute (partial rounded down)"
    assert BillingRule(provider="x", granularity_seconds=300, minimum_seconds=0).describe().startswith("per 5 minutes")
