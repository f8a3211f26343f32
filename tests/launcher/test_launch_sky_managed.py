"""The ledger logic around a managed job. No cloud is reachable here, so only launcher/backends/sky_client.py's calls that
need one are replaced (monkeypatched); task validation stays the real SkyPilot. Each test says so in its name."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tunecost.launcher.backends import skypilot as sky_backend

from tunecost.launcher.backends import sky_client
from tunecost.launcher.ledger.store import Ledger
from tunecost.planner.errors import UserError

from .conftest import SINGLE

START = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc).timestamp()
SUMMARY = '{"steps": 120, "stop_reason": "completed", "resumed_from": [50, 100], "final_loss": 1.23}'


class FakeSky:
    """Stands in for the cloud side of sky_client; records what the backend asked for."""

    def __init__(self, monkeypatch, status="SUCCEEDED", server_was_running=True, logs=None, launch_error=None):
        self.calls: list[str] = []
        self.task = None
        self.status = status
        self.logs = logs if logs is not None else [
            "step 50/120 | loss 2.0\n(task, pid=1) TUNECOST_SUMMARY " + SUMMARY[:30], SUMMARY[30:] + "\n"]
        self.launch_error = launch_error
        monkeypatch.setattr(sky_client, "server_running", lambda: server_was_running)
        monkeypatch.setattr(sky_client, "enabled_clouds", lambda: ["lambda", "runpod"])
        monkeypatch.setattr(sky_client, "jobs_launch", self.jobs_launch)
        monkeypatch.setattr(sky_client, "tail_job_logs", self.tail)
        monkeypatch.setattr(sky_client, "job_record", self.job_record)
        monkeypatch.setattr(sky_client, "jobs_cancel", lambda job_id: self.calls.append(f"cancel {job_id}"))
        monkeypatch.setattr(sky_client, "api_stop", lambda: self.calls.append("api_stop"))

    def jobs_launch(self, task, name):
        self.calls.append(f"launch {name}")
        self.task = task
        if self.launch_error:
            raise self.launch_error
        return 7

    def tail(self, job_id):
        for chunk in self.logs:
            if isinstance(chunk, BaseException):
                raise chunk
            yield chunk

    def job_record(self, job_id, refresh=False):
        return {"job_id": job_id, "status": self.status, "start_at": START, "end_at": START + 1.5 * 3600,
                "job_duration": 1.2 * 3600, "recovery_count": 2, "cloud": "Lambda", "region": "us-east-1",
                "zone": None, "failure_reason": None}


def _prepare(tmp_path, ledger):
    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    return sky_backend.prepare(SINGLE, dataset=dataset, bucket="my-ckpts", ledger=ledger, top_k=3, run_id="tc-m1")


def test_managed_job_completion_recorded__sky_client_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "secret-value")
    fake = FakeSky(monkeypatch)
    ledger = Ledger(tmp_path / "home")
    echoed: list[str] = []
    record = sky_backend.launch_managed(_prepare(tmp_path, ledger), ledger=ledger, echo=echoed.append,
                                        confirm=lambda q: pytest.fail("no prompt expected"))
    assert fake.calls == ["launch tc-m1"]  # the server was already running: not ours to stop
    assert fake.task.secrets["HF_TOKEN"].get_secret_value() == "secret-value"  # in memory only
    assert record.status == "succeeded" and record.backend == "sky-managed" and record.sky_job_id == 7
    assert record.summary.steps == 120 and record.resumes == [50, 100]
    assert record.recoveries == 2
    assert record.actual_hours == pytest.approx(1.5)  # SkyPilot's start..end, not the job's own clock
    # it ran on the lambda fallback (SkyPilot's cloud/region), so that offer's rate bills it
    assert (record.offer.provider, record.rate) == ("lambda", 1.79)
    assert record.actual_cost == pytest.approx(1.5 * 1.79)
    assert (record.estimated_hours, record.estimated_cost) == (2.0, 2.38)  # what the plan said, kept
    assert record.ended_at == datetime.fromtimestamp(START + 1.5 * 3600, tz=timezone.utc)
    assert [h.status for h in record.history] == ["pending", "running", "succeeded"]
    assert "step 50/120 | loss 2.0" in echoed and not any("TUNECOST_SUMMARY" in e for e in echoed)
    assert "secrets:\n  HF_TOKEN: null" in record.task_yaml
    assert b"secret-value" not in (tmp_path / "home" / "ledger.sqlite").read_bytes()


def test_ctrl_c_then_cancel_marks_the_run_stopped__sky_client_replaced(tmp_path, monkeypatch):
    fake = FakeSky(monkeypatch, status="CANCELLED", server_was_running=False,
                   logs=["step 1/120\n", KeyboardInterrupt()])
    ledger = Ledger(tmp_path / "home")
    record = sky_backend.launch_managed(_prepare(tmp_path, ledger), ledger=ledger, echo=lambda s: None,
                                        confirm=lambda q: True)
    assert fake.calls == ["launch tc-m1", "cancel 7", "api_stop"]  # we started the server, so we stop it
    assert record.status == "stopped"
    assert [h.note for h in record.history][-2:] == ["cancel requested by the user", "SkyPilot: CANCELLED"]


def test_ctrl_c_without_cancel_detaches_and_keeps_the_server__sky_client_replaced(tmp_path, monkeypatch):
    fake = FakeSky(monkeypatch, server_was_running=False, logs=[KeyboardInterrupt()])
    ledger = Ledger(tmp_path / "home")
    record = sky_backend.launch_managed(_prepare(tmp_path, ledger), ledger=ledger, echo=lambda s: None,
                                        confirm=lambda q: False)
    assert fake.calls == ["launch tc-m1"]  # no cancel, and the job still needs the server
    assert record.status == "running" and "sky jobs logs 7" in record.history[-1].note


def test_failed_submission_is_recorded_as_failed_with_reason__sky_client_replaced(tmp_path, monkeypatch):
    FakeSky(monkeypatch, launch_error=UserError("sky jobs launch: no offer in the plan had capacity"))
    ledger = Ledger(tmp_path / "home")
    with pytest.raises(UserError):
        sky_backend.launch_managed(_prepare(tmp_path, ledger), ledger=ledger, echo=lambda s: None,
                                   confirm=lambda q: False)
    [run] = ledger.list()
    assert run.status == "failed" and "no offer in the plan had capacity" in run.history[-1].note


def test_job_failure_from_skypilot_is_failed__sky_client_replaced(tmp_path, monkeypatch):
    FakeSky(monkeypatch, status="FAILED_SETUP", logs=["pip: error\n"])
    ledger = Ledger(tmp_path / "home")
    record = sky_backend.launch_managed(_prepare(tmp_path, ledger), ledger=ledger, echo=lambda s: None,
                                        confirm=lambda q: False)
    assert record.status == "failed" and record.history[-1].note.startswith("SkyPilot: FAILED_SETUP")
    assert record.summary is None


def test_the_end_is_polled_until_skypilot_reports_a_terminal_state__sky_client_replaced(tmp_path, monkeypatch):
    """The log stream ends before the controller has marked the job done: one read would record `running`
    forever; the backend asks again (refreshed) until a terminal state."""
    fake = FakeSky(monkeypatch)
    statuses = iter(["RUNNING", "RECOVERING", "RUNNING", "SUCCEEDED"])
    reads: list[bool] = []

    def job_record(job_id, refresh=False):
        reads.append(refresh)
        fake.status = next(statuses)
        return FakeSky.job_record(fake, job_id)

    monkeypatch.setattr(sky_client, "job_record", job_record)
    monkeypatch.setattr(sky_backend, "POLL_SECONDS", 0.01)
    ledger = Ledger(tmp_path / "home")
    record = sky_backend.launch_managed(_prepare(tmp_path, ledger), ledger=ledger, echo=lambda s: None,
                                        confirm=lambda q: False)
    assert record.status == "succeeded" and len(reads) == 4 and all(reads)


class FakeCluster(FakeSky):
    """The same cloud side for an unmanaged --cluster run: launch on a named cluster, its logs, its teardown."""

    def __init__(self, monkeypatch, logs):
        super().__init__(monkeypatch, logs=logs)
        monkeypatch.setattr(sky_client, "cluster_launch", self.cluster_launch)
        monkeypatch.setattr(sky_client, "tail_cluster_logs", lambda cluster, job_id: self.tail(job_id))
        monkeypatch.setattr(sky_client, "down", lambda cluster: self.calls.append(f"down {cluster}"))

    def cluster_launch(self, task, cluster):
        self.calls.append(f"launch {cluster}")
        return 3


@pytest.mark.parametrize("stop_reason,status", [("error", "failed"), ("completed", "succeeded"),
                                                ("max_steps", "succeeded"), ("sigterm", "stopped"),
                                                ("budget", "stopped")])
def test_cluster_job_status_follows_its_summary_a_crash_is_failed__sky_client_replaced(
        tmp_path, monkeypatch, stop_reason, status):
    """--cluster has no controller to judge the job: its summary does, through the mapping every backend shares.
    A job that crashed (stop_reason error) was recorded as stopped, which reads as resumable, not broken."""
    line = f'{{"steps": 7, "stop_reason": "{stop_reason}", "error": "RuntimeError(\'boom\')"}}'
    fake = FakeCluster(monkeypatch, logs=["step 7/120\n", "TUNECOST_SUMMARY " + line + "\n"])
    ledger = Ledger(tmp_path / "home")
    record = sky_backend.launch_cluster(_prepare(tmp_path, ledger), "dbg", ledger=ledger, echo=lambda s: None)
    assert record.status == status and record.backend == "sky-cluster"
    assert record.history[-1].note == f"stop_reason {stop_reason}" and record.summary.steps == 7
    assert fake.calls == ["launch dbg", "down dbg"]  # torn down whatever the outcome


def test_cluster_job_without_a_summary_is_failed_with_its_last_error__sky_client_replaced(tmp_path, monkeypatch):
    FakeCluster(monkeypatch, logs=["Traceback (most recent call last):\n", "ImportError: no module named x\n"])
    ledger = Ledger(tmp_path / "home")
    record = sky_backend.launch_cluster(_prepare(tmp_path, ledger), "dbg", ledger=ledger, echo=lambda s: None)
    assert record.status == "failed" and record.summary is None
    assert record.history[-1].note == "no job summary: ImportError: no module named x"
