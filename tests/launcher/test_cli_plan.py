"""`tunecost plan` and `tunecost estimate`: the JSON contract the launcher reads, the table, filters, --save, bad
input as one `error:` line with exit 2, and a start that never imports torch/transformers/peft/bitsandbytes/sky.
Most cases run in-process through typer's CliRunner; a few run the real installed console script."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app
from tunecost.planner.model.memory import estimate_memory
from tunecost.planner.plan import PLAN_SCHEMA, Plan
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.spec import Parallelism, TrainSpec

TUNECOST = Path(sys.executable).with_name("tunecost")
MODEL = ["--model", "meta-llama/Llama-3.1-8B", "--tokens", "20000000"]


def run(*args):
    return CliRunner().invoke(app, list(args))


def plan_json(*args, model=tuple(MODEL)) -> dict:
    result = run("plan", *model, *args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_plan_json_has_the_contract_fields():
    result = run("plan", *MODEL, "--json")
    assert result.exit_code == 0, result.stderr
    plan = Plan.model_validate_json(result.stdout)  # the contract is the model `launch` reads it with
    assert plan.schema_version == PLAN_SCHEMA and plan.created_at
    assert plan.chosen == plan.quotes[0]
    assert plan.spec.model == "meta-llama/Llama-3.1-8B" and plan.spec.method.value == "qlora"
    assert plan.memory.peak_gib > 0 and plan.memory.components_gib
    assert plan.speed.tokens_per_sec_per_gpu > 0
    assert all(line.startswith("warning: ") for line in result.stderr.splitlines())


def test_filters_reach_the_optimizer():
    data = plan_json("--gpu", "L4", "--providers", "aws,gcp", "--on-demand", "--max-gpus", "1")
    assert data["quotes"]
    assert {q["offer"]["gpu"] for q in data["quotes"]} == {"L4"}
    assert {q["offer"]["provider"] for q in data["quotes"]} <= {"aws", "gcp"}
    assert not any(q["offer"]["spot"] for q in data["quotes"]) and {q["offer"]["gpu_count"] for q in data["quotes"]} == {1}


def test_preemption_rate_and_checkpoint_minutes_override_the_tables():
    base = plan_json("--gpu", "L4", "--spot", "--providers", "gcp")["chosen"]
    stated = plan_json("--gpu", "L4", "--spot", "--providers", "gcp", "--preemption-rate", "0.9",
                       "--checkpoint-minutes", "10")["chosen"]
    assert base["preemption_source"] and base["preemption_rate_low"] < base["preemption_rate_per_hour"]
    assert (stated["preemption_rate_per_hour"], stated["preemption_source"]) == (0.9, "--preemption-rate")
    assert stated["checkpoint_interval_hours"] == pytest.approx(10 / 60)
    assert base["checkpoint_interval_hours"] != pytest.approx(10 / 60)  # chosen by Young/Daly otherwise
    assert stated["hours_breakdown"]["rework"] > base["hours_breakdown"]["rework"] > 0


def test_default_output_states_each_quote_s_interruption_risk_and_checkpoints():
    spot = run("plan", *MODEL, "--gpu", "L4", "--providers", "gcp", "--spot", "--top", "3")
    assert spot.exit_code == 0, spot.stderr
    text = " ".join(spot.stdout.split())  # the terminal wraps long lines
    data = plan_json("--gpu", "L4", "--providers", "gcp", "--spot")["chosen"]
    assert (f"spot preemptions: {data['preemption_rate_per_hour']:.3g}/h expected "
            f"({data['preemption_rate_low']:.3g}-{data['preemption_rate_high']:.3g})") in text
    assert "at the high rate" in text and "high-rate" in text  # the pessimistic cost, in a line and a column
    assert f"${data['pessimistic_cost']:,.2f}" in text and "rework" in text
    on_demand = " ".join(run("plan", *MODEL, "--gpu", "L4", "--providers", "gcp", "--on-demand").stdout.split())
    assert "hardware failures:" in on_demand and "Llama 3" in on_demand


def test_max_gpus_is_per_node_and_max_nodes_caps_multi_node():
    args = ("--model", "meta-llama/Llama-3.1-70B", "--method", "full", "--tokens", "20000000", "--gpu", "H100",
            "--providers", "aws")
    wide = plan_json(*args)
    assert {q["offer"]["gpu_count"] for q in wide["quotes"]} == {8} and max(q["offer"]["nodes"] for q in wide["quotes"]) > 2
    assert all(q["offer"]["gpu_count"] * q["offer"]["nodes"] <= 64 for q in wide["quotes"])
    few = plan_json(*args, "--max-nodes", "3")
    assert {q["offer"]["nodes"] for q in few["quotes"]} == {3}  # the fewest that hold 70B full; 6 is past the cap
    result = run("plan", *args, "--max-nodes", "2")
    assert result.exit_code == 2 and "--max-nodes" in result.stderr


def test_save_writes_the_same_json_atomically(tmp_path):
    target = tmp_path / "plan.json"
    result = run("plan", *MODEL, "--json", "--save", str(target))
    assert result.exit_code == 0, result.stderr
    assert json.loads(target.read_text()) == json.loads(result.stdout)
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temp file left behind


def test_text_view_is_concise_and_verbose_carries_every_assumption():
    result = run("plan", *MODEL, "--top", "5")
    assert result.exit_code == 0, result.stderr
    plan = plan_json()
    chosen = plan["chosen"]
    out = result.stdout
    assert "Chosen:" in out and chosen["offer"]["instance_type"] in out
    assert "Offers ranked by total cost (5 of" in out
    assert "Memory per GPU" in out and "Does not fit" in out
    assert "Assumptions" not in out and "preemptions per hour" not in out
    assert f"{len(plan['assumptions']) + 1} assumptions behind these numbers: --verbose lists them" in out
    assert len(out.splitlines()) < 45
    verbose = run("plan", *MODEL, "--top", "5", "--verbose")
    assert verbose.exit_code == 0, verbose.stderr
    flat = " ".join(verbose.stdout.split())  # rich folds long lines
    assert "Assumptions" in flat and all(" ".join(a.split()) in flat for a in plan["assumptions"])
    assert len(verbose.stdout.splitlines()) > len(out.splitlines()) + len(plan["assumptions"])


def test_brief_prints_the_decision_and_counts_what_it_left_out():
    plan = plan_json()
    result = run("plan", *MODEL, "--brief")
    assert result.exit_code == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert f"Chosen: ${plan['chosen']['cost']:.2f}" in out and plan["chosen"]["offer"]["instance_type"] in out
    assert plan["managed_verdict"] in out
    assert (f"{len(plan['quotes'])} offers, {len(plan['managed'])} managed services, {len(plan['infeasible'])} GPU "
            f"setups that do not fit, {len(plan['assumptions']) + 1} assumptions: drop --brief to see them") in out
    assert "Offers ranked" not in out and "Managed fine-tuning" not in out and "hours:" not in out
    assert len(result.stdout.splitlines()) <= 6
    both = run("plan", *MODEL, "--brief", "--verbose")
    assert both.exit_code == 2 and both.stderr.startswith("error: --brief and --verbose: pick one")


def test_dataset_demo_is_the_job_s_demo_data_unless_a_file_has_that_name(tmp_path, monkeypatch):
    from importlib.resources import files

    shipped = Path(str(files("tunecost.job").joinpath("demo_data.jsonl")))
    by_name = plan_json("--dataset", "demo", model=("--model", "meta-llama/Llama-3.1-8B"))["spec"]["dataset"]
    by_path = plan_json("--dataset", str(shipped), model=("--model", "meta-llama/Llama-3.1-8B"))["spec"]["dataset"]
    assert by_name == by_path and by_name["examples"] == len(shipped.read_text().splitlines())
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").write_text(json.dumps({"prompt": "p" * 40, "completion": "c" * 40}) + "\n")
    assert plan_json("--dataset", "demo", model=("--model", "meta-llama/Llama-3.1-8B"))["spec"]["dataset"][
        "examples"] == 1  # the user's own file of that name wins


def test_a_local_launch_from_flags_counts_the_demo_data_so_its_hours_can_be_estimated():
    """It planned 'demo' as no dataset (10M default tokens, no example count), so the run had no hours estimate."""
    from importlib.resources import files

    from tunecost.launcher.commands.launch import _plan_from_flags
    from tunecost.launcher.commands.workload_options import Workload

    rows = Path(str(files("tunecost.job").joinpath("demo_data.jsonl"))).read_text().splitlines()
    plan = _plan_from_flags(Workload(model="tiny", dataset=Path("demo"), flags_given=frozenset({"model", "dataset"})),
                            local=True, budget=None)
    assert plan.spec.dataset.examples == len(rows) and "demo_data.jsonl" in plan.spec.dataset.source


def test_dataset_params_and_workload_flags_build_the_spec(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps({"prompt": "p" * 400, "completion": "c" * 400}) for _ in range(50)))
    spec = plan_json("--dataset", str(data), "--epochs", "3", "--rank", "32", "--batch", "2", "--grad-accum", "4",
                     "--method", "lora", "--no-gradient-checkpointing", "--seq-len", "1024",
                     model=("--model", "meta-llama/Llama-3.1-8B"))["spec"]
    assert spec["dataset"]["examples"] == 50 and "counted train.jsonl" in spec["dataset"]["source"]
    assert spec["dataset"]["tokens_per_epoch"] == 50 * (200 + 2)
    assert (spec["epochs"], spec["rank"], spec["micro_batch"], spec["grad_accum"], spec["method"]) == \
        (3.0, 32, 2, 4, "lora")
    assert spec["gradient_checkpointing"] is False and spec["seq_len"] == 1024
    for text, billions in (("7B", 7.0), ("7b", 7.0), ("1.5B", 1.5), ("135M", 0.135)):
        result = run("plan", "--params", text, "--tokens", "1000000", "--json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["spec"]["params_b"] == pytest.approx(billions)


def test_estimate_json_matches_the_memory_model():
    result = run("estimate", "--model", "meta-llama/Llama-3.1-8B", "--method", "lora", "--gpu", "a100-80gb",
                 "--gpus", "2", "--parallelism", "fsdp", "--tokens", "1000000", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", method="lora")
    expected = estimate_memory(spec, resolve_shape(spec), gpu_count=2, parallelism=Parallelism.fsdp)
    assert data["memory"]["peak_gib"] == pytest.approx(expected.peak_gib)
    assert data["memory"]["components_gib"] == pytest.approx(expected.components_gib)
    assert data["speed"]["tokens_per_sec_per_gpu"] > 0 and data["assumptions"]
    assert (data["gpu"], data["gpu_count"], data["parallelism"], data["fits"]) == ("A100-80GB", 2, "fsdp", True)
    loop = sum(data["hours_breakdown"][k] for k in ("compute", "step_overhead", "communication"))
    assert loop == pytest.approx(1e6 / data["tokens_per_sec"] / 3600, rel=1e-3)
    assert data["hours_breakdown"]["communication"] > 0  # no link given: PCIe without P2P is assumed


def _store_factors(hours: float, memory: float, gpu: str = "L4") -> None:
    """A calibration.json as `tunecost calibrate --apply` writes it, in this test's $TUNECOST_HOME."""
    from tunecost.planner.corrections import Correction, Corrections, corrections_path

    path = corrections_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(Corrections(factors=[Correction(gpu=gpu, method="qlora", hours_factor=hours,
                                                    memory_factor=memory, runs=2, run_ids=["r1", "r2"])]
                                ).model_dump_json())


def test_plan_and_estimate_apply_the_factors_calibrate_stored():
    l4 = ("--gpu", "L4", "--providers", "gcp", "--on-demand", "--max-gpus", "1")
    before = plan_json(*l4)
    est_args = ("estimate", *MODEL, "--gpu", "L4", "--json")
    est_before = json.loads(run(*est_args).stdout)
    _store_factors(hours=1.3, memory=1.05)
    after = plan_json(*l4)
    assert after["chosen"]["offer"]["instance_type"] == before["chosen"]["offer"]["instance_type"]
    assert after["chosen"]["hours"] == pytest.approx(1.3 * before["chosen"]["hours"])
    assert after["chosen"]["cost"] == pytest.approx(1.3 * before["chosen"]["cost"])
    assert after["chosen"]["peak_gib_per_gpu"] == pytest.approx(1.05 * before["chosen"]["peak_gib_per_gpu"], abs=0.01)
    assert after["memory"]["peak_gib"] == pytest.approx(1.05 * before["memory"]["peak_gib"], abs=0.001)
    assert "hours x1.300 for L4 qlora, learned from 2 finished runs (tunecost calibrate)" in after["assumptions"]
    assert any(a.startswith("peak memory x1.050 for L4 qlora") for a in after["assumptions"])
    assert not any("tunecost calibrate" in a for a in before["assumptions"])
    text = run("plan", *MODEL, *l4).stdout
    assert "learned correction" in text  # in the hours and memory lines of the concise view
    assert "hours x1.300 for L4 qlora" in run("plan", *MODEL, *l4, "--verbose").stdout
    est = json.loads(run(*est_args).stdout)
    assert est["hours"] == pytest.approx(1.3 * est_before["hours"])
    assert est["memory"]["peak_gib"] == pytest.approx(1.05 * est_before["memory"]["peak_gib"], abs=0.001)
    assert any(a.startswith("hours x1.300 for L4 qlora") for a in est["assumptions"])
    other = json.loads(run("estimate", *MODEL, "--gpu", "A100-80GB", "--json").stdout)
    assert not any("tunecost calibrate" in a for a in other["assumptions"])  # learned for L4 only


def test_launch_from_flags_applies_the_factors_calibrate_stored_as_plan_does():
    """`launch --model ...` plans first; it must price with the same learned factors `plan` shows."""
    from tunecost.launcher.commands.launch import _plan_from_flags
    from tunecost.launcher.commands.workload_options import Workload

    workload = Workload(model="meta-llama/Llama-3.1-8B", tokens=20_000_000)
    before = _plan_from_flags(workload, local=False, budget=None)
    _store_factors(hours=1.3, memory=1.0, gpu=before.chosen.offer.gpu)
    after = _plan_from_flags(workload, local=False, budget=None)
    same = next(q for q in after.quotes if q.offer.instance_type == before.chosen.offer.instance_type
                and q.offer.provider == before.chosen.offer.provider and q.offer.spot == before.chosen.offer.spot)
    assert same.hours == pytest.approx(1.3 * before.chosen.hours) and same.corrections == {"hours": 1.3}



def test_estimate_text_says_when_it_does_not_fit():
    result = run("estimate", "--model", "meta-llama/Llama-3.1-8B", "--method", "full", "--gpu", "L4")
    assert result.exit_code == 0, result.stderr
    assert "does not fit" in result.stdout and "fits on 1x L4 with" in result.stdout


@pytest.mark.parametrize("args,expected", [
    (["plan", "--model", "meta-llama/Llama-3.1-8Z", "--tokens", "1000"], "did you mean meta-llama/Llama-3.1-8B"),
    (["plan", *MODEL, "--gpu", "Z100"], "unknown GPU 'Z100'"),
    (["estimate", *MODEL, "--gpu", "Z100"], "unknown GPU 'Z100'"),
    (["plan", *MODEL, "--rank", "0"], "--rank: input should be greater than 0 (got 0)"),
    (["plan", "--model", "meta-llama/Llama-3.1-8B", "--tokens", "-5"], "--tokens must be a positive"),
    (["plan", "--model", "meta-llama/Llama-3.1-405B", "--method", "full", *MODEL[2:], "--max-gpus", "1"],
     "nothing fits: needs"),
    (["plan", *MODEL, "--budget", "0.01"], "over the budget of $0.01"),
    (["plan", *MODEL, "--deadline", "0.001"], "no feasible offer finishes within 0.001 h"),
    (["plan", *MODEL, "--spot", "--on-demand"], "give one of --spot, --on-demand, --any"),
    (["plan", "--params", "seven", "--tokens", "1000"], "--params 'seven' is not a size"),
    (["plan", "--tokens", "1000"], "give a model (--model ID or path to config.json) or a size"),
    (["plan", *MODEL, "--rank", "abc"], "Invalid value for '--rank'"),
])
def test_bad_input_is_one_error_line_with_exit_2(args, expected):
    result = run(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert len(errors) == 1 and errors[0].startswith("error: ") and expected in errors[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_dataset_line_names_file_and_line(tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text('{"text": "fine"}\n{"text": broken}\n')
    result = run("plan", "--model", "meta-llama/Llama-3.1-8B", "--dataset", str(data))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --dataset {data}:2: not valid JSON")


def _console_script(*args, tmp_path):
    env = {**os.environ, "TUNECOST_HOME": str(tmp_path / "home")}
    return subprocess.run([str(TUNECOST), *args], capture_output=True, text=True, env=env, timeout=60)


def test_real_console_script_unknown_model_and_over_budget(tmp_path):
    unknown = _console_script("plan", "--model", "mistralai/Mistral-7B-v0.9", tmp_path=tmp_path)
    budget = _console_script("plan", *MODEL, "--budget", "0.05", tmp_path=tmp_path)
    for result, expected in ((unknown, "unknown model 'mistralai/Mistral-7B-v0.9'; did you mean"),
                             (budget, "cheapest feasible offer costs $")):
        errors = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
        assert result.returncode == 2 and len(errors) == 1 and errors[0].startswith("error: ")
        assert expected in errors[0] and "Traceback" not in result.stderr and result.stdout == ""


def test_real_console_script_bad_dataset_writes_no_plan(tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{oops\n')
    target = tmp_path / "plan.json"
    result = _console_script("plan", "--model", "meta-llama/Llama-3.1-8B", "--dataset", str(data),
                             "--save", str(target), tmp_path=tmp_path)
    # line 1 already: a chat must end with the assistant's turn (the job's own row check)
    assert result.returncode == 2 and result.stderr.startswith(f"error: --dataset {data}:1: the last message")
    assert not target.exists()


def test_plan_start_imports_no_torch_transformers_peft_bitsandbytes_or_sky(tmp_path):
    """The whole `tunecost plan` over all shipped offers, as the console script runs it, in a fresh interpreter."""
    code = (
        "import sys\n"
        "sys.argv = ['tunecost', 'plan', '--model', 'meta-llama/Llama-3.1-8B', '--json']\n"
        "from tunecost.launcher.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'transformers', 'peft', 'bitsandbytes', 'sky', 'accelerate'))\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n")
    env = {**os.environ, "TUNECOST_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["chosen"]
    assert "HEAVY=\n" in result.stderr, result.stderr


def test_providers_repeated_is_the_comma_list_and_top_below_one_is_refused():
    l4 = ("--gpu", "L4", "--on-demand", "--max-gpus", "1")
    both = plan_json(*l4, "--providers", "aws,gcp")
    assert plan_json(*l4, "--providers", "aws", "--providers", "gcp")["quotes"] == both["quotes"]
    result = run("plan", *MODEL, "--top", "0")
    assert result.exit_code == 2 and "--top" in result.stderr and "Traceback" not in result.output


def test_at_80_columns_the_plan_fits_and_no_figure_is_cut(tmp_path):
    """COLUMNS=80: the offer and managed tables stack pairs of cells and fold text, and every cost, rate, hours
    and memory figure of the JSON plan is printed whole (managed totals were cut to `$11.0`)."""
    from tunecost.launcher.views.plan_view import hours_text
    from tunecost.planner.money import money

    args = ["plan", "--model", "meta-llama/Llama-3.1-8B", "--method", "qlora", "--examples", "10000",
            "--avg-tokens", "800", "--epochs", "3", "--providers", "aws,gcp,azure,lambda,runpod,together,fireworks,ori",
            "--top", "5"]
    text = CliRunner().invoke(app, args, env={"COLUMNS": "80"}).stdout
    plan = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80, text
    cells = set(text.split())
    for q in plan["quotes"][:5]:
        assert {money(q["cost"]), money(q["offer"]["total_per_hour"])} <= cells, q
        assert hours_text(q["hours"]) in text
        low, high = q["peak_band_gib"]
        assert {f"{q['peak_gib_per_gpu']:.1f}/{q['offer']['gpu_memory_gib']:.0f}", f"({low:.1f}-{high:.1f})"} <= cells, q
    for m in plan["managed"]:
        assert {money(m["cost"]), money(m["usd_per_million_tokens"]), f"{m['billed_tokens']:,}"} <= cells, m


def test_the_age_warning_names_only_the_providers_asked_for():
    """--providers aws,gcp: the undated-snapshot warning names those two, not all twenty providers."""
    import re

    result = CliRunner().invoke(app, ["plan", *MODEL, "--providers", "aws,gcp", "--top", "3"])
    assert result.exit_code == 0, result.output
    [warning] = [line for line in result.stderr.splitlines() if "undated snapshot" in line]
    named = re.search(r"\(([^)]*)\); run", warning).group(1).split(", ")
    assert named == ["aws", "gcp"], warning
    everything = CliRunner().invoke(app, ["plan", *MODEL, "--top", "3"]).stderr
    assert re.search(r"\((\w+, ){4}\w+ and \d+ more\); run", everything), everything  # five named, the rest counted
