"""`tunecost prices refresh`: rebuild $TUNECOST_HOME/prices/<provider>.csv from SkyPilot's own catalog.

We read the catalog through SkyPilot (sky.catalog.common.read_catalog), so refresh sees exactly the prices
SkyPilot will launch with: it downloads the hosted catalog where the network allows and reads SkyPilot's local
cache (~/.sky/catalogs/<schema>/<cloud>/vms.csv) otherwise. SkyPilot's download has no timeout, so it runs in a
worker thread that we stop waiting for after `timeout` seconds.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Optional

from tunecost.job.atomic import atomic_write
from tunecost.planner.errors import UserError

DOWNLOAD_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Refreshed:
    """One provider's refreshed table: where it went, how many offers, and how old the prices are."""

    provider: str
    path: Path
    rows: int
    as_of: str
    source: str


def _mtime(path: str) -> Optional[float]:
    return os.path.getmtime(path) if os.path.exists(path) else None


def _read_with_timeout(filename: str, timeout: float):
    """SkyPilot's read (download if allowed, else cache) in a daemon thread, bounded by `timeout` seconds."""
    from sky.catalog import common

    result: dict = {}

    def work() -> None:
        try:
            result["frame"] = common.read_catalog(filename, pull_frequency_hours=0).copy()
        except BaseException as err:  # reported to the caller below
            result["error"] = err

    # SkyPilot prints spinner payloads; silence them here, in the main thread, so that the streams come back
    # even when the worker is abandoned mid-download.
    worker = threading.Thread(target=work, daemon=True, name=f"tunecost-refresh-{filename}")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        worker.start()
        worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no answer within {timeout:.0f} s")
    if "error" in result:
        raise result["error"]
    return result["frame"]


def refresh_provider(provider: str, out_dir: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> Refreshed:
    """Read one cloud's vms.csv through SkyPilot, convert it, and replace <out_dir>/<provider>.csv atomically."""
    from sky.catalog import common
    from sky.skylet import constants

    from tunecost.planner.market.gpus import load_gpus
    from tunecost.planner.market.offer_table import OFFER_COLUMNS
    from tunecost.planner.market.skypilot_catalog import catalog_to_offers

    filename = f"{provider}/vms.csv"
    cache = common.get_catalog_path(filename)
    downloaded_marker = os.path.join(common.get_catalog_path(".meta"), filename + ".md5")
    cached_at, marker_before = _mtime(cache), _mtime(downloaded_marker)
    schema = constants.CATALOG_SCHEMA_VERSION
    try:
        frame = _read_with_timeout(filename, timeout)
    except Exception as err:  # network, cache, or unknown cloud: all end the same way for the user
        reason = f"{err.__class__.__name__}: {str(err).splitlines()[0][:120]}" if str(err) else err.__class__.__name__
        raise UserError(f"cannot refresh {provider}: SkyPilot could not download {schema}/{filename} ({reason}) "
                        f"and has no cached copy at {cache}; connect to the network and retry, "
                        "or pass your own prices with --prices FILE") from None
    # SkyPilot writes the .md5 marker only after a successful download (and touches the cache on a failed one).
    fresh = _mtime(downloaded_marker) is not None and _mtime(downloaded_marker) != marker_before
    stamp = date.today() if fresh or cached_at is None else datetime.fromtimestamp(cached_at).date()
    source = f"skypilot catalog {schema}/{filename}"
    memory = {name: spec.memory_gib for name, spec in load_gpus().items()}
    try:
        offers = catalog_to_offers(frame, provider, stamp.isoformat(), source, memory)
    except ValueError as err:
        raise UserError(f"cannot refresh {provider}: {cache} is {err}; delete it and retry") from None

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{provider}.csv"
    atomic_write(target, offers[OFFER_COLUMNS].to_csv(index=False))
    return Refreshed(provider, target, len(offers), stamp.isoformat(), source)


def skypilot_clouds() -> list[str]:
    """Clouds SkyPilot keeps a catalog for (one sky/catalog/<cloud>_catalog.py each)."""
    import sky.catalog

    folder = Path(sky.catalog.__file__).parent
    return sorted(p.stem.removesuffix("_catalog") for p in folder.glob("*_catalog.py"))


def refresh(providers: list[str], out_dir: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> list[Refreshed]:
    """Refresh each provider in turn; the first failure stops with a UserError (finished files stay valid)."""
    known = skypilot_clouds()
    unknown = [p for p in providers if p not in known]
    if unknown:
        raise UserError(f"cannot refresh '{unknown[0]}': SkyPilot has no catalog for it "
                        f"(known: {', '.join(known)})")
    return [refresh_provider(p, out_dir, timeout) for p in providers]
