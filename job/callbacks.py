"""Trainer callbacks: progress lines, stop-and-save (SIGTERM/SIGINT, budget, time-based saves), commit of checkpoints.

Decisions that must agree across DDP ranks (save now? stop now?) are taken on every rank and combined with an
all-reduce (max) each step, so one rank seeing a signal or a clock tick first cannot leave the others hanging in a
collective. Clocks: `RunClock` holds the seconds already spent by earlier processes of this run (read from the
checkpoint we resume from) plus this process's own, which is what the budget guard and the summary use.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import torch.distributed as dist
from transformers import TrainerCallback

from . import checkpoints
from .run_summary import StopReason


@dataclass
class RunClock:
    """Wall seconds of this run over all its processes (earlier ones as recorded at the resumed checkpoint)."""

    prior_total: float = 0.0
    prior_train: float = 0.0
    started: float = field(default_factory=time.time)
    train_started: Optional[float] = None

    def total(self) -> float:
        return self.prior_total + (time.time() - self.started)

    def session_train(self) -> float:
        return 0.0 if self.train_started is None else time.time() - self.train_started

    def train(self) -> float:
        return self.prior_train + self.session_train()


@dataclass
class StopFlags:
    signal_name: Optional[str] = None  # "SIGTERM" | "SIGINT" once received
    reason: Optional[StopReason] = None  # stop_reason for the summary: SIGTERM | BUDGET


def install_signal_handlers(flags: StopFlags) -> dict[int, Any]:
    """Only set a flag: the save happens at the next step end, where the model is in a consistent state.
    Returns the previous handlers so an in-process caller (tests) can restore them."""

    def handler(signum, _frame):
        flags.signal_name = signal.Signals(signum).name
        print(f"received {flags.signal_name}: saving a checkpoint at the end of this step", flush=True)

    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}


def _all_ranks_max(values: list[float]) -> list[float]:
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


class StopAndSave(TrainerCallback):
    """Save (and maybe stop) on a signal, when the budget is spent, or every save_minutes. The step a run ends on
    is always logged, so the summary's final_loss is that step's loss whatever logging_steps is."""

    def __init__(self, flags: StopFlags, clock: RunClock, save_minutes: float,
                 price_per_hour: Optional[float], budget_usd: Optional[float]):
        self.flags, self.clock = flags, clock
        self.save_seconds = save_minutes * 60.0
        self.price, self.budget = price_per_hour, budget_usd
        self.last_save = time.time()

    def spent_usd(self) -> Optional[float]:
        return None if not self.price else self.price * self.clock.total() / 3600.0

    def on_step_end(self, args, state, control, **kwargs):
        spent = self.spent_usd()
        over_budget = self.budget is not None and spent is not None and spent >= self.budget
        due = time.time() - self.last_save >= self.save_seconds
        sig, budget, timed = _all_ranks_max([float(self.flags.signal_name is not None), float(over_budget),
                                             float(due)])
        if sig or budget:
            self.flags.reason = self.flags.reason or (StopReason.SIGTERM if sig else StopReason.BUDGET)
            control.should_save = True
            control.should_training_stop = True
        elif timed:
            control.should_save = True
        if control.should_training_stop or state.global_step >= state.max_steps:
            control.should_log = True  # same on every rank: the loss log gathers across ranks
        return control

    def on_save(self, args, state, control, **kwargs):
        self.last_save = time.time()


class CommitCheckpoint:
    """Called by the trainer right after HF wrote checkpoint-<step>: wait for all ranks, write our state and the
    COMPLETE marker, rotate. Times the whole save (HF's part included) for the summary."""

    def __init__(self, output_dir: Path, keep: int, run_state: dict[str, Any], clock: RunClock):
        self.output_dir, self.keep, self.run_state, self.clock = output_dir, keep, run_state, clock
        self.save_seconds: list[float] = []

    def commit(self, state, began: float) -> None:
        if dist.is_available() and dist.is_initialized():
            dist.barrier()  # every rank has written its rng_state_<rank>.pth
        if state.is_world_process_zero:
            folder = self.output_dir / f"checkpoint-{state.global_step}"
            record = dict(self.run_state, step=state.global_step, total_seconds=self.clock.total(),
                          train_seconds=self.clock.train())
            checkpoints.mark_complete(folder, record)
            checkpoints.rotate(self.output_dir, self.keep)
        self.save_seconds.append(time.time() - began)


class Progress(TrainerCallback):
    """One readable line per logging step: step, loss, tokens/s, ETA (no tqdm needed in logs)."""

    def __init__(self, clock: RunClock):
        self.clock = clock
        self.first_step: Optional[int] = None
        self.first_tokens = 0
        self.step_times: list[float] = []
        self._step_began = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        if self.first_step is None:
            self.first_step, self.first_tokens = state.global_step, state.num_input_tokens_seen
            self.clock.train_started = time.time()
        self._step_began = time.time()

    def on_step_end(self, args, state, control, **kwargs):
        self.step_times.append(time.time() - self._step_began)

    def tokens_per_sec(self, state) -> float:
        seconds = self.clock.session_train()
        return (state.num_input_tokens_seen - self.first_tokens) / seconds if seconds > 0 else 0.0

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        done = state.global_step - (self.first_step or 0)
        left = max(state.max_steps - state.global_step, 0)
        eta = self.clock.session_train() / done * left if done else 0.0
        print(f"step {state.global_step}/{state.max_steps} | loss {logs['loss']:.4f} | "
              f"lr {logs.get('learning_rate', 0.0):.2e} | {self.tokens_per_sec(state):.0f} tok/s | "
              f"eta {_hms(eta)}", flush=True)
        sys.stdout.flush()


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
