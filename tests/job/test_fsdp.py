"""FSDP wiring of the job. Accelerate shards on GPUs only (on CPU it runs MULTI_CPU, i.e. DDP), so a sharded step
cannot run here; what can is tested: transformers accepts the FSDP arguments the job builds, QLoRA weights are
loaded for sharding (4-bit data stored in the float dtype FSDP shards, one dtype throughout, no fp32 upcast), and
on CPU the job says it runs DDP instead."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from tunecost.job.job_config import JobConfig
from tunecost.job.model import apply_method, load_base, tiny_folder
from tunecost.job.train import fsdp_options, training_args


def _config(tmp_path, **keys) -> JobConfig:
    return JobConfig(model="tiny", dataset="demo", output_dir=str(tmp_path), method="qlora", **keys)


def test_fsdp_needs_several_processes_and_a_gpu(tmp_path, monkeypatch):
    cfg = _config(tmp_path, parallelism="fsdp")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not cfg.resolve(cuda=True).fsdp() and fsdp_options(cfg.resolve(cuda=True)) == {}  # one GPU: unsharded
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert cfg.resolve(cuda=True).fsdp()
    assert cfg.resolve(cuda=False).parallelism == "ddp" and not cfg.resolve(cuda=False).fsdp()
    assert not _config(tmp_path, parallelism="ddp").resolve(cuda=True).fsdp()


@pytest.mark.slow  # a child process that imports transformers and accelerate
def test_transformers_accepts_the_fsdp2_arguments__gpu_check_replaced(tmp_path):
    """TrainingArguments validates the FSDP config (and sets process-wide env for accelerate), so it is built in a
    child process; JobConfig.fsdp is the one thing replaced (no GPU here)."""
    code = f"""
import json, torch
from tunecost.job.job_config import JobConfig
from tunecost.job.model import job_storage
from tunecost.job.train import training_args
JobConfig.fsdp = lambda self: True
cfg = JobConfig(model="tiny", dataset="demo", output_dir={str(tmp_path)!r}, method="qlora", parallelism="fsdp")
resolved = cfg.resolve(cuda=False)
args = training_args(resolved, {str(tmp_path)!r}, cuda=False, st=job_storage(resolved))
print(json.dumps({{"fsdp": bool(args.fsdp), "config": args.fsdp_config, "gc": args.gradient_checkpointing,
                  "plugin": args.fsdp_plugin_args}}, default=str))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["fsdp"] and out["plugin"]["fsdp_version"] == 2 and out["plugin"]["reshard_after_forward"] is True
    assert out["plugin"]["state_dict_type"] == "SHARDED_STATE_DICT"  # each rank saves its part
    assert out["plugin"]["cpu_ram_efficient_loading"] is True  # weights loaded on rank 0, then broadcast
    assert out["gc"]  # QLoRA under FSDP: the Trainer turns checkpointing on, not prepare_model_for_kbit_training


@pytest.mark.parametrize("sharded", [False, True])
def test_qlora_weights_are_loaded_for_fsdp__gpu_check_replaced(tmp_path, monkeypatch, sharded):
    """JobConfig.fsdp (is there a GPU and several processes?) is the one thing replaced; bitsandbytes loads the
    real 4-bit weights on CPU either way."""
    monkeypatch.setattr(JobConfig, "fsdp", lambda self: sharded)
    cfg = _config(tmp_path, parallelism="fsdp", gradient_checkpointing=True).resolve(cuda=False)
    model = apply_method(load_base(tiny_folder(), cfg), cfg)
    four_bit = [p for p in model.parameters() if type(p).__name__ == "Params4bit"]
    assert four_bit
    if sharded:  # FSDP shards float tensors only, and wants one dtype per shard unit
        assert {p.dtype for p in four_bit} == {torch.float32}
        assert {p.dtype for p in model.parameters()} == {torch.float32}
    else:  # one GPU or DDP: packed bytes, as QLoRA stores them
        assert {p.dtype for p in four_bit} == {torch.uint8}
