"""money(): the one way tunecost shows dollars (plans, reports, the runs and prices tables)."""

import math

from tunecost.planner.money import money


def test_cents_above_ten_cents_and_four_places_below():
    assert money(1234.5) == "$1,234.50"
    assert money(0.1) == "$0.10"
    assert money(0.0042) == "$0.0042"
    assert money(0) == "$0.00"  # nothing spent is not a fraction of a cent


def test_negative_amounts_put_the_sign_before_the_dollar():
    assert money(-0.5) == "-$0.50"
    assert money(-0.004) == "-$0.0040"


def test_an_unknown_amount_is_the_call_sites_placeholder():
    assert money(None) == "n/a"
    assert money(math.nan, missing="-") == "-"
    assert money(None, missing="") == ""
