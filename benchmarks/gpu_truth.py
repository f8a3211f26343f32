"""Ground truth on a GPU: the job's own training step on random-weight models of catalog shapes, beside the planner.

For SmolLM2-135M, Llama-3.2-1B and Llama-3.1-8B (shapes from planner/model/model_catalog.csv; weights are random, which
changes neither memory nor speed) x qlora / lora / full x seq 512 / 2048 x micro batch 1 / 4 (8B full skipped: it
does not fit one 80 GB GPU), it trains a few dozen steps through the job's code path - job/model.py builds and
wraps the model (quantization, PEFT), job/train.py's training arguments and Trainer class run the step and the loss -
and records torch.cuda.max_memory_allocated / max_memory_reserved and tokens/s (median step after warm-up). Beside
each it prints the planner's estimate for the same spec: allocated (the components without CUDA context and
allocator slack), reserved (allocated + slack) and tokens/s on the GPU found. Needs no network: the random models
are written once to --cache. A time budget (--budget-s, default 450 s) skips what would not finish, and says so.

On a machine without CUDA it runs the smallest configuration only (SmolLM2-135M, lora, seq 512, batch 1, fp32 as
the job does on CPU), without memory figures (torch has no allocator statistics on CPU); tests/job/test_gpu_truth.py
runs that. Results: benchmarks/gpu_truth.md (table) and --json PATH.

    python benchmarks/gpu_truth.py [--steps 20] [--warmup 3] [--json out.json] [--budget-s 450] [--gpu H100]
                                   [--config MODEL,METHOD,SEQ,BATCH ...]   # only these configurations
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

MODELS = ("HuggingFaceTB/SmolLM2-135M", "meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.1-8B")
METHODS = ("qlora", "lora", "full")
SHAPES = ((512, 1), (512, 4), (2048, 1), (2048, 4))  # (seq_len, micro_batch)
SKIP = {("meta-llama/Llama-3.1-8B", "full"): "8B full fine-tune does not fit one 80 GB GPU"}
WARMUP_STEPS = 3  # untimed first steps (allocator growth, kernel selection)
CPU_CONFIG = ("HuggingFaceTB/SmolLM2-135M", "lora", 512, 1)
GIB = 2**30


def hf_config(shape) -> dict[str, Any]:
    """A Llama config.json of the catalog shape (all three models are Llama-architecture)."""
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": shape.hidden_size,
            "intermediate_size": shape.intermediate_size, "num_hidden_layers": shape.num_layers,
            "num_attention_heads": shape.num_heads, "num_key_value_heads": shape.num_kv_heads,
            "head_dim": shape.head_dim, "vocab_size": shape.vocab_size,
            "tie_word_embeddings": shape.tie_word_embeddings, "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "hidden_act": "silu", "torch_dtype": "bfloat16",
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}


def random_model_folder(model: str, cache: Path) -> str:
    """Random bf16 weights of the catalog shape, saved once (atomically) so the job can load them like a hub model."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from tunecost.planner.model.shapes import resolve_shape
    from tunecost.planner.spec import TrainSpec

    target = cache / model.replace("/", "--")
    if (target / "config.json").is_file():
        return str(target)
    cache.mkdir(parents=True, exist_ok=True)
    config = AutoConfig.for_model(**hf_config(resolve_shape(TrainSpec(model=model))))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):
        built = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    tmp = Path(tempfile.mkdtemp(prefix=".random-", dir=cache))
    built.save_pretrained(tmp)
    del built
    os.replace(tmp, target)
    return str(target)


def planner_spec(model: str, method: str, seq: int, batch: int, cfg) -> Any:
    """The planner's TrainSpec of the job config that ran (same method, shape, checkpointing, optimizer, dtype)."""
    from tunecost.planner.spec import TrainSpec

    targets = cfg.target_modules if isinstance(cfg.target_modules, str) else ",".join(cfg.target_modules)
    return TrainSpec(model=model, method=method, seq_len=seq, micro_batch=batch, rank=cfg.rank, targets=targets,
                     gradient_checkpointing=bool(cfg.gradient_checkpointing), optimizer=cfg.optimizer,
                     precision=cfg.precision, packing=True)


def planner_gpu(device_name: str, memory_gib: float, override: Optional[str]):
    """The catalog GPU this device is: the one whose name (less a memory suffix) is in the device name, closest in
    memory (an 'NVIDIA A100-SXM4-80GB' is A100-80GB, an 'NVIDIA H100 80GB HBM3' is H100)."""
    from tunecost.planner.market.gpus import get_gpu, load_gpus

    if override:
        return get_gpu(override)
    norm = lambda s: re.sub(r"[^a-z0-9]", "", s.lower())  # noqa: E731
    name = norm(device_name.replace("NVIDIA", ""))
    found = [g for g in load_gpus().values() if re.sub(r"\d+gb$", "", norm(g.name)) in name]
    if not found:
        return None
    return min(found, key=lambda g: (abs(g.memory_gib - memory_gib), -len(g.name)))


class StepTimer:
    """Trainer callback: resets the CUDA peak before the first step and times every step (synchronized)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._began = 0.0

    def callback(self):
        from transformers import TrainerCallback

        timer = self

        class _Timer(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                import torch

                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()

            def on_step_begin(self, args, state, control, **kw):
                _sync()
                timer._began = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                _sync()
                timer.times.append(time.perf_counter() - timer._began)

        return _Timer()


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def job_config(folder: str, method: str, seq: int, batch: int, steps: int, precision: str, out: str):
    """The job's own config for one run (its defaults for everything not named here), resolved as the job does."""
    import torch

    from tunecost.job.job_config import JobConfig

    cfg = JobConfig(model=folder, dataset="demo", output_dir=out, method=method, seq_len=seq, micro_batch=batch,
                    max_steps=steps, precision=precision, logging_steps=10**6, save_steps=10**6)
    return cfg.resolve(torch.cuda.is_available())


def load_job_model(folder: str, cfg):
    """The job's model building: load (4-bit for qlora) and wrap for the method (PEFT), as job/train.py does."""
    from tunecost.job.model import apply_method, load_base

    return apply_method(load_base(folder, cfg), cfg)


def train_steps(model, cfg, seq: int, batch: int, vocab: int, warmup: int) -> dict[str, Any]:
    """Train max_steps steps of random full-length sequences with the job's Trainer and training arguments."""
    import dataclasses

    import torch

    from tunecost.job.data import Collator
    from tunecost.job.model import count_params, job_storage
    from tunecost.job.train import ListDataset, job_trainer_class, training_args

    cuda = torch.cuda.is_available()
    storage = job_storage(cfg)
    args = training_args(cfg, Path(cfg.output_dir), cuda, storage)
    args = dataclasses.replace(args, save_strategy="no")  # measuring, not keeping checkpoints
    g = torch.Generator().manual_seed(0)
    rows = [{"input_ids": ids, "labels": ids} for ids in
            torch.randint(3, vocab, (cfg.max_steps * batch, seq), generator=g).tolist()]
    timer = StepTimer()
    trainer = job_trainer_class()(model=model, args=args, train_dataset=ListDataset(rows),
                                  data_collator=Collator(0), callbacks=[timer.callback()])
    trainer.chunked_loss = storage.loss == "chunked"  # as the recipe sets it (job/train.py)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h] or \
        [trainer.state.log_history[-1].get("train_loss")]
    timed = timer.times[warmup:] or timer.times
    out = {"steps": trainer.state.global_step, "trainable_params": count_params(model)[0], "step_seconds": statistics.median(timed),
           "tokens_per_sec": batch * seq / statistics.median(timed), "loss": losses[-1],
           "allocated_gib": torch.cuda.max_memory_allocated() / GIB if cuda else None,
           "reserved_gib": torch.cuda.max_memory_reserved() / GIB if cuda else None}
    del trainer
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
    return out


def planner_estimate(spec, gpu) -> dict[str, Any]:
    from tunecost.planner.model.memory import ALLOCATOR_SLACK, estimate_memory
    from tunecost.planner.model.shapes import resolve_shape
    from tunecost.planner.model.speed import estimate_speed

    shape = resolve_shape(spec)
    memory = estimate_memory(spec, shape)
    allocated = sum(v for k, v in memory.components_gib.items() if k != "overhead")
    speed = estimate_speed(spec, shape, gpu).tokens_per_sec_per_gpu if gpu is not None else None
    return {"allocated_gib": allocated, "reserved_gib": allocated * (1 + ALLOCATOR_SLACK),
            "peak_gib": memory.peak_gib, "trainable_params": memory.trainable_params, "tokens_per_sec": speed, "components_gib": memory.components_gib}


def configurations(cuda: bool) -> list[tuple[str, str, int, int]]:
    if not cuda:
        return [CPU_CONFIG]
    return [(m, meth, s, b) for m in MODELS for meth in METHODS if (m, meth) not in SKIP for s, b in SHAPES]


def run(steps: int, budget_s: float, cache: Path, gpu_name: Optional[str], warmup: int = WARMUP_STEPS,
        only: Optional[list[tuple[str, str, int, int]]] = None) -> dict[str, Any]:
    """Every configuration that fits the budget, grouped by (model, method) so each model is loaded once."""
    import torch

    from tunecost.planner.spec import TrainSpec

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-tensor loading bars would bury the table
    started = time.time()
    cuda = torch.cuda.is_available()
    device = torch.cuda.get_device_name(0) if cuda else f"cpu ({os.cpu_count()} cores)"
    memory = torch.cuda.get_device_properties(0).total_memory / GIB if cuda else 0.0
    gpu = planner_gpu(device, memory, gpu_name) if cuda else None
    precision = TrainSpec.model_fields["precision"].default.value if cuda else "fp32"
    results, skipped = [], [f"{m} {meth}: {why}" for (m, meth), why in SKIP.items()] if cuda else []
    todo = only or configurations(cuda)
    groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for m, meth, s, b in todo:
        groups.setdefault((m, meth), []).append((s, b))
    with tempfile.TemporaryDirectory() as out:
        for (model, method), shapes in groups.items():
            folder = random_model_folder(model, cache)
            vocab = json.loads((Path(folder) / "config.json").read_text())["vocab_size"]
            loaded, per_token = None, 0.0  # seconds per trained token, slowest seen for this model and method
            for seq, batch in shapes:
                left = budget_s - (time.time() - started)
                if left < per_token * seq * batch * (warmup + steps) * 1.2 + 5:
                    skipped.append(f"{model} {method} seq {seq} batch {batch}: over the {budget_s:g} s budget")
                    continue
                cfg = job_config(folder, method, seq, batch, warmup + steps, precision, out)
                loaded = loaded or load_job_model(folder, cfg)
                began = time.time()
                measured = train_steps(loaded, cfg, seq, batch, vocab, warmup)
                took = time.time() - began
                per_token = max(per_token, took / (seq * batch * (warmup + steps)))
                spec = planner_spec(model, method, seq, batch, cfg)
                results.append({"model": model, "method": method, "seq_len": seq, "micro_batch": batch,
                                "gradient_checkpointing": bool(cfg.gradient_checkpointing),
                                "optimizer": cfg.optimizer, "precision": cfg.precision, "measured": measured,
                                "planner": planner_estimate(spec, gpu), "seconds": round(took, 1)})
            del loaded
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()
    return {"device": device, "planner_gpu": gpu.name if gpu else None, "steps": steps,
            "warmup_steps": warmup, "seconds": round(time.time() - started, 1), "results": results,
            "skipped": skipped}


def _pct(est: Optional[float], got: Optional[float]) -> str:
    return "" if est is None or not got else f"{est / got - 1:+.0%}"


def _num(x: Optional[float], fmt: str = "{:.2f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def table(report: dict[str, Any]) -> str:
    """Markdown: measured beside the planner, per configuration."""
    lines = [f"device: {report['device']} (planner GPU: {report['planner_gpu'] or 'none'}); {report['steps']} timed "
             f"steps after {report['warmup_steps']} warm-up; {report['seconds']} s in all", "",
             "| model | method | seq | batch | alloc GiB | planner | err | reserved GiB | planner | err | "
             "tokens/s | planner | err | loss |", "|" + "---|" * 14]
    for r in report["results"]:
        m, p = r["measured"], r["planner"]
        lines.append("| " + " | ".join([
            r["model"].split("/")[-1], r["method"], str(r["seq_len"]), str(r["micro_batch"]),
            _num(m["allocated_gib"]), _num(p["allocated_gib"]), _pct(p["allocated_gib"], m["allocated_gib"]),
            _num(m["reserved_gib"]), _num(p["reserved_gib"]), _pct(p["reserved_gib"], m["reserved_gib"]),
            _num(m["tokens_per_sec"], "{:,.0f}"), _num(p["tokens_per_sec"], "{:,.0f}"),
            _pct(p["tokens_per_sec"], m["tokens_per_sec"]), _num(m["loss"], "{:.3f}")]) + " |")
    lines += [f"- skipped: {s}" for s in report["skipped"]]
    return "\n".join(lines)


def _config(text: str, parser: argparse.ArgumentParser) -> tuple[str, str, int, int]:
    parts = text.split(",")
    if len(parts) != 4 or parts[1] not in METHODS or not (parts[2].isdigit() and parts[3].isdigit()):
        parser.error(f"--config {text}: give MODEL,METHOD,SEQ,BATCH, e.g. {','.join(map(str, CPU_CONFIG))}")
    return parts[0], parts[1], int(parts[2]), int(parts[3])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per configuration (after warm-up)")
    parser.add_argument("--warmup", type=int, default=WARMUP_STEPS, help="untimed steps first")
    parser.add_argument("--config", action="append", default=None, metavar="MODEL,METHOD,SEQ,BATCH",
                        help="run only this configuration (repeatable)")
    parser.add_argument("--budget-s", type=float, default=450.0, help="skip configurations past this many seconds")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--gpu", default=None, help="planner GPU name for the speed estimate [default: detected]")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("TUNECOST_CACHE") or
                                                            Path.home() / ".cache" / "tunecost") / "gpu-truth")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be at least 1 and --warmup at least 0")
    only = [_config(text, parser) for text in args.config] if args.config else None
    report = run(args.steps, args.budget_s, args.cache, args.gpu, args.warmup, only)
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    print("GPU_TRUTH " + json.dumps(report, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
