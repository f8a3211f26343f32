"""The SkyPilot task YAML: rendered from plans (single GPU, multi-GPU, multi-node), validated by the installed
SkyPilot's own sky.Task.from_yaml_config (offline), carrying what the plan chose and no secret value."""

from __future__ import annotations

import json

import pytest
import sky
import yaml

from tunecost.launcher.backends import sky_client
from tunecost.launcher.ledger.run_folder import CONFIG_NAME
from tunecost.launcher.ledger.store import Ledger
from tunecost.launcher.backends.skypilot import prepare
from tunecost.launcher.backends.sky_task import TaskOptions, render_task_yaml
from tunecost.planner.errors import UserError
from tunecost.planner.plan import Plan
from tunecost.planner.quote import Quote

from .conftest import MULTI_GPU, MULTI_NODE, SINGLE, plan, quote, with_quotes


def _render(plan_data: Plan, tmp_path, **opts) -> tuple[str, object]:
    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hello"}\n')
    options = TaskOptions(run_id="tc-test", bucket="my-ckpts", dataset_local=str(dataset), workdir=str(tmp_path),
                          **opts)
    text = render_task_yaml(plan_data, options)
    return text, sky_client.validate_task(text)


def test_single_gpu_plan_round_trips_with_fallback_order(tmp_path):
    text, task = _render(SINGLE, tmp_path, top_k=3)
    got = [(r.cloud.__class__.__name__.lower(), r.region, r.zone, r.instance_type, r.use_spot)
           for r in task.resources]
    assert got == [("runpod", "US", None, "1x_A100-80GB_SECURE", True),
                   ("lambda", "us-east-1", None, "gpu_1x_a100_sxm4", False),
                   ("gcp", "us-central1", None, "n1-highmem-8", True)]  # by cost: $4.50 before aws's $6.00
    assert "= $2.38: the plan's choice" in text and "= $3.58: next cheapest, another provider" in text  # why each is there
    assert isinstance(task.resources, list)  # `ordered`, not `any_of` (which gives a set)
    assert task.num_nodes == 1
    first = task.resources[0]
    assert first.job_recovery == {"strategy": "EAGER_NEXT_REGION", "max_restarts_on_errors": 3}
    assert first.disk_size == SINGLE.disk_gb(len('{"text": "hello"}\n')) == 70  # 135M: 50 GB + headroom
    mount = task.storage_mounts["/checkpoints"]
    assert mount.name == "my-ckpts" and mount.mode.value == "MOUNT_CACHED"
    assert task.file_mounts["/data/train.jsonl"] == str(tmp_path / "train.jsonl")
    assert task.workdir == str(tmp_path)
    assert f"--config {CONFIG_NAME}" in task.run and "job/requirements.txt" in task.setup
    assert "# A100-80GB x1, spot $1.1900/h" in text  # the GPU the plan chose, for the reader


def test_gcp_n1_host_carries_its_attached_gpus(tmp_path):
    gcp_first = plan([SINGLE.quotes[3].model_dump()])
    text, task = _render(gcp_first, tmp_path)
    assert yaml.safe_load(text)["resources"]["ordered"][0]["accelerators"] == {"T4": 1}
    assert task.resources[0].instance_type == "n1-highmem-8"


def test_multi_gpu_plan_uses_torchrun_over_skypilot_env(tmp_path):
    text, task = _render(MULTI_GPU, tmp_path, max_restarts_on_errors=5)
    assert [r.instance_type for r in task.resources] == ["g5.12xlarge", "n1-highmem-8"]
    assert yaml.safe_load(text)["resources"]["ordered"][1]["accelerators"] == {"V100": 4}
    assert task.resources[0].job_recovery["max_restarts_on_errors"] == 5
    for var in ("SKYPILOT_NODE_RANK", "SKYPILOT_NODE_IPS", "SKYPILOT_NUM_GPUS_PER_NODE", "SKYPILOT_NUM_NODES"):
        assert var in task.run
    assert "torchrun" in task.run and "-m job.train" in task.run


def test_multi_node_plan_sets_num_nodes_and_keeps_only_same_node_offers(tmp_path):
    text, task = _render(MULTI_NODE, tmp_path, top_k=5)
    assert task.num_nodes == 2
    assert [(r.region, r.use_spot) for r in task.resources] == [("us-west-2", True), ("us-east-1", True)]
    assert "lambda" not in text  # the 1-node offer cannot share a 2-node task
    # full fine-tune checkpoints are cached locally: 50 GB + 2 x 141 GB bf16 weights + 2 checkpoints of 70.6B x
    # (4 B fp32 master weights + 2 B paged 8-bit AdamW state: job/contract.py) = 1,179 GB, x1.2 headroom, in whole
    # 10 GB
    assert task.resources[0].disk_size == 1420


def test_secret_names_only_never_values(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "secret-value")
    text, _ = _render(SINGLE, tmp_path, secrets=["HF_TOKEN"])
    assert yaml.safe_load(text)["secrets"] == {"HF_TOKEN": None}
    assert "secret-value" not in text
    task = sky_client.validate_task(text, {"HF_TOKEN": "secret-value"})  # in memory, at launch
    assert task.secrets["HF_TOKEN"].get_secret_value() == "secret-value"


def test_prepare_stages_job_and_config_and_keeps_secrets_out(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "secret-value")
    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    ledger = Ledger(tmp_path / "home")
    prep = prepare(SINGLE, dataset=dataset, bucket="my-ckpts", ledger=ledger, budget_usd=5.0, top_k=2,
                   overrides={"max_steps": 7}, run_id="tc-x", tag="team-a")
    assert yaml.safe_load(prep.yaml_text)["envs"] == {"TUNECOST_RUN_ID": "tc-x", "TUNECOST_TAG": "team-a"}
    workdir = tmp_path / "home" / "runs" / "tc-x" / "sky"
    assert (workdir / "job" / "train.py").is_file()
    config = json.loads((workdir / CONFIG_NAME).read_text())
    assert config["output_dir"] == "/checkpoints/tc-x" and config["dataset"] == "/data/train.jsonl"
    assert config["budget_usd"] == 5.0 and config["max_steps"] == 7
    assert config["price_per_hour"] == 1.79  # the dearer of the two fallback offers: the guard never undercounts
    assert config["model"] == "HuggingFaceTB/SmolLM2-135M" and config["method"] == "qlora"
    assert config["precision"] == "auto"  # bf16 where the GPU has it: a fallback offer may not (V100, T4)
    assert config["optimizer"] == "paged-adamw-8bit"  # the plan's choice stands on a CUDA VM
    assert config["parallelism"] == "ddp"  # no offer in the fallback order is sharded
    assert prep.secrets == ["HF_TOKEN"]
    for path in workdir.rglob("*"):
        if path.is_file():
            assert b"secret-value" not in path.read_bytes(), path
    assert ledger.list() == []  # preparing (and --dry-run) records nothing


def test_plan_without_chosen_offer_is_one_clear_error():
    with pytest.raises(UserError, match="no chosen offer"):
        SINGLE.model_copy(update={"chosen": None, "quotes": [], "fallbacks": []}).fallback_order(3)


def test_skypilot_rejects_a_misspelled_key(tmp_path):
    text, _ = _render(SINGLE, tmp_path)
    with pytest.raises(UserError, match="SkyPilot rejected the task YAML"):
        sky_client.validate_task(text.replace("use_spot:", "use_spott:", 1))


def test_duplicate_offers_are_tried_once():
    q = quote()
    assert len(plan([q, q, quote(spot=False)]).fallback_order(5)) == 2


def test_job_config_shards_when_any_fallback_offer_was_planned_with_fsdp(tmp_path):
    """One config serves every offer in the fallback order: a DDP copy per GPU would not fit on an FSDP offer."""
    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    mixed = with_quotes(MULTI_GPU, [*MULTI_GPU.quotes, Quote.model_validate(quote(
        provider="runpod", region="CA", instance_type="2x_RTXA5000_SECURE", gpu="RTXA5000", gpu_count=2, price=3.3,
        hours=4.0, parallelism="fsdp"))])
    for data, top_k, expected in ((MULTI_GPU, 3, "ddp"), (mixed, 2, "ddp"), (mixed, 3, "fsdp")):
        ledger = Ledger(tmp_path / f"home-{expected}-{top_k}")
        prepare(data, dataset=dataset, bucket="my-ckpts", ledger=ledger, top_k=top_k, run_id="tc-p")
        config = json.loads((ledger.home / "runs" / "tc-p" / "sky" / CONFIG_NAME).read_text())
        assert config["parallelism"] == expected, (top_k, expected)


def test_yaml_special_characters_in_the_dataset_name_and_tag_round_trip(tmp_path):
    """The task is dumped by a YAML library, not pasted into a template: a dataset file named with `: ` and `#`
    (a key/value split and a comment in plain YAML) and a tag with both kinds of quote come back as given."""
    dataset = tmp_path / "my: data #1.jsonl"
    dataset.write_text('{"text": "hello"}\n')
    tag = """it's "q1" # not a comment: {x}"""
    options = TaskOptions(run_id="tc-test", bucket="my-ckpts", dataset_local=str(dataset), workdir=str(tmp_path),
                          tag=tag)
    text = render_task_yaml(SINGLE, options)
    config = yaml.safe_load(text)
    task = sky.Task.from_yaml_config(config)
    assert task.file_mounts["/data/train.jsonl"] == str(dataset)
    assert task.envs["TUNECOST_TAG"] == tag and task.envs["TUNECOST_RUN_ID"] == "tc-test"
    assert task.name == "tc-test"


def test_the_task_yaml_starts_with_its_comment_header(tmp_path):
    text, _ = _render(SINGLE, tmp_path, secrets=["HF_TOKEN"])
    assert text.startswith("# tunecost run tc-test: qlora of HuggingFaceTB/SmolLM2-135M")
    assert "# Prices as of undated snapshot. Run it yourself with: sky jobs launch THIS_FILE --secret HF_TOKEN" in text
    assert "($1.7900/h)" in text  # the budget guard's price, explained
    assert "run: |" in text  # the scripts stay readable blocks


def test_launch_dry_run_takes_top_and_carries_the_tag(tmp_path, write_plan):
    """`launch --top N`, the name `plan` and `prices` use (the old --top-k is gone)."""
    from typer.testing import CliRunner

    from tunecost.launcher.cli import app

    dataset = tmp_path / "my: data #1.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    result = CliRunner().invoke(app, ["launch", str(write_plan(SINGLE)), "--dataset", str(dataset), "--dry-run",
                                      "--top", "2", "--tag", "it's \"q1\""])
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.stdout)
    assert len(config["resources"]["ordered"]) == 2
    assert config["envs"]["TUNECOST_TAG"] == "it's \"q1\""
    assert config["file_mounts"]["/data/train.jsonl"] == str(dataset)
    old = CliRunner().invoke(app, ["launch", str(write_plan(SINGLE)), "--dataset", str(dataset), "--dry-run",
                                   "--top-k", "2"])
    assert old.exit_code == 2 and "--top-k" in old.output


def test_job_config_saves_at_the_interval_the_plan_chose(tmp_path):
    """The job checkpoints every planned interval (the shortest of the offers it may land on), not every N steps;
    a local run keeps the job's own defaults."""
    from tunecost.job.job_config import JobConfig
    from tunecost.launcher.backends.job_config import build_job_config

    defaults = tuple(JobConfig.model_fields[key].default for key in ("save_minutes", "save_steps"))
    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    timed = [Quote.model_validate({**q.model_dump(), "checkpoint_interval_hours": hours})
             for q, hours in zip(SINGLE.quotes, (0.5, 0.25, None, 2.0))]
    for offers, top_k, minutes in ((timed, 1, 30.0), (timed, 3, 15.0), (SINGLE.quotes, 3, None)):
        ledger = Ledger(tmp_path / f"home-{top_k}-{minutes}")
        prepare(with_quotes(SINGLE, offers), dataset=dataset, bucket="my-ckpts", ledger=ledger, top_k=top_k,
                run_id="tc-i")
        config = json.loads((ledger.home / "runs" / "tc-i" / "sky" / CONFIG_NAME).read_text())
        saved = (config["save_minutes"], config["save_steps"])
        assert saved == ((minutes, 0) if minutes else defaults), (top_k, minutes)  # no interval: job defaults
    local = build_job_config(SINGLE, run_id="r", dataset="d", output_dir="o", price_per_hour=0.0, local=True)
    assert (local.save_minutes, local.save_steps) == defaults
    user = build_job_config(SINGLE, run_id="r", dataset="d", output_dir="o", price_per_hour=1.0, offers=timed,
                            overrides={"save_steps": 40})
    assert (user.save_steps, user.save_minutes) == (40, 15.0)  # --save-steps adds step-based saves


def test_launch_of_a_plan_on_an_unlaunchable_provider_exits_2_with_one_line(tmp_path, write_plan):
    from typer.testing import CliRunner

    from tunecost.launcher.cli import app

    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    lium = plan([quote(provider="lium", region="JP", spot=False)])
    result = CliRunner().invoke(app, ["launch", str(write_plan(lium)), "--dataset", str(dataset), "--dry-run"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "SkyPilot 0.14.1 has no lium cloud" in lines[0], result.output


def test_disk_is_sized_from_the_plans_model_shape_not_a_missing_params_field(tmp_path):
    """--model leaves spec.params_b empty: a 70B full fine-tune used to get the 8B default's disk (340 GB on 2x8
    H200). Now: 50 GB OS + 2 x 141 GB bf16 weights (download, final save) + 2 kept checkpoints of 70.6B x (4 B
    fp32 master weights + 8 B AdamW states, job/contract.py) = 2,026 GB, x1.2 headroom -> 2,440 GB; a QLoRA of the
    same model needs 410 (its
    adapter checkpoints are ~1 GB)."""
    from tunecost.planner.market.offers import load_prices
    from tunecost.planner.optimizer import optimize
    from tunecost.planner.spec import DatasetSize, Method, TrainSpec

    def planned(method):
        spec = TrainSpec(model="meta-llama/Llama-3.1-70B", method=method,
                         dataset=DatasetSize(tokens_per_epoch=1_000_000))
        return optimize(spec, load_prices(), providers=["aws", "gcp", "runpod", "lambda", "nebius"])

    full = planned(Method.full)
    assert full.spec.params_b is None and full.shape.total_params() > 70e9
    assert full.disk_gb() == 2440
    assert planned(Method.qlora).disk_gb() == 410
    old = full.model_copy(update={"shape": None})  # a plan saved before plans carried the shape
    assert old.disk_gb() == 2440


def test_a_dataset_named_like_a_shell_command_is_mounted_at_the_fixed_path(tmp_path):
    """SkyPilot 0.14.1 interpolates mount destinations unquoted into shell on the VM: the local name never
    becomes part of one; the job reads the fixed path."""
    dataset = tmp_path / "x$(id);`reboot`.jsonl"
    dataset.write_text('{"text": "hello"}\n')
    options = TaskOptions(run_id="tc-test", bucket="my-ckpts", dataset_local=str(dataset), workdir=str(tmp_path))
    task = sky_client.validate_task(render_task_yaml(SINGLE, options))
    assert dict(task.file_mounts) == {"/data/train.jsonl": str(dataset)}
    assert not any("$(" in dest or "`" in dest for dest in [*task.file_mounts, *task.storage_mounts])


@pytest.mark.parametrize("name", ["ab", "My-Bucket", "my_bucket", "-ckpts", "ckpts.", "my..ckpts", "192.168.1.2",
                                  "xn--ckpts", "goog-ckpts", "ckpts-s3alias", "my-google-ckpts", "a" * 64])
def test_a_bucket_name_s3_or_gcs_would_refuse_is_one_line_before_anything_is_staged(tmp_path, write_plan, name):
    from typer.testing import CliRunner

    from tunecost.launcher.cli import app

    dataset = tmp_path / "train.jsonl"
    dataset.write_text('{"text": "hi"}\n')
    result = CliRunner().invoke(app, ["launch", str(write_plan(SINGLE)), "--dataset", str(dataset), "--dry-run",
                                      "--bucket", name])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and f"--bucket {name!r}: a bucket name must" in lines[0]
    assert not (tmp_path / "home" / "dry-run").exists()


@pytest.mark.parametrize("name", ["my-ckpts", "tunecost-checkpoints-1a2b3c4d", "a.b.c", "abc"])
def test_bucket_names_both_clouds_accept_pass(name):
    from tunecost.launcher.backends.sky_task import check_bucket_name

    check_bucket_name(name)
