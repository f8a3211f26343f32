"""Issue 18's goal, per framework: the preset a user of that stack picks is at or below 10 % median and 25 % p90
|error| against the stack's published peaks out of sample (every fitted constant refitted without the row's
source), and never worse than planning without a preset (the bundled job's figure) on the same rows. The full
table is benchmarks/estimate_accuracy.md (python benchmarks/estimate_accuracy.py)."""

from pathlib import Path

import pytest

from validation.accuracy import Goal, score

ROOT = Path(__file__).resolve().parents[2]
SCORED = score(ROOT / "tests" / "data" / "published_runs.csv", ROOT / "benchmarks" / "ftune_estimates.csv")
FRAMEWORKS = sorted({s.framework for s in SCORED})

# Framework x method cells whose median is worse than no preset, and why. An entry that starts meeting the goal
# must leave the list (and benchmarks/estimate_accuracy.md its explanation).
WORSE_MEDIAN_THAN_NO_PRESET = {
    ("torchtune", "lora"): "TTLT-01 (15.57 GB) and TTM-03 (17.18 GB) measured one config 9 % apart; the physics sits "
                           "between them, the bundled job's lower figure on the lower source and under all 8 rows",
}


def _goal(rows) -> Goal:
    return Goal.of(*([abs(getattr(s, e) / s.measured - 1) for s in rows] for e in ("tunecost_loso", "no_preset")))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_each_frameworks_preset_meets_the_goal_out_of_sample_and_is_never_worse_than_no_preset(framework):
    rows = [s for s in SCORED if s.framework == framework]
    goal = _goal(rows)
    assert goal.median <= 0.10 and goal.p90 <= 0.25, f"{framework}: {goal} over {len(rows)} rows"
    assert goal.median <= goal.bare_median and goal.p90 <= goal.bare_p90, f"{framework}: {goal}"


def test_per_method_too_the_preset_is_never_worse_than_no_preset_but_for_the_cells_named_with_why():
    worse = set()
    for cell in sorted({(s.framework, s.method) for s in SCORED}):
        goal = _goal([s for s in SCORED if (s.framework, s.method) == cell])
        assert goal.median <= 0.10 and goal.p90 <= 0.25 and goal.p90 <= goal.bare_p90, cell
        if goal.median > goal.bare_median:
            worse.add(cell)
    assert worse == set(WORSE_MEDIAN_THAN_NO_PRESET)
