"""Plan from the user's own config (planner/configs): real example configs of the four stacks
(tests/data/configs, README there: source, commit, licence) read into the TrainSpec fields that move memory."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app
from tunecost.planner.configs import read_config
from tunecost.planner.errors import UserError
from tunecost.planner.spec import Parallelism

CONFIGS = Path(__file__).resolve().parents[1] / "data" / "configs"


def test_axolotl_cut_cross_entropy_plugin_becomes_the_cce_loss_kernel():
    read = read_config(CONFIGS / "axolotl" / "devstral-small-qlora.yml")
    assert read.stack == "axolotl" and read.framework().value == "axolotl"
    assert read.fields == {**read.fields, "method": "qlora", "rank": 32, "alpha": 16, "targets": "all-linear",
                           "seq_len": 2048, "packing": True, "micro_batch": 2, "grad_accum": 4,
                           "gradient_checkpointing": True, "optimizer": "adamw", "precision": "bf16",
                           "loss_kernel": "cce"}


def test_axolotl_liger_and_fsdp_cpu_offload_are_read_and_the_offload_is_named_in_a_warning():
    read = read_config(CONFIGS / "axolotl" / "llama-3-fft-8b-liger-fsdp.yaml")
    assert read.fields["method"] == "full" and read.fields["loss_kernel"] == "liger"
    assert read.fields["model"] == "meta-llama/Llama-3.1-8B"  # NousResearch mirror -> catalog id
    assert read.parallelism is Parallelism.fsdp
    assert any(w.startswith("fsdp_config.fsdp_offload_params") for w in read.warnings)


def test_torchtune_builder_name_gives_method_and_model_and_null_seq_len_is_a_warning():
    read = read_config(CONFIGS / "torchtune" / "llama3_1-8B_qlora_single_device.yaml")
    assert (read.fields["method"], read.fields["model"]) == ("qlora", "meta-llama/Llama-3.1-8B")
    assert read.fields["targets"] == "q,v,o,gate,up,down" and read.fields["rank"] == 8
    assert read.fields["loss_kernel"] == "chunked" and read.fields["grad_accum"] == 8
    assert "seq_len" not in read.fields and "max_seq_len" in read.unset["seq_len"]


@pytest.mark.parametrize("flags,warned", [([], True), (["--seq-len", "1024"], False)])
def test_an_open_seq_len_is_warned_about_until_seq_len_is_given(flags, warned):
    path = CONFIGS / "torchtune" / "llama3_1-8B_qlora_single_device.yaml"
    result = CliRunner().invoke(app, ["estimate", "--config", str(path), *flags, "--json"])
    assert result.exit_code == 0, result.output
    assert ("tokenizer.max_seq_len: null" in result.output) is warned
    assert json.loads(result.stdout)["memory"]["peak_gib"] > 0


def test_litgpt_precision_quantize_and_global_batch_become_method_precision_and_accumulation():
    read = read_config(CONFIGS / "litgpt" / "llama-3.2-1B-qlora.yaml")
    assert read.fields == {**read.fields, "method": "qlora", "precision": "bf16", "targets": "q,v", "rank": 32,
                           "micro_batch": 2, "grad_accum": 4, "seq_len": 512, "gradient_checkpointing": False}
    full = read_config(CONFIGS / "litgpt" / "llama-3.2-3B-full.yaml")
    assert full.fields["method"] == "full"


def test_trl_sft_recipe_with_peft_and_bitsandbytes_fields():
    read = read_config(CONFIGS / "hf" / "zephyr-7b-beta-sft-qlora.yaml")
    assert read.stack == "hf"
    assert read.fields == {**read.fields, "model": "mistralai/Mistral-7B-v0.1", "method": "qlora", "rank": 16,
                           "alpha": 16, "seq_len": 2048, "micro_batch": 4, "grad_accum": 2,
                           "gradient_checkpointing": True, "precision": "bf16", "packing": False}


def test_training_arguments_json_written_by_transformers_with_nested_lora_and_bnb_configs(tmp_path):
    """The real transformers/peft objects write the file (the boundary is only the file on disk)."""
    from peft import LoraConfig
    from transformers import BitsAndBytesConfig, TrainingArguments

    args = json.loads(TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4,
                                        gradient_accumulation_steps=8, gradient_checkpointing=True,
                                        optim="paged_adamw_8bit", num_train_epochs=2,
                                        torch_compile=True).to_json_string())
    lora = LoraConfig(r=32, lora_alpha=64, target_modules=["q_proj", "v_proj"]).to_dict()
    lora["target_modules"] = sorted(lora["target_modules"])
    path = tmp_path / "training_args.json"
    path.write_text(json.dumps({"model_name_or_path": "meta-llama/Llama-3.1-8B", **args, "peft_config": lora,
                                "quantization_config": BitsAndBytesConfig(load_in_4bit=True).to_dict()},
                               default=str))
    read = read_config(path)
    assert read.fields == {**read.fields, "method": "qlora", "rank": 32, "alpha": 64, "targets": "q_proj,v_proj",
                           "micro_batch": 4, "grad_accum": 8, "gradient_checkpointing": True,
                           "optimizer": "paged-adamw-8bit", "epochs": 2.0, "precision": "fp32"}
    assert any(w.startswith("torch_compile") for w in read.warnings)


@pytest.mark.parametrize("text,why", [("[1, 2]", "no mapping"), ("a: [", "not valid YAML"),
                                      ("foo: 1", "not a config tunecost can read")])
def test_a_file_that_is_no_training_config_is_one_clear_error(tmp_path, text, why):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=why):
        read_config(path)


@pytest.mark.parametrize("path", sorted(p.relative_to(CONFIGS) for p in CONFIGS.glob("*/*.y*ml")
                                        if "devstral" not in p.name), ids=str)
def test_estimate_config_works_on_every_shipped_example_and_shows_the_band(path):
    result = CliRunner().invoke(app, ["estimate", "--config", str(CONFIGS / path), "--seq-len", "2048",
                                      "--gpu", "A100-80GB", "--json"])
    assert result.exit_code == 0, result.output
    est = json.loads(result.stdout)
    low, high = est["memory"]["band_gib"]
    assert low <= est["memory"]["peak_gib"] <= high
    assert est["framework"] == path.parts[0] and est["assumptions"][0].startswith("config: ")


def test_flags_beside_config_override_it_and_the_framework_follows_the_file():
    path = CONFIGS / "axolotl" / "llama-2-qlora.yml"
    base = json.loads(CliRunner().invoke(app, ["estimate", "--config", str(path), "--json"]).stdout)
    smaller = json.loads(CliRunner().invoke(app, ["estimate", "--config", str(path), "--batch", "1",
                                                  "--json"]).stdout)
    assert base["framework"] == "axolotl"
    assert smaller["memory"]["peak_gib"] < base["memory"]["peak_gib"]
    assert any("8,192 tokens per micro batch" in a for a in base["assumptions"])     # 2 x 4096 from the file
    assert any("4,096 tokens per micro batch" in a for a in smaller["assumptions"])  # --batch 1 wins


def test_launch_with_config_plans_the_bundled_job_with_the_configs_knobs_and_names_what_it_lacks():
    from tunecost.launcher.commands.launch import as_the_job
    from tunecost.launcher.commands.workload_options import Workload

    workload, lacks = as_the_job(Workload(config=CONFIGS / "axolotl" / "devstral-small-qlora.yml",
                                          model="mistralai/Mistral-Small-24B-Base-2501",
                                          flags_given=frozenset({"model"})))
    spec = workload.to_spec()
    assert spec.framework.value == "tunecost" and spec.loss_kernel is None
    assert (spec.method.value, spec.rank, spec.seq_len, spec.micro_batch, spec.grad_accum) == ("qlora", 32, 2048, 2, 4)
    assert any("not axolotl" in line for line in lacks) and any("loss kernel cce" in line for line in lacks)


def test_plan_config_saves_the_configs_spec_and_its_unmodelled_fields_as_warnings():
    path = CONFIGS / "axolotl" / "llama-3-fft-8b-liger-fsdp.yaml"
    result = CliRunner().invoke(app, ["plan", "--config", str(path), "--providers", "aws,runpod", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert (plan["spec"]["framework"], plan["spec"]["loss_kernel"], plan["spec"]["method"]) == \
        ("axolotl", "liger", "full")
    assert any(w.startswith("config: fsdp_config.fsdp_offload_params") for w in plan["warnings"])
    assert plan["assumptions"][0].startswith("config: llama-3-fft-8b-liger-fsdp.yaml read as axolotl")


@pytest.mark.parametrize("text,key", [("base_model: x\nlora_r: big\nadapter: lora\n", "lora_r"),
                                      ("base_model: x\nmicro_batch_size: [2]\n", "micro_batch_size"),
                                      ("base_model: x\nsequence_len: 0\n", "sequence_len"),
                                      ("base_model: x\nnum_epochs: .nan\n", "num_epochs")])
def test_a_bad_value_in_the_config_is_one_line_naming_its_key_exit_2(tmp_path, text, key):
    path = tmp_path / "axolotl.yml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["estimate", "--config", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith(f"error: --config: {key} must be") and result.output.count("\n") == 1


def test_a_missing_config_file_is_one_line_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["plan", "--config", str(tmp_path / "nope.yml")])
    assert result.exit_code == 2 and result.output.startswith("error: --config: cannot read")


@pytest.mark.parametrize("path, change, named", [
    ("axolotl/llama-2-qlora.yml", {"adapter": "lora", "load_in_4bit": False, "load_in_8bit": True}, "load_in_8bit"),
    ("axolotl/llama-2-qlora.yml", {"gradient_checkpointing": "offload"}, "gradient_checkpointing"),
    ("litgpt/llama-3.2-1B-qlora.yaml", {"quantize": "bnb.int8-training"}, "quantize: bnb.int8-training"),
    ("torchtune/llama3_2-1B_lora_single_device.yaml", {"enable_activation_offloading": True},
     "enable_activation_offloading"),
    ("hf/zephyr-7b-beta-sft-qlora.yaml", {"load_in_4bit": False, "load_in_8bit": True}, "load_in_8bit"),
])
def test_an_8bit_base_or_a_cpu_offload_in_a_real_config_is_named_in_a_warning(tmp_path, path, change, named):
    """What the memory model does not price (an LLM.int8 base, CPU offload) must be named, never dropped."""
    import yaml

    data = yaml.safe_load((CONFIGS / path).read_text())
    data.update(change)
    changed = tmp_path / Path(path).name
    changed.write_text(yaml.safe_dump(data))
    read = read_config(changed)
    assert any(w.startswith(named) for w in read.warnings), read.warnings
    if "load_in_8bit" in change or "bnb.int8" in str(change):
        assert read.fields["method"] == "lora"  # an 8-bit base is never priced as a 4-bit one
