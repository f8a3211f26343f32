"""What a finished run prints: `launch` its outcome in two lines, `report` the bill once, with the trained tokens
beside the plan's and the eval loss before and after training."""

from __future__ import annotations

from datetime import datetime, timezone

from tunecost.job.job_config import JobConfig
from tunecost.job.run_summary import RunSummary
from tunecost.launcher.ledger.run_record import RunRecord, local_offer
from tunecost.launcher.reports.cost_summary import summarize
from tunecost.launcher.views.summary_view import outcome_lines, summary_rows
from tunecost.planner.market.offer import Offer
from tunecost.planner.spec import DatasetSize

from .conftest import SINGLE


def _record(dataset: DatasetSize, **summary) -> RunRecord:
    plan = SINGLE.model_copy(update={"spec": SINGLE.spec.model_copy(update={"dataset": dataset, "epochs": 2.0})})
    fields = dict(steps=72, train_tokens=11_110, final_loss=0.25, eval_loss=0.28, eval_loss_before=2.41,
                  stop_reason="completed",
                  config=JobConfig(model="tiny", dataset="demo", output_dir="o", eval_fraction=0.1))
    return RunRecord(id="tc-x", status="succeeded", backend="local", offer=local_offer(0.0), created_at=datetime(
        2026, 12, 7, tzinfo=timezone.utc), actual_hours=0.05, estimated_hours=0.04, plan=plan,
        summary=RunSummary(**{**fields, **summary}))


def test_report_puts_trained_tokens_beside_planned_and_eval_loss_before_after():
    counted = DatasetSize(tokens_per_epoch=6_171, examples=320, source="counted demo_data.jsonl: tokenizer")
    rows = dict(summary_rows(summarize(_record(counted))))
    assert rows["train tokens"] == "11,110 trained, 12,342 planned (-10.0%: 10% held out)"
    assert rows["eval loss"] == "2.4100 before training, 0.2800 after"
    assert "billing rule source" not in rows and "recoveries" not in rows  # a local run: rows that say nothing


def test_a_plan_without_a_dataset_has_no_planned_tokens_to_compare():
    rows = dict(summary_rows(summarize(_record(DatasetSize(tokens_per_epoch=10_000_000, source="default: 10M tokens")))))
    assert rows["train tokens"] == "11,110 trained"


def test_launch_prints_the_outcome_not_the_bill():
    lines = outcome_lines(summarize(_record(DatasetSize(tokens_per_epoch=6_171, source="counted"))))
    assert lines == ["run tc-x succeeded: 72 steps in 3.0 min (estimated 2.4 min), final loss 0.2500; compute cost "
                     "$0.00 (local rate 0 $/h)", "its bill, estimate vs actual and tokens: tunecost report tc-x"]
    failed = _record(DatasetSize(tokens_per_epoch=6_171, source="counted")).model_copy(update={"status": "failed"})
    assert "why: job exited 1: boom" in outcome_lines(summarize(failed), "job exited 1: boom")


def test_launch_says_where_a_local_run_s_adapter_is_and_not_a_cloud_vm_s_path():
    local = _record(DatasetSize(tokens_per_epoch=6_171, source="counted"), adapter_dir="/home/u/.tunecost/runs/tc-x/"
                    "output/adapter")
    lines = outcome_lines(summarize(local))
    assert lines[1] == "adapter: /home/u/.tunecost/runs/tc-x/output/adapter" and lines[2].startswith("its bill")
    cloud = local.model_copy(update={"backend": "skypilot", "offer": Offer(provider="aws")})
    assert not any(line.startswith("adapter:") for line in outcome_lines(summarize(cloud)))
