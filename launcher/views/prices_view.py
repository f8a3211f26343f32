"""`tunecost prices` as a table: each offer's provider, region, instance, GPU, prices, as-of date and source."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from tunecost.launcher.views.safe_text import console
from tunecost.planner.money import money

if TYPE_CHECKING:
    import pandas as pd


def short_source(source: str) -> str:
    """'skypilot-catalog catalogs/v9/aws/vms.csv@2c3d7ea...' -> 'skypilot-catalog v9/aws@2c3d7ea'; URLs lose
    their parenthetical note (the full text is in --json and the CSV)."""
    if source.startswith("skypilot-catalog catalogs/"):
        path, _, commit = source.removeprefix("skypilot-catalog catalogs/").partition("@")
        return f"skypilot-catalog {path.removesuffix('/vms.csv')}@{commit[:7]}"
    return source.split(" (")[0]


def print_offers(df: pd.DataFrame, as_of: str, spot: bool) -> None:
    """The offers as `tunecost prices` lists them; every cell is Text, since prices may come from a user's CSV."""
    table = Table(title=f"GPU offers, cheapest {'spot' if spot else 'on-demand'} first (prices as of: {escape(as_of)})")
    for name, justify in [("provider", "left"), ("region", "left"), ("instance", "left"), ("GPU", "left"),
                          ("on-demand $/h", "right"), ("spot $/h", "right"), ("as of", "left"),
                          ("source", "left"), ("flag", "left")]:
        table.add_column(name, justify=justify, overflow="fold",
                         max_width=40 if name in ("source", "flag") else None)
    for row in df.itertuples():
        table.add_row(*map(Text, (str(row.provider), str(row.region or "-"), str(row.instance_type),
                                  f"{row.gpu} x{row.gpu_count}", money(row.price_per_hour, missing="-"),
                                  money(row.spot_price_per_hour, missing="-"), str(row.as_of or "undated"),
                                  short_source(row.source), str(row.flag))))  # Text: prices may be user CSVs
    console().print(table)
