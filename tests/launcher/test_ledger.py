"""The SQLite run ledger: create, status history, update, get, list filters, transactions."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import closing
from datetime import datetime, timedelta, timezone

import pytest

from tunecost.job.run_summary import RunSummary, StopReason
from tunecost.launcher.ledger.store import Ledger
from tunecost.launcher.ledger.run_record import RunRecord
from tunecost.planner.market.offer import Offer
from tunecost.launcher.ledger.run_status import STATUS_OF_STOP, RunStatus
from tunecost.planner.errors import UserError

from .conftest import MULTI_NODE, SINGLE


def _record(run_id: str, created: datetime | None = None, **fields) -> RunRecord:
    created = created or datetime.now(timezone.utc)
    return RunRecord(id=run_id, status=fields.pop("status", "pending"), backend="local",
                     created_at=created, **fields)


def test_home_defaults_to_tunecost_home_env_and_the_file_is_made_on_the_first_write(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNECOST_HOME", str(tmp_path / "th"))
    ledger = Ledger()
    assert ledger.path == tmp_path / "th" / "ledger.sqlite"
    assert ledger.list() == [] and not (tmp_path / "th").exists()  # reading a new home creates nothing
    ledger.create(_record("r1"))
    assert ledger.path.exists() and [p.name for p in (tmp_path / "th").iterdir()] == ["ledger.sqlite"]


def test_create_get_roundtrip_keeps_every_field(tmp_path):
    ledger = Ledger(tmp_path)
    rec = _record("r1", offer=Offer(provider="runpod", gpu="A100-80GB", gpu_count=2, spot=True, price_per_hour=3.5),
                  estimated_hours=1.25,
                  estimated_cost=4.375, plan=SINGLE, summary={"steps": 3})
    stored = ledger.create(rec)
    got = ledger.get("r1")
    assert got == stored
    assert got.offer.gpu_count == 2 and got.plan == SINGLE and got.plan.chosen.offer.gpu == "A100-80GB"
    assert [h.status for h in got.history] == ["pending"]


def test_records_written_before_plans_were_typed_still_load(tmp_path):
    """A record from an older tunecost: its plan has no schema version and dicts for memory and speed (or is
    `{}` for a run launched without one); both load, the plan typed, so reports keep reading old runs."""
    old_plan = json.loads(SINGLE.model_dump_json(exclude={"schema_version", "sweep"}))
    old_plan.update(memory={}, speed={})
    made = datetime.now(timezone.utc).isoformat()
    planned = RunRecord.model_validate_json(json.dumps({"id": "old1", "status": "succeeded", "backend": "local",
                                                        "created_at": made, "plan": old_plan}))
    assert planned.plan.schema_version == 1 and planned.plan.chosen == SINGLE.chosen
    assert planned.plan.memory is None
    bare = RunRecord.model_validate_json(json.dumps({"id": "old2", "status": "stopped", "backend": "local",
                                                     "created_at": made, "plan": {}}))
    assert bare.plan is None


def test_create_refuses_duplicate_id(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.create(_record("dup"))
    with pytest.raises(UserError, match="already exists"):
        ledger.create(_record("dup"))


def test_unknown_run_is_a_user_error_pointing_to_runs(tmp_path):
    with pytest.raises(UserError, match=r"no run 'nope'; see tunecost runs"):
        Ledger(tmp_path).get("nope")


def test_status_transitions_are_appended_with_times_and_notes(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.create(_record("r"))
    ledger.set_status("r", "running")
    ledger.set_status("r", "stopped", "interrupted at step 4")
    ledger.set_status("r", "running", "resumed from step 4")
    ledger.set_status("r", "succeeded")
    rec = ledger.get("r")
    assert [h.status for h in rec.history] == ["pending", "running", "stopped", "running", "succeeded"]
    assert rec.history[2].note == "interrupted at step 4"
    times = [h.at for h in rec.history]
    assert times == sorted(times)
    assert rec.started_at == rec.history[1].at      # the first start is kept across a resume
    assert rec.ended_at == rec.history[-1].at
    assert rec.status == "succeeded"


def test_set_status_rejects_unknown_status(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.create(_record("r"))
    with pytest.raises(ValueError, match="unknown run status"):
        ledger.set_status("r", "done")
    assert ledger.get("r").status == "pending"


def test_update_validates_fields_and_records_status_change(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.create(_record("r", status="running"))
    rec = ledger.update("r", actual_hours=0.5, actual_cost=1.75, recoveries=2, status="failed")
    assert (rec.actual_hours, rec.actual_cost, rec.recoveries) == (0.5, 1.75, 2)
    assert [h.status for h in ledger.get("r").history] == ["running", "failed"]
    with pytest.raises(ValueError, match="not RunRecord fields"):
        ledger.update("r", cost=3)
    with pytest.raises(Exception):
        ledger.update("r", offer={"provider": "aws", "gpu_count": "many"})
    assert ledger.get("r").offer is None


def test_list_filters_by_time_and_tag_oldest_first(tmp_path):
    ledger = Ledger(tmp_path)
    t0 = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    ledger.create(_record("b", t0 + timedelta(days=1), tag="exp"))
    ledger.create(_record("a", t0, tag="exp"))
    ledger.create(_record("c", t0 + timedelta(days=2)))
    assert [r.id for r in ledger.list()] == ["a", "b", "c"]
    assert [r.id for r in ledger.list(since=t0 + timedelta(hours=1))] == ["b", "c"]
    assert [r.id for r in ledger.list(until=t0 + timedelta(days=2))] == ["a", "b"]
    assert [r.id for r in ledger.list(tag="exp")] == ["a", "b"]
    # a naive datetime is read as UTC; another zone is converted
    assert [r.id for r in ledger.list(since=datetime(2026, 11, 2, 12))] == ["b", "c"]
    cet = timezone(timedelta(hours=1))
    assert [r.id for r in ledger.list(since=datetime(2026, 11, 2, 13, 30, tzinfo=cet))] == ["c"]


def test_failed_write_leaves_the_record_unchanged(tmp_path, monkeypatch):
    ledger = Ledger(tmp_path)
    ledger.create(_record("r", status="running"))

    def boom(db, record):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Ledger, "_write", staticmethod(boom))
    with pytest.raises(UserError, match="disk I/O error"):  # one line naming the ledger, not a traceback
        ledger.set_status("r", "succeeded")
    monkeypatch.undo()
    rec = ledger.get("r")
    assert rec.status == "running" and [h.status for h in rec.history] == ["running"]


def test_concurrent_status_writes_lose_nothing(tmp_path):
    Ledger(tmp_path).create(_record("r", status="running"))

    def writer(n: int) -> None:
        led = Ledger(tmp_path)
        for i in range(10):
            led.set_status("r", "running", f"w{n}-{i}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(Ledger(tmp_path).get("r").history) == 1 + 30


def test_set_status_writes_fields_in_the_same_transaction(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.create(_record("r", status="running"))
    ledger.set_status("r", "succeeded", "done", actual_hours=0.25, actual_cost=0.5)
    rec = ledger.get("r")
    assert (rec.status, rec.actual_hours, rec.actual_cost, rec.history[-1].note) == ("succeeded", 0.25, 0.5, "done")
    with pytest.raises(ValueError, match="not RunRecord fields"):
        ledger.set_status("r", "failed", bogus=1)
    assert ledger.get("r").status == "succeeded"


def test_new_run_ids_are_unique_and_skypilot_safe(tmp_path):
    """Uniqueness is the ledger's (50 raw draws in one second collide ~2 % of the time: the test once did), so
    the ids come from the ledger, each staged as a run folder the way a launch stages it before its record."""
    import re

    ledger = Ledger(tmp_path)
    ids = []
    for _ in range(50):
        ids.append(ledger.new_run_id())
        (tmp_path / "runs" / ids[-1]).mkdir(parents=True)
    assert len(set(ids)) == 50
    assert all(re.fullmatch(r"tc-\d{6}-\d{6}-[0-9a-f]{4}", i) for i in ids)


def test_a_run_id_drawn_twice_in_one_second_is_drawn_again(tmp_path, monkeypatch):
    """The random part is 2 bytes: a second run in the same second can draw a taken id. The ledger skips ids
    it holds and ids with a run folder (written before the record), never handing one out twice."""
    import secrets

    from tunecost.launcher.ledger import store

    ledger = Ledger(tmp_path)
    draws = iter(["beef", "beef", "cafe", "cafe", "f00d"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(draws))
    monkeypatch.setattr(store, "now", lambda: datetime(2026, 12, 2, 16, 0, 0, tzinfo=timezone.utc))
    first = ledger.new_run_id()
    ledger.create(_record(first))
    (tmp_path / "runs" / "tc-261202-160000-cafe").mkdir(parents=True)  # staged, not yet recorded
    assert (first, ledger.new_run_id()) == ("tc-261202-160000-beef", "tc-261202-160000-f00d")


# A record as the ledger stored it before RunSummary and RunStatus existed: plain strings and a summary dict with
# the job's keys (one it no longer writes), and a run that ended without a summary ({}).
OLD_SUMMARY = {"run_id": "tc-old", "method": "lora", "model": "tiny", "resumed_from": [4], "bad_rows": 0, "rows": 64,
               "steps": 8, "epochs": 0.5, "train_tokens": 2048, "peak_memory_gib": 0.61, "total_seconds": 36.5,
               "final_loss": 2.5, "eval_loss": None, "loss_curve": [[1, 3.1], [8, 2.5]], "stop_reason": "max_steps",
               "device": "cpu (2 cores)", "world_size": 1, "sample": {"prompt": "hi", "base": "a", "tuned": "b"},
               "config": {"method": "lora"}, "adapter_dir": "/x/adapter", "a_key_from_an_older_job": 1}


def _old_row(run_id: str, status: str, summary: dict) -> str:
    return json.dumps({"id": run_id, "status": status, "backend": "local", "created_at": "2026-11-01T00:00:00Z",
                       "summary": summary, "history": [{"status": "running", "at": "2026-11-01T00:00:00Z"},
                                                       {"status": status, "at": "2026-11-01T00:10:00Z"}]})


def test_a_record_stored_before_the_typed_contracts_loads(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.create(_record("tc-new"))
    with closing(sqlite3.connect(ledger.path)) as db, db:
        for run_id, status, summary in (("tc-old", "succeeded", OLD_SUMMARY), ("tc-none", "stopped", {})):
            db.execute("INSERT INTO runs VALUES (?, ?, ?, '', ?)", (run_id, "2026-11-01T00:00:00+00:00", status,
                                                                   _old_row(run_id, status, summary)))
    old, none = ledger.get("tc-old"), ledger.get("tc-none")
    assert old.status is RunStatus.SUCCEEDED and old.history[-1].status is RunStatus.SUCCEEDED
    assert isinstance(old.summary, RunSummary) and old.summary.stop_reason is StopReason.MAX_STEPS
    assert (old.summary.steps, old.summary.loss_curve, old.summary.sample["tuned"]) == (8, [(1, 3.1), (8, 2.5)], "b")
    assert none.summary is None and none.status is RunStatus.STOPPED
    # written back, it is stored as before: the job's keys (the unknown one dropped), {} for no summary
    ledger.set_status("tc-old", "succeeded", "again")
    ledger.set_status("tc-none", "stopped", "again")
    with closing(sqlite3.connect(ledger.path)) as db:
        rows = {run_id: (status, json.loads(record)) for run_id, status, record in
                db.execute("SELECT id, status, record FROM runs")}
    expected = {k: v for k, v in OLD_SUMMARY.items() if k != "a_key_from_an_older_job"}
    assert rows["tc-old"][0] == "succeeded" and rows["tc-old"][1]["summary"] == expected
    assert rows["tc-none"][0] == "stopped" and rows["tc-none"][1]["summary"] == {}


def test_every_stop_reason_the_job_writes_has_one_run_status():
    assert set(STATUS_OF_STOP) == set(StopReason)
    assert STATUS_OF_STOP[StopReason.ERROR] is RunStatus.FAILED


def test_where_hard_links_are_refused_the_ledger_is_made_in_place(tmp_path, monkeypatch):
    """Some filesystems (FUSE, vfat) refuse hard links: the boundary replaced here is os.link, raising EPERM."""
    import errno
    import os

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    ledger = Ledger(tmp_path / "h")
    ledger.create(_record("r1"))
    assert [r.id for r in Ledger(tmp_path / "h").list()] == ["r1"]
    assert sorted(p.name for p in (tmp_path / "h").iterdir()) == ["ledger.sqlite"]  # no temp file left


def test_a_record_stored_before_runs_held_an_offer_still_loads_with_its_plan(tmp_path):
    """Records written before the Offer model kept its fields flat, and their plans (schema 2) kept each quote's
    offer flat with price_per_hour for all nodes: both load, nested, and the bill's rate is unchanged."""
    old_quote = {k: v for k, v in MULTI_NODE.chosen.model_dump(mode="json").items() if k != "offer"}
    offer = MULTI_NODE.chosen.offer
    old_quote.update(provider=offer.provider, region=offer.region, zone=offer.zone, instance_type=offer.instance_type,
                     gpu=offer.gpu, gpu_count=offer.gpu_count, gpu_memory_gib=offer.gpu_memory_gib, spot=offer.spot,
                     as_of=offer.as_of, source=offer.source, num_nodes=offer.nodes, price_per_hour=offer.total_per_hour)
    old_plan = {**MULTI_NODE.model_dump(mode="json"), "schema_version": 2, "chosen": old_quote, "quotes": [old_quote]}
    stored = {"id": "tc-old", "status": "succeeded", "backend": "sky-managed", "created_at": "2026-11-01T00:00:00Z",
              "provider": "aws", "region": "us-west-2", "zone": "", "instance_type": "p4d.24xlarge", "gpu": "A100",
              "gpu_count": 8, "spot": True, "price_per_hour": 19.6, "plan": old_plan, "summary": {}}
    ledger = Ledger(tmp_path)
    ledger.create(_record("tc-new"))
    with closing(sqlite3.connect(ledger.path)) as db, db:
        db.execute("INSERT INTO runs (id, created_at, status, tag, record) VALUES (?, ?, ?, '', ?)",
                   ("tc-old", stored["created_at"], "succeeded", json.dumps(stored)))
    got = Ledger(tmp_path).get("tc-old")
    assert (got.offer.provider, got.offer.gpu, got.offer.gpu_count, got.rate) == ("aws", "A100", 8, 19.6)
    assert got.plan.chosen.offer == offer and got.plan.chosen.cost == MULTI_NODE.chosen.cost


def _flat(quote) -> dict:
    """A quote as plans before the Offer model stored it: the offer's fields beside the estimate."""
    flat = {k: v for k, v in quote.model_dump(mode="json").items() if k != "offer"}
    o = quote.offer
    flat.update(provider=o.provider, region=o.region, zone=o.zone, instance_type=o.instance_type, gpu=o.gpu,
                gpu_count=o.gpu_count, gpu_memory_gib=o.gpu_memory_gib, spot=o.spot, as_of=o.as_of, source=o.source,
                num_nodes=o.nodes, price_per_hour=o.total_per_hour)
    return flat


def test_a_record_whose_plan_is_a_schema_3_plan_from_before_the_offer_model_still_loads(tmp_path):
    """Schema 3 first carried the fallback order with flat quotes (each fallback's quote named `offer`); the
    Offer model joined it in the same schema: such a record's plan loads nested, its fallback order intact."""
    plan = json.loads(SINGLE.model_dump_json())
    assert plan["schema_version"] == 3 and SINGLE.fallbacks
    plan.update(chosen=_flat(SINGLE.chosen), quotes=[_flat(q) for q in SINGLE.quotes],
                fallbacks=[{"offer": _flat(f.quote), "reason": f.reason} for f in SINGLE.fallbacks])
    stored = {**json.loads(_record("tc-mid").model_dump_json()), "plan": plan}
    ledger = Ledger(tmp_path)
    ledger.create(_record("tc-new"))
    with closing(sqlite3.connect(ledger.path)) as db, db:
        db.execute("INSERT INTO runs (id, created_at, status, tag, record) VALUES (?, ?, ?, '', ?)",
                   ("tc-mid", stored["created_at"], stored["status"], json.dumps(stored)))
    got = Ledger(tmp_path).get("tc-mid").plan
    assert got.chosen == SINGLE.chosen and got.quotes == SINGLE.quotes and got.fallbacks == SINGLE.fallbacks
