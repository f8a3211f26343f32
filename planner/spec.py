"""TrainSpec: the one input every estimate is computed from.

Every CLI flag of `plan`, `estimate` and `launch` lands here first, so that a bad value is refused in one place
with one clear message, and the rest of the planner can trust its input.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The job's vocabulary, defined once in its contract; planner code imports it from here or from there alike.
from tunecost.job.contract import DEFAULTS, Method, Optimizer, Parallelism, Precision
from tunecost.job.numbers import (MAX_EPOCHS, MAX_LORA_ALPHA, Finite, GradAccum, MicroBatch, ParamsB, Rank, SeqLen,
                                  VirtualTokens)

__all__ = ["DatasetSize", "Framework", "LossKernel", "Method", "Optimizer", "Parallelism", "Precision", "TrainSpec"]


class Framework(str, Enum):
    """The training stack the estimate is for (planner/model/frameworks.py); `launch` runs only tunecost's job."""

    tunecost = "tunecost"
    hf = "hf"
    hf_fsdp_qlora = "hf-fsdp-qlora"
    axolotl = "axolotl"
    torchtune = "torchtune"
    litgpt = "litgpt"


class LossKernel(str, Enum):
    """How the loss is computed, which decides whether [tokens x vocab] logits ever exist (planner/model/memory.py)."""

    torch = "torch"        # lm_head then torch cross-entropy on the full fp32-upcast logits (HF, torchtune)
    cce = "cce"            # Cut Cross Entropy (apple/ml-cross-entropy; axolotl's CutCrossEntropyPlugin)
    liger = "liger"        # Liger fused linear cross-entropy (chunked logits)
    chunked = "chunked"    # the bundled job's chunked lm_head + cross-entropy (job/loss.py)


class DatasetSize(BaseModel):
    """Training tokens per epoch, and how we know (counted file, given tokens, or examples x average)."""

    model_config = ConfigDict(frozen=True)

    tokens_per_epoch: int = Field(gt=0)
    examples: Optional[int] = Field(default=None, gt=0)
    source: str = "given"


class TrainSpec(BaseModel):
    """What the user wants to fine-tune, and how. Units: tokens, counts; no money or hardware here."""

    model_config = ConfigDict(frozen=True, use_enum_values=False)

    model: Optional[str] = None
    params_b: Optional[ParamsB] = None
    method: Method = DEFAULTS.method
    rank: Rank = DEFAULTS.rank
    alpha: Optional[Annotated[int, Field(gt=0, le=MAX_LORA_ALPHA)]] = None
    targets: str = DEFAULTS.targets
    virtual_tokens: VirtualTokens = DEFAULTS.virtual_tokens
    seq_len: SeqLen = DEFAULTS.seq_len
    micro_batch: MicroBatch = DEFAULTS.micro_batch
    grad_accum: GradAccum = DEFAULTS.grad_accum
    gradient_checkpointing: bool = DEFAULTS.gradient_checkpointing
    optimizer: Optimizer = DEFAULTS.optimizer
    precision: Precision = DEFAULTS.precision
    dataset: DatasetSize = DatasetSize(tokens_per_epoch=10_000_000, source="default: 10M tokens")
    epochs: Finite = Field(default=DEFAULTS.epochs, gt=0, le=MAX_EPOCHS)
    packing: bool = DEFAULTS.packing
    framework: Framework = Framework.tunecost
    loss_kernel: Optional[LossKernel] = None   # None: the framework's default (planner/model/frameworks.py)

    @model_validator(mode="after")
    def _a_model_and_a_token(self) -> "TrainSpec":
        if not self.model and self.params_b is None:
            raise ValueError("give a model (--model ID or path to config.json) or a size (--params 7B)")
        if self.train_tokens < 1:  # hours and $/token divide by it
            raise ValueError(f"--epochs {self.epochs:g} of {self.dataset.tokens_per_epoch:,} tokens is less than one "
                             "training token; give more epochs (e.g. --epochs 1)")
        return self

    def with_model(self, model: str, **changes: Any) -> "TrainSpec":
        """This spec for another model (the size then comes from its shape), validated again: the job's own
        models (smollm2) and the settings a run changed (micro batch...) are checked as if given."""
        return TrainSpec.model_validate({**self.model_dump(), **changes, "model": model, "params_b": None})

    @property
    def lora_alpha(self) -> int:
        """Alpha defaults to the job's alpha_per_rank x rank (2 x rank, the common practice)."""
        return self.alpha if self.alpha is not None else int(DEFAULTS.alpha_per_rank * self.rank)

    @property
    def train_tokens(self) -> int:
        """Tokens processed over all epochs."""
        return int(self.dataset.tokens_per_epoch * self.epochs)

    @property
    def tokens_per_step(self) -> int:
        """Tokens per optimizer step on one GPU (micro batch x seq x grad accumulation)."""
        return self.micro_batch * self.seq_len * self.grad_accum
