"""`tunecost prices` (list the offers the planner will price) and `tunecost prices refresh`.

Listing shows what the optimizer sees, including the age and source of each price and why a row is skipped
(`flag`), so a user can check a quote against the provider's page before trusting it.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import List, Optional

import typer

from tunecost.launcher.commands.common_options import PlainFlagsCommand, providers_option, top_option


prices_app = typer.Typer(help="List GPU offers and their prices; refresh them from SkyPilot's catalog.",
                         invoke_without_command=True, no_args_is_help=False)

TABLE_COLUMNS = ["provider", "region", "instance_type", "gpu", "gpu_count", "price_per_hour",
                 "spot_price_per_hour", "as_of", "source", "flag"]


def select(offers, gpu: Optional[str], providers: Optional[List[str]], spot: bool, all_regions: bool,
           top: Optional[int] = None):
    """Filter and sort cheapest first; by default one row per provider x instance type (its cheapest region),
    preferring unflagged rows so a superseded or suspect price never hides a usable one. `top`: the first N."""
    from tunecost.planner.candidates import split_names
    from tunecost.planner.market.gpus import get_gpu

    df = offers
    if gpu:
        df = df[df["gpu"] == get_gpu(gpu).name]
    wanted = [p.lower() for p in split_names(providers)]
    if wanted:
        df = df[df["provider"].isin(wanted)]
    price = "spot_price_per_hour" if spot else "price_per_hour"
    df = df[df[price].notna()]
    df = df.assign(_flagged=df["flag"] != "").sort_values(["_flagged", price, "provider", "instance_type"],
                                                           kind="stable")
    if not all_regions:
        df = df.drop_duplicates(["provider", "instance_type"])
    df = df.sort_values([price, "provider", "instance_type"], kind="stable").drop(columns="_flagged")
    return df if top is None else df.head(top)


def _records(df) -> list[dict]:
    """Rows as plain dicts with NaN -> None, for --json."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in df.to_dict(orient="records")]


@prices_app.callback()
def prices(
    ctx: typer.Context,
    gpu: Optional[str] = typer.Option(None, "--gpu", help="Only this GPU, e.g. H100, A100-80GB, RTX4090."),
    providers: Optional[List[str]] = providers_option("Only these providers, e.g. runpod,lambda."),
    spot: bool = typer.Option(False, "--spot", help="Sort by spot price; hide offers without one."),
    all_regions: bool = typer.Option(False, "--all-regions", help="Every region/zone row, not the cheapest."),
    top: Optional[int] = top_option(None, "Only the N cheapest rows (all by default)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of offers instead of a table."),
    prices_file: Optional[Path] = typer.Option(None, "--prices", help="Your own price CSV, applied on top."),
) -> None:
    """List offers cheapest first (one row per provider x instance type unless --all-regions)."""
    if ctx.invoked_subcommand is not None:
        return
    from tunecost.launcher.views.safe_text import clean
    from tunecost.planner.market.offers import load_prices

    tables = load_prices(user_csv=prices_file)
    df = select(tables.offers, gpu, providers or [], spot, all_regions, top)
    as_of, warnings = tables.age_of(df)  # the age of the rows listed, naming only their providers
    for warning in warnings:
        sys.stderr.write(f"warning: {clean(warning)}\n")
    if as_json:
        sys.stdout.write(json.dumps(_records(df), indent=1) + "\n")
    else:
        from tunecost.launcher.views.prices_view import print_offers

        print_offers(df, as_of, spot)


@prices_app.command("refresh", cls=PlainFlagsCommand)
def refresh_cmd(
    providers: Optional[str] = typer.Option(None, "--providers", help="Comma-separated SkyPilot cloud names "
                                            "[default: those marked refresh_default in pricing_data/providers.csv]"),
    timeout: float = typer.Option(30.0, "--timeout", help="Seconds to wait for each catalog download."),
) -> None:
    """Rebuild $TUNECOST_HOME/prices/<provider>.csv from SkyPilot's catalog (download, else its local cache)."""
    from tunecost.launcher.commands.prices_refresh import refresh
    from tunecost.planner.market.offers import prices_dir

    from tunecost.planner.market.providers import refresh_defaults

    wanted = [p.strip().lower() for p in providers.split(",") if p.strip()] if providers else list(refresh_defaults())
    for done in refresh(wanted, prices_dir(), timeout):
        sys.stdout.write(f"{done.provider}: {done.rows} offers, prices as of {done.as_of} ({done.source}) "
                         f"-> {done.path}\n")
