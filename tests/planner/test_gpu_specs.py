"""Every GPU the shipped offers name has a sourced dense peak, or its quotes say the speed is assumed."""

import csv
from importlib.resources import files

from tunecost.planner.market.gpus import get_gpu
from tunecost.planner.model.speed import peak_tflops
from tunecost.planner.spec import Precision


def _offer_gpus() -> set[str]:
    text = files("tunecost.pricing_data").joinpath("offers.csv").read_text(encoding="utf-8")
    return {row["gpu"] for row in csv.DictReader(text.splitlines())}


def test_b300_has_its_datasheet_figure_not_an_assumed_10_tflops():
    value, assumed = peak_tflops(get_gpu("B300"), Precision.bf16)
    assert (value, assumed) == (2250.0, None)
    assert "glennklockwood.com/garden/processors/B300" in get_gpu("B300").source


def test_gpus_without_a_sourced_peak_are_exactly_those_sources_md_lists():
    """A GPU added to the offers without a figure must be listed (and so warned about), or given a source."""
    assumed = {g for g in _offer_gpus() if peak_tflops(get_gpu(g), Precision.bf16)[1]}
    listed = files("tunecost.pricing_data").joinpath("SOURCES.md").read_text(encoding="utf-8")
    section = listed.split("Still without a dense BF16/FP16 figure", 1)[1].split("\n\n", 1)[0]
    assert all(g in section for g in assumed), assumed
    assert {"B300", "RTXPRO6000", "H100-NVLINK"}.isdisjoint(assumed)
