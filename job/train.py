"""The tunecost training job: setup -> train -> save -> summary, in the spirit of a torchtune recipe.

    python -m tunecost.job.train --config job.json [--max-steps 20 ...]   # installed
    python -m job.train --config job.json                                  # copied folder on the VM
    torchrun --nproc-per-node 2 -m tunecost.job.train --config job.json    # DDP (gloo on CPU)

--model tiny | smollm2 | <local HF folder>; --dataset demo | <file.jsonl>. Always resumes from the newest COMPLETE
checkpoint in output_dir (SkyPilot does not tell a job it is a resume); a restart from the last step trains
nothing and writes the same adapter and summary from that checkpoint.

Exit codes: 0 when training finished (stop_reason completed | max_steps) or the budget guard stopped it (budget: a
restart would only stop again). 2 on bad input (`error: ...`, no traceback). A crash in training writes the summary
with stop_reason "error" and exits 1 with the traceback (a restart may help: the next process resumes). On SIGTERM / SIGINT the job saves a
complete checkpoint, writes the summary with stop_reason "sigterm", and exits 128 + signal (143 / 130): on a spot
VM the shutdown SIGTERM precedes the preemption, and exit 0 would let SkyPilot mark an unfinished job SUCCEEDED
and never recover it; a user's `sky jobs cancel` is decided by the controller and is not restarted whatever the
exit code. A launcher that sent the signal itself reads stop_reason from the summary, not the exit code.

Budget guard: cost = price_per_hour x cumulative wall hours of this run's processes (each process from its start,
model loading included; earlier processes as recorded in the checkpoint resumed from; work lost after the last
checkpoint of a killed process is not counted). cost >= budget_usd -> save, stop, stop_reason "budget".
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Optional

from .job_config import JobConfig, load_config, world_size
from .contract import OPTIMIZERS
from .errors import JobError
from .run_summary import RunSummary, StopReason, write_summary

PROCESS_START = time.time()  # before torch/transformers import: the budget counts the whole process


class ListDataset:
    """A list of tokenized examples is all the Trainer needs (no `datasets` dependency)."""

    def __init__(self, items: list[dict[str, list[int]]]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


def job_trainer_class():
    """HF Trainer plus (1) the checkpoint commit right after HF's save (COMPLETE marker, rotation; timed),
    (2) the contract's loss (job/loss.py: chunked linear + cross-entropy, no full-vocabulary logits; HF's own
    loss under FSDP, whose sharded lm_head cannot run outside the model's forward), and (3) one fix: under DDP it loads optimizer.pt with map_location=args.device, which on CPU is "cpu:<rank>" and
    torch.load rejects it (transformers 5.17), so a multi-process CPU run could not resume."""
    import torch
    from transformers import Trainer

    class JobTrainer(Trainer):
        committer = None  # CommitCheckpoint, set by the recipe
        chunked_loss = True  # contract.Storage.loss == "chunked", set by the recipe

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if not self.chunked_loss or "labels" not in inputs:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            from .loss import causal_lm_loss, head_inputs

            inputs = dict(inputs)
            labels = inputs.pop("labels")
            head = self.accelerator.unwrap_model(model).get_output_embeddings()
            with head_inputs(head) as hidden:
                outputs = model(**inputs)
            loss = causal_lm_loss(head, hidden[-1], labels, num_items_in_batch)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes  # as HF does: num_items counts every rank's tokens
            return (loss, outputs) if return_outputs else loss

        def _save_checkpoint(self, model, trial):
            began = time.time()
            super()._save_checkpoint(model, trial)
            self.committer.commit(self.state, began)

        def _load_optimizer_and_scheduler(self, checkpoint):
            if checkpoint is None or self.args.device.type != "cpu" or self.args.world_size == 1 \
                    or not os.path.isfile(os.path.join(checkpoint, "optimizer.pt")):
                return super()._load_optimizer_and_scheduler(checkpoint)
            self.optimizer.load_state_dict(torch.load(os.path.join(checkpoint, "optimizer.pt"), map_location="cpu",
                                                      weights_only=True))
            self.lr_scheduler.load_state_dict(torch.load(os.path.join(checkpoint, "scheduler.pt"), weights_only=True))

    return JobTrainer


def is_rank0() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def resume_point(output_dir: Path, keep: int) -> tuple[Optional[Path], dict[str, Any]]:
    """Newest complete checkpoint and our state in it; partial ones are deleted (by rank 0) and ignored, and the
    rotation a kill interrupted is finished (it is idempotent), so at most `keep` complete ones remain."""
    from . import checkpoints

    if is_rank0():
        for name in checkpoints.remove_partial(output_dir):
            print(f"removed partial checkpoint {name}", flush=True)
        checkpoints.rotate(output_dir, keep)
    folder = checkpoints.newest_complete(output_dir)
    return folder, (checkpoints.read_state(folder) if folder else {})


def fsdp_options(cfg: JobConfig) -> dict[str, Any]:
    """FSDP2 (per-parameter sharding) through the Trainer: each decoder layer a shard unit, weights loaded on
    rank 0 and broadcast, sharded checkpoints (every rank writes its part, quick enough for a preemption notice).
    The Trainer gives a PEFT model PEFT's wrap policy and, for 4-bit weights, the quant storage dtype."""
    if not cfg.fsdp():
        return {}
    return {"fsdp": True, "fsdp_config": {"version": 2, "reshard_after_forward": True,
                                          "cpu_ram_efficient_loading": True, "state_dict_type": "SHARDED_STATE_DICT"}}


def training_args(cfg: JobConfig, output_dir: Path, cuda: bool, st):
    """HF arguments for this config; `st` is its contract.Storage (autocast dtype)."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=cfg.micro_batch,
        per_device_eval_batch_size=cfg.micro_batch, gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, logging_steps=cfg.logging_steps,
        # save_steps 0: the planned interval alone (StopAndSave, every save_minutes); no checkpoint at the end,
        # where the outputs are saved anyway
        save_strategy="steps" if cfg.save_steps else "no", save_steps=cfg.save_steps or 500, save_total_limit=None,
        seed=cfg.seed,
        report_to=cfg.report_to, bf16=st.autocast and st.compute == "bf16", fp16=st.autocast and st.compute == "fp16",
        gradient_checkpointing=bool(cfg.gradient_checkpointing), prediction_loss_only=True,
        gradient_checkpointing_kwargs={"use_reentrant": st.checkpointing == "reentrant"},
        optim=OPTIMIZERS[cfg.optimizer].hf_optim,
        use_cpu=not cuda,
        ddp_backend="gloo" if (not cuda and world_size() > 1) else None,
        ddp_find_unused_parameters=False,
        include_num_input_tokens_seen="non_padding", disable_tqdm=not sys.stdout.isatty(),
        remove_unused_columns=False, dataloader_pin_memory=cuda, eval_strategy="no", **fsdp_options(cfg))


def save_outputs(trainer, tokenizer, cfg: JobConfig, output_dir: Path) -> dict[str, Optional[str]]:
    """adapter/ (PEFT) or model/ (full), written under a temp name then renamed; merged/ on request."""
    from .model import compute_dtype, merge_adapter, model_folder

    name = "model" if cfg.method == "full" else "adapter"
    final, tmp = output_dir / name, output_dir / f".{name}.tmp"
    if trainer.is_fsdp_enabled:  # the final model in one standard file, gathered on rank 0
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(tmp))  # all ranks call it; only the main process writes
    out: dict[str, Optional[str]] = {"adapter_dir": None, "model_dir": None, "merged_dir": None}
    if not is_rank0():
        return out
    name_base_model(tmp / "adapter_config.json", base_model_name(cfg))
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    out["model_dir" if cfg.method == "full" else "adapter_dir"] = str(final)
    if cfg.merge and cfg.method in ("lora", "qlora"):
        merged, tmp_m = output_dir / "merged", output_dir / ".merged.tmp"
        merge_adapter(model_folder(cfg.model), final, tmp_m, compute_dtype(cfg.precision))
        tokenizer.save_pretrained(str(tmp_m))
        shutil.rmtree(merged, ignore_errors=True)
        os.replace(tmp_m, merged)
        out["merged_dir"] = str(merged)
    return out


def name_base_model(config_file: Path, name: str) -> None:
    """adapter_config.json names its base by `name` (its hub id), so the adapter loads anywhere by that name. Set
    in the file after PEFT saved it: PEFT's save compares the vocabulary with the base's config.json, which it
    finds in the local folder the base loaded from, and would look a hub id up on the network."""
    import json

    from .atomic import atomic_write

    if config_file.is_file():
        data = json.loads(config_file.read_text())
        data["base_model_name_or_path"] = name
        atomic_write(config_file, json.dumps(data, indent=2, sort_keys=True))


def base_model_name(cfg: JobConfig) -> str:
    """The base model as an adapter should name it: its hub id where it has one, else the folder it came from."""
    from .config import base_model_id
    from .model import model_folder

    return base_model_id(cfg.model) or model_folder(cfg.model)


def last_step_done(checkpoint: Path, cfg: JobConfig) -> bool:
    """Whether the checkpoint is the run's last step (HF's resume would train one step more). The step count is
    HF's own, stored in the checkpoint (epochs -> steps); an explicit max_steps may since have been raised."""
    import json

    state = json.loads((checkpoint / "trainer_state.json").read_text())
    target = cfg.max_steps if cfg.max_steps > 0 else int(state.get("max_steps") or 0)
    return target > 0 and int(state.get("global_step") or 0) >= target


def restore_final(trainer, checkpoint: Path) -> None:
    """Load the last checkpoint's weights and state instead of training: the adapter, eval and summary that follow
    are those of the uninterrupted run."""
    from transformers import TrainerState

    trainer._load_from_checkpoint(str(checkpoint))
    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    if is_rank0():
        print(f"{checkpoint.name} is the last step ({trainer.state.global_step}/{trainer.state.max_steps}): "
              "nothing left to train; writing the adapter and summary from it", flush=True)


def evaluate_before(trainer, cfg: JobConfig, has_eval: bool) -> Optional[float]:
    """The held-out loss before the first step, the baseline the final eval loss is read against. Not under
    FSDP: the Trainer shards the model when training starts, and an eval before that would load it unsharded."""
    if not has_eval or cfg.fsdp():
        return None
    loss = trainer.evaluate().get("eval_loss")
    if is_rank0() and loss is not None:
        print(f"eval loss {loss:.4f} before training", flush=True)
    return loss


def _before(loss: Optional[float]) -> str:
    return f"{loss:.4f} before" if loss is not None else "no eval before training"


def run(cfg: JobConfig, started: float) -> int:
    """Signal handlers around the recipe; returns the process exit code."""
    from .quiet import silence_known_noise

    silence_known_noise()  # before anything imports bitsandbytes (callbacks -> transformers -> peft does)
    from .callbacks import RunClock, StopFlags, install_signal_handlers

    clock, flags = RunClock(started=started), StopFlags()
    previous = install_signal_handlers(flags)
    try:
        return recipe(cfg, clock, flags)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def recipe(cfg: JobConfig, clock, flags) -> int:
    """setup -> train -> save -> summary."""
    import torch

    cuda = torch.cuda.is_available()
    asked, cfg = cfg.parallelism, cfg.resolve(cuda)
    if asked != cfg.parallelism and world_size() > 1 and is_rank0():
        print(f"note: parallelism {asked} needs GPUs; running {cfg.parallelism} on CPU", flush=True)
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    resume, prior = resume_point(output_dir, cfg.keep_checkpoints)
    clock.prior_total, clock.prior_train = prior.get("total_seconds", 0.0), prior.get("train_seconds", 0.0)
    run_id = cfg.run_id or prior.get("run_id") or os.environ.get("SKYPILOT_TASK_ID") or uuid.uuid4().hex[:12]
    resumed_from = prior.get("resumed_from", []) + ([prior.get("step", 0)] if resume else [])
    if resume and is_rank0():
        print(f"resuming from {resume.name} (run {run_id})", flush=True)

    from transformers import PrinterCallback, ProgressCallback, set_seed

    from .callbacks import CommitCheckpoint, Progress, StopAndSave

    from .data import Collator, load_data
    from .model import apply_method, count_params, generate_sample, job_storage, load_base, load_tokenizer, model_folder

    if not sys.stdout.isatty():  # logs (local launcher, SkyPilot): no per-tensor "Loading weights" bars
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    set_seed(cfg.seed)  # before the adapter is created: LoRA A / prompt init must repeat in a fresh process
    folder = model_folder(cfg.model)
    tokenizer = load_tokenizer(folder)
    data = load_data(cfg.dataset, tokenizer, cfg.seq_len, cfg.packing, cfg.eval_fraction, cfg.eval_file,
                     cfg.skip_bad_rows, cfg.seed)
    storage = job_storage(cfg)
    args = training_args(cfg, output_dir, cuda, storage)  # FSDP: before loading (rank-0 load)
    model = apply_method(load_base(folder, cfg), cfg)
    trainable, total = count_params(model)
    if is_rank0():
        print(f"{cfg.method} on {cfg.model}: {trainable:,} trainable of {total:,} parameters; "
              f"{len(data.train)} train / {len(data.eval)} eval examples, {data.bad_rows} bad rows skipped", flush=True)

    run_state = {"run_id": run_id, "resumed_from": resumed_from, "bad_rows": data.bad_rows}
    stopper = StopAndSave(flags, clock, cfg.save_minutes, cfg.price_per_hour, cfg.budget_usd)
    commit = CommitCheckpoint(output_dir, cfg.keep_checkpoints, run_state, clock)
    progress = Progress(clock)
    trainer = job_trainer_class()(model=model, args=args, train_dataset=ListDataset(data.train),
                                  eval_dataset=ListDataset(data.eval) if data.eval else None,
                                  data_collator=Collator(tokenizer.pad_token_id), callbacks=[stopper, progress])
    trainer.committer = commit
    trainer.chunked_loss = storage.loss == "chunked"
    trainer.remove_callback(PrinterCallback)  # prints raw dicts; Progress prints readable lines
    if not sys.stdout.isatty():
        trainer.remove_callback(ProgressCallback)

    summary: dict[str, Any] = {"run_id": run_id, "method": cfg.method, "model": cfg.model, "resumed_from": resumed_from,
                               "bad_rows": data.bad_rows, "rows": data.rows, "trainable_params": trainable,
                               "total_params": total}
    # A sample is generated on rank 0 alone, which a sharded (FSDP) model cannot do: every rank holds a part.
    sample = {"prompt": data.eval_prompts[0]} if data.eval_prompts and is_rank0() and not cfg.fsdp() else None
    if sample:
        sample["base"] = generate_sample(model, tokenizer, sample["prompt"])
    summary["eval_loss_before"] = run_state["eval_loss_before"] = \
        prior.get("eval_loss_before") if resume else evaluate_before(trainer, cfg, bool(data.eval))
    already_spent = cfg.budget_usd is not None and stopper.spent_usd() >= cfg.budget_usd
    try:
        if already_spent:
            flags.reason = StopReason.BUDGET
        elif resume and last_step_done(resume, cfg):
            restore_final(trainer, resume)
        else:
            trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except Exception as exc:  # record the failure for the ledger, then let it surface with its traceback
        if is_rank0():
            finish(summary, trainer, progress, commit, clock, cfg, StopReason.ERROR, None, {}, output_dir,
                   error=repr(exc))
        raise

    stop_reason = flags.reason or (StopReason.MAX_STEPS if cfg.max_steps > 0 else StopReason.COMPLETED)
    eval_loss = None
    if data.eval and stop_reason is not StopReason.SIGTERM:
        eval_loss = trainer.evaluate().get("eval_loss")
        if is_rank0() and eval_loss is not None:
            print(f"eval loss {eval_loss:.4f} after training ({_before(summary['eval_loss_before'])})", flush=True)
    if sample and stop_reason is not StopReason.SIGTERM:
        sample["tuned"] = generate_sample(trainer.model, tokenizer, sample["prompt"])
        print(f"sample prompt: {sample['prompt']!r}\n  base:  {sample['base']!r}\n  tuned: {sample['tuned']!r}",
              flush=True)
    summary["sample"] = sample
    outputs = save_outputs(trainer, tokenizer, cfg, output_dir) if trainer.state.global_step > 0 else {}
    if is_rank0():
        finish(summary, trainer, progress, commit, clock, cfg, stop_reason, eval_loss, outputs, output_dir)
    if stop_reason is StopReason.SIGTERM:
        return 128 + signal.Signals[flags.signal_name or "SIGTERM"].value
    return 0


def finish(summary: dict[str, Any], trainer, progress, commit, clock, cfg: JobConfig, stop_reason: StopReason,
           eval_loss: Optional[float], outputs: dict, output_dir: Path, error: Optional[str] = None) -> None:
    """Assemble run_summary.json from the fields `summary` already holds and the run's end, through the
    RunSummary contract (so the job never writes a summary the launcher cannot read), and write it (rank 0 only)."""
    import torch.distributed as dist

    from .summary import device_name, loss_curve, peak_memory_gib, peak_memory_source

    state = trainer.state
    curve = loss_curve(state.log_history)
    steps = progress.step_times[1:] or progress.step_times  # the first step pays for warm-up
    fields = {
        **summary, "steps": state.global_step, "epochs": round(float(state.epoch or 0.0), 4),
        "train_tokens": int(state.num_input_tokens_seen), "tokens_per_sec": round(progress.tokens_per_sec(state), 2),
        "peak_memory_gib": round(peak_memory_gib(), 4), "peak_memory_source": peak_memory_source(),
        "train_seconds": round(clock.train(), 3), "total_seconds": round(clock.total(), 3),
        "session_seconds": round(clock.total() - clock.prior_total, 3),
        "startup_seconds": round(clock.train_started - clock.started, 3) if clock.train_started else None,
        "step_seconds": round(statistics.median(steps), 4) if steps else None,
        "checkpoint_save_seconds": round(statistics.mean(commit.save_seconds), 4) if commit.save_seconds else None,
        "final_loss": curve[-1][1] if curve else None, "eval_loss": eval_loss, "loss_curve": curve,
        "stop_reason": stop_reason, "device": device_name(),
        "world_size": dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1,
        "price_per_hour": cfg.price_per_hour, "budget_usd": cfg.budget_usd,
        "cost_usd": round(cfg.price_per_hour * clock.total() / 3600.0, 6) if cfg.price_per_hour else None,
        **outputs, "error": error, "config": cfg,
    }
    result = RunSummary.model_validate(fields)
    if result.adapter_dir:
        from .model_card import write_card

        write_card(Path(result.adapter_dir), result, base_model_name(cfg))
    write_summary(output_dir, result)


def main(argv: Optional[list[str]] = None, started: Optional[float] = None) -> int:
    """Entry point; `started` is when the process began (the budget counts from there), else now."""
    try:
        return run(load_config(argv), started or time.time())
    except JobError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main(started=PROCESS_START))
