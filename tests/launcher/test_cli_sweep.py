"""`tunecost plan --sweep/--sweep-file`: the sweep priced point by point in the table and the JSON, saved for
launch; bad sweep input (unknown key, empty list, too many points) one line, exit 2, nothing written."""

import json

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app

MODEL = ["--model", "meta-llama/Llama-3.1-8B", "--examples", "10000", "--avg-tokens", "800", "--epochs", "3"]


def run(*args):
    return CliRunner().invoke(app, list(args))


def test_rank_sweep_is_priced_per_point_and_in_total_and_saved(tmp_path):
    saved = tmp_path / "sweep.json"
    result = run("plan", *MODEL, "--sweep", "rank=8,16,32", "--save", str(saved))
    assert result.exit_code == 0, result.stderr
    plan = json.loads(saved.read_text())
    points = plan["sweep"]["points"]
    assert [p["params"] for p in points] == [{"rank": 8}, {"rank": 16}, {"rank": 32}]
    assert [p["spec"]["rank"] for p in points] == [8, 16, 32]
    assert len({(p["quotes"][0]["offer"]["provider"], p["quotes"][0]["offer"]["instance_type"]) for p in points}) == 1
    assert plan["sweep"]["total_cost"] == pytest.approx(sum(p["quotes"][0]["cost"] for p in points))
    out = result.stdout
    assert f"Sweep total: ${plan['sweep']['total_cost']:,.2f}" in out
    assert all(f"rank={r}" in out for r in (8, 16, 32))


def test_sweep_file_and_flags_make_one_grid(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("learning-rate: [1.0e-4, 2.0e-4]\n")
    data = json.loads(run("plan", *MODEL, "--sweep", "rank=8,16", "--sweep-file", str(path), "--json").stdout)
    assert len(data["sweep"]["points"]) == 4
    assert data["sweep"]["points"][1]["job"] == {"learning_rate": 2e-4}


@pytest.mark.parametrize("args, says", [
    (["--sweep", "colour=red"], "unknown sweep key 'colour'"),
    (["--sweep", "rank="], "no values for rank"),
    (["--sweep", "rank=" + ",".join(map(str, range(1, 20))), "--sweep", "batch=" + ",".join(map(str, range(1, 20)))],
     "361 points, over the limit of 256"),
    (["--sweep-offers", "some", "--sweep", "rank=8"], "--sweep-offers must be one or each"),
    (["--sweep", "rank=8,16", "--budget", "0.05"], "over the budget of $0.05"),
])
def test_bad_sweep_input_is_one_line_exit_2_and_nothing_saved(tmp_path, args, says):
    saved = tmp_path / "plan.json"
    result = run("plan", *MODEL, *args, "--save", str(saved))
    assert result.exit_code == 2, result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and says in result.stderr
    assert "Traceback" not in result.stderr and not saved.exists()
