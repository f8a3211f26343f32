"""The provider table (pricing_data/providers.csv) against the installed SkyPilot and the other shipped tables.

The table's `launchable`, `sky_spot` and `sky_multi_node` columns were read from SkyPilot 0.14.1; these tests
read the installed SkyPilot's cloud registry and feature lists, so an upgrade that adds or drops a cloud, or
starts or stops supporting spot or several nodes on one, fails here with the row to change.
"""

import csv
from importlib.resources import files

import pytest

from tunecost.planner.market.providers import find_provider, launch_problem, load_providers, refresh_defaults

sky = pytest.importorskip("sky")


def _column(table: str, name: str = "provider") -> set[str]:
    text = files("tunecost.pricing_data").joinpath(table).read_text(encoding="utf-8")
    return {row[name].lower() for row in csv.DictReader(text.splitlines()) if row[name]}


def _registry() -> dict:
    from sky.utils import registry

    return dict(registry.CLOUD_REGISTRY)


def test_launchable_rows_are_exactly_the_installed_skypilot_clouds():
    launchable = {p.sky_cloud for p in load_providers().values() if p.launchable}
    installed = set(_registry())
    assert installed - launchable == set(), "SkyPilot has clouds the table does not mark launchable: add rows"
    assert launchable - installed == set(), "the table marks clouds launchable that SkyPilot no longer has"
    for p in load_providers().values():
        assert p.launchable == (p.sky_cloud in installed), p.provider
        assert p.launch_source, p.provider


def test_spot_and_multi_node_columns_match_skypilots_feature_lists():
    from sky.clouds.cloud import CloudImplementationFeatures as F

    for name, cloud in _registry().items():
        unsupported = getattr(cloud, "_CLOUD_UNSUPPORTED_FEATURES", {})
        row = next(p for p in load_providers().values() if p.sky_cloud == name)
        assert row.sky_spot == (F.SPOT_INSTANCE not in unsupported), name
        assert row.sky_multi_node == (F.MULTI_NODE not in unsupported), name


@pytest.mark.parametrize("table", ["offers.csv", "list_prices.csv", "interconnect.csv"])
def test_every_provider_named_in_a_shipped_table_has_a_row(table):
    named = _column(table)
    assert named, f"{table} names no provider"
    assert named - set(load_providers()) == set()


def test_default_provider_lists_come_from_the_table_and_are_launchable():
    defaults = refresh_defaults()
    assert set(defaults) == {"aws", "gcp", "azure", "lambda", "runpod"}
    assert all(find_provider(p).launchable for p in defaults)


def test_providers_skypilot_cannot_launch_say_why():
    assert launch_problem("lium", spot=False) == "SkyPilot 0.14.1 has no lium cloud"
    assert "spot" in launch_problem("lambda", spot=True)
    assert "several nodes" in launch_problem("runpod", spot=False, nodes=2)
    assert launch_problem("runpod", spot=True) == "" and launch_problem("aws", spot=True, nodes=4) == ""
    assert "not in pricing_data/providers.csv" in launch_problem("mycloud", spot=False)


def test_every_fact_has_a_source_or_says_it_is_assumed():
    for p in load_providers().values():
        assert p.spot_source, p.provider
        if p.spot_notice_seconds is not None:
            assert "https://" in p.spot_source, p.provider
        assert p.billing_as_of
        if p.provider != "local":
            assert p.billing_source.startswith("https://") or p.billing_notes.startswith("unknown"), p.provider
        if p.catalog_layout != "instance" or p.attach_accelerators_on:
            assert p.layout_source, p.provider
