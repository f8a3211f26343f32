"""The hand-written plan fixtures (typed by the Plan model itself in conftest) add up like real quotes, survive
the JSON round trip `plan --save` / `launch` makes, and the real plan renders a task SkyPilot accepts."""

from __future__ import annotations

import pytest
import yaml

from tunecost.launcher.backends import sky_client
from tunecost.launcher.backends.sky_task import TaskOptions, render_task_yaml
from tunecost.planner.plan import load_plan

from .conftest import MULTI_GPU, MULTI_NODE, OPTIMIZED, SINGLE

HAND_WRITTEN = {"SINGLE": SINGLE, "MULTI_GPU": MULTI_GPU, "MULTI_NODE": MULTI_NODE}


@pytest.mark.parametrize("name", HAND_WRITTEN)
def test_hand_written_plans_add_up_like_the_optimizers(name, tmp_path):
    plan = HAND_WRITTEN[name]
    assert set(plan.chosen.hours_breakdown) == set(OPTIMIZED.chosen.hours_breakdown)
    for q in plan.quotes:
        assert sum(q.hours_breakdown.values()) == pytest.approx(q.hours)
        assert q.cost == pytest.approx(q.hours * q.offer.total_per_hour, rel=1e-3)
    saved = tmp_path / "plan.json"
    saved.write_text(plan.model_dump_json())
    assert load_plan(saved) == plan


def test_the_real_plan_renders_a_task_skypilot_accepts(tmp_path):
    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hello"}\n')
    text = render_task_yaml(OPTIMIZED, TaskOptions(run_id="tc-real", bucket="b", dataset_local=str(dataset),
                                                   workdir=str(tmp_path), top_k=3))
    task = sky_client.validate_task(text)
    chosen = OPTIMIZED.chosen
    assert (task.resources[0].instance_type, task.resources[0].use_spot) == (chosen.offer.instance_type, True)
    assert yaml.safe_load(text)["resources"]["ordered"][0]["accelerators"] == {"T4": 1}  # gcp n1 host + T4
    assert [r.instance_type for r in task.resources] == [q.offer.instance_type for q in OPTIMIZED.quotes[:3]]
