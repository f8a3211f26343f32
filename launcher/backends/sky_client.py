"""Every SkyPilot client call tunecost makes, in one small module.

WHY one module: SkyPilot's SDK is client/server (the first call may start a local API server) and its API moves
between releases; keeping every call here means one place to adapt, one place to translate its errors into
one-line UserErrors, and one boundary that tests replace (monkeypatch) where no cloud is reachable.
`sky` is imported inside the functions only, so `tunecost plan` never pays its ~2 s import.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Optional

from tunecost.planner.errors import UserError

NO_CLOUD = ("no cloud credentials are set up for SkyPilot; run `sky check` to enable a cloud "
            "(or run on this machine with `tunecost launch --local`)")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


@contextmanager
def _translated(action: str) -> Iterator[None]:
    """Turn SkyPilot's credential, catalog and connection failures into one line the user can act on."""
    from sky import exceptions

    try:
        yield
    except exceptions.NoCloudAccessError:
        raise UserError(NO_CLOUD) from None
    except exceptions.CloudError as err:
        raise UserError(f"{action}: {_first_line(err)}; run `sky check` to see which clouds are enabled") from None
    except exceptions.ResourcesUnavailableError as err:
        raise UserError(f"{action}: no offer in the plan had capacity ({_first_line(err)}); re-plan with "
                        "more --top fallbacks or on-demand offers") from None
    except exceptions.ApiServerConnectionError as err:
        raise UserError(f"{action}: cannot reach the SkyPilot API server ({_first_line(err)}); "
                        "check `sky api info`") from None
    except (ConnectionError, OSError) as err:
        if "catalog" in str(err) or "githubusercontent" in str(err) or "NameResolution" in str(err):
            raise UserError(f"{action}: SkyPilot could not download its price catalog (no network?); "
                            "check your connection, then run `sky check`") from None
        raise
    except Exception as err:  # requests' ConnectionError is not a builtin ConnectionError
        if type(err).__module__.startswith(("requests", "urllib3")):
            raise UserError(f"{action}: network error from SkyPilot ({_first_line(err)}); check your "
                            "connection, then run `sky check`") from None
        raise


def validate_task(yaml_text: str, secrets: Optional[Mapping[str, str]] = None) -> Any:
    """Parse the task YAML with SkyPilot's own schema (offline); secret values are attached here, in memory only."""
    import yaml
    from sky import Task

    try:
        config = yaml.safe_load(yaml_text)
        return Task.from_yaml_config(config, secrets_overrides=list((secrets or {}).items()) or None)
    except (yaml.YAMLError, ValueError) as err:
        raise UserError(f"SkyPilot rejected the task YAML: {_first_line(err)}") from None


def server_running() -> bool:
    """Is an API server already up? (Then it is not ours to stop.)"""
    from sky.server import common

    try:
        return common.get_api_server_status().status == common.ApiServerStatus.HEALTHY
    except Exception:  # unreachable in any way means not running
        return False


def enabled_clouds() -> list[str]:
    """The clouds SkyPilot may launch on (starts the local API server if none is running)."""
    import sky
    from sky.client import sdk

    with _translated("sky check"):
        return [str(c) for c in sky.get(sdk.enabled_clouds())]


def jobs_launch(task: Any, name: str) -> int:
    """Submit a managed job; returns its managed job id."""
    import sky

    with _translated("sky jobs launch"):
        job_ids, _handle = sky.stream_and_get(sky.jobs.launch(task, name=name))
    if not job_ids:
        raise UserError("sky jobs launch returned no job id; see `sky jobs queue`")
    return int(job_ids[0])


def tail_job_logs(job_id: int) -> Iterator[str]:
    """Follow a managed job's logs until it ends, chunk by chunk."""
    import sky

    with _translated("sky jobs logs"):
        for chunk in sky.jobs.tail_logs(job_id=job_id, follow=True, preload_content=False):
            if chunk is None:
                return
            yield chunk


def job_record(job_id: int, refresh: bool = False) -> dict[str, Any]:
    """SkyPilot's record of a managed job: status, submitted/start/end times, duration, recoveries, resources.
    refresh=True has the controller update it first (slower, current)."""
    import sky

    with _translated("sky jobs queue"):
        result = sky.get(sky.jobs.queue_v2(refresh=refresh, job_ids=[job_id], fields=None))
    records = result[0] if isinstance(result, tuple) else result
    for rec in records:
        data = rec.model_dump() if hasattr(rec, "model_dump") else dict(rec)
        if data.get("job_id") == job_id:
            status = data.get("status")
            data["status"] = getattr(status, "value", status)
            return data
    raise UserError(f"SkyPilot has no managed job {job_id}; see `sky jobs queue`")


def jobs_cancel(job_id: int) -> None:
    """Cancel a managed job; SkyPilot tears its cluster down."""
    import sky

    with _translated("sky jobs cancel"):
        sky.get(sky.jobs.cancel(job_ids=[job_id]))


def cluster_launch(task: Any, cluster: str) -> int:
    """Unmanaged run on a named cluster that tears itself down when the job ends (down=True)."""
    import sky

    with _translated("sky launch"):
        job_id, _handle = sky.stream_and_get(sky.launch(task, cluster_name=cluster, down=True))
    return int(job_id)


def tail_cluster_logs(cluster: str, job_id: int) -> Iterator[str]:
    import sky

    with _translated("sky logs"):
        for chunk in sky.tail_logs(cluster, job_id, follow=True, preload_content=False):
            if chunk is None:
                return
            yield chunk


def down(cluster: str) -> None:
    """Tear a cluster down (billing stops)."""
    import sky

    with _translated("sky down"):
        sky.get(sky.down(cluster))


def api_stop() -> None:
    """Stop the local API server; the backends call it only when this process started it."""
    import sky

    sky.api_stop()
