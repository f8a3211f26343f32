"""The job contract: what the bundled job does, as data, defined once.

The job (job/) reads it to build its model, loss and defaults; the planner (planner/) reads it to model that
job's memory and to count a dataset's tokens. It imports nothing but the standard library (no torch), so the
planner can import it without loading torch and the job can ship it to the VM as a plain file.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Optional


class Word(str, Enum):
    """A word of the job's vocabulary: it compares, hashes, prints and serializes as its value ("qlora")."""

    def __str__(self) -> str:
        return self.value


class Method(Word):
    """What is trained: every weight (full), LoRA adapters on a 16-bit base, on a 4-bit NF4 base (qlora), or a
    soft prompt (prompt-tuning)."""

    full = "full"
    lora = "lora"
    qlora = "qlora"
    prompt_tuning = "prompt-tuning"


class Optimizer(Word):
    """The optimizers the job runs; what each keeps and moves is OPTIMIZERS[...] below."""

    adamw = "adamw"
    adamw_8bit = "adamw-8bit"
    paged_adamw_8bit = "paged-adamw-8bit"
    sgd = "sgd"
    adafactor = "adafactor"


class Precision(Word):
    """bf16-mixed: 16-bit compute, trainable parameters (and their grads and states) in fp32: for a full fine-tune
    an fp32 master copy of every weight. bf16: everything in bf16, no master copy (half the memory of a full
    fine-tune; small updates can round away). fp16: fp16 compute, fp32 trainables (loss scaling needs them)."""

    bf16_mixed = "bf16-mixed"
    bf16 = "bf16"
    fp16 = "fp16"
    fp32 = "fp32"

    @property
    def compute(self) -> "Precision":
        """The dtype matmuls run in (bf16-mixed computes in bf16)."""
        return Precision.bf16 if self is Precision.bf16_mixed else self


class Parallelism(Word):
    """One process (single), a full copy per GPU (ddp), or weights, grads and states sharded (fsdp)."""

    single = "single"
    ddp = "ddp"
    fsdp = "fsdp"


# The job's tiny Llama (`--model tiny`, job/tiny.py builds it; the planner shapes it): HF config keys.
TINY_CONFIG = {"model_type": "llama", "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128,
               "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
               "max_position_embeddings": 1024, "tie_word_embeddings": True}


@dataclass(frozen=True)
class Defaults:
    """One set of defaults for `tunecost plan` and the job: a cloud run of a long-context fine-tune.

    seq 2048 packed: every planned token is a trained token and every step has the shape the memory plan
    assumes (no padding, no step longer than planned). Micro batch 1 with gradient checkpointing: the smallest
    memory a run needs, so the cheapest GPU is found; raise --batch where memory is left. AdamW (torch): exact
    states on every device; for adapters they are small (8-bit states are a "what would make it fit" knob).
    """

    method: Method = Method.qlora
    rank: int = 16
    alpha_per_rank: float = 2.0
    dropout: float = 0.0
    targets: str = "all-linear"
    virtual_tokens: int = 20
    seq_len: int = 2048
    micro_batch: int = 1
    grad_accum: int = 1
    gradient_checkpointing: bool = True
    optimizer: Optimizer = Optimizer.adamw
    precision: Precision = Precision.bf16_mixed
    packing: bool = True
    epochs: float = 1.0


DEFAULTS = Defaults()
DEFAULT_LR = {Method.qlora: 2e-4, Method.lora: 2e-4, Method.full: 1e-5, Method.prompt_tuning: 3e-3}

# ---- storage: which tensors live in which dtype


@dataclass(frozen=True)
class Storage:
    """Dtypes of one (method, precision, parallelism) run of the job. Dtype names: nf4, bf16, fp16, fp32."""

    compute: str            # activations and matmuls (the residual stream too)
    base: str               # the base model's linear weights: nf4 (qlora) or a float dtype
    rest: str               # the other base parameters (embeddings, norms, lm_head): never upcast past compute
    trainable: str          # trainable parameters, their gradients and AdamW states
    master_fp32: bool       # full fine-tune keeps fp32 weights and autocasts a 16-bit copy for each matmul
    quant_storage: str      # container of the 4-bit payload: uint8, or the compute dtype under FSDP
    double_quant: bool      # nf4 absmax constants quantized again (8-bit per 64-block + fp32 per 256 blocks)
    autocast: bool          # forward under torch.autocast to the compute dtype
    checkpointing: str      # gradient checkpointing mode (non-reentrant): each decoder layer keeps its input only
    loss: str               # chunked (job/loss.py, never full-vocabulary logits) | full (HF's loss: under FSDP)


def compute_of(precision: str) -> str:
    return {"bf16-mixed": "bf16", "bf16": "bf16", "fp16": "fp16", "fp32": "fp32"}[precision]


def storage(method: str, precision: str, parallelism: str = "single") -> Storage:
    """The job's dtypes; job/model.py builds exactly these and tests/job/test_contract.py checks it does."""
    compute = compute_of(precision)
    pure = precision in ("bf16", "fp32")
    trainable = compute if pure else "fp32"
    full = method == "full"
    if method == "qlora":
        base = "nf4"
    else:
        base = trainable if full else compute
    return Storage(compute=compute, base=base, rest=trainable if full else compute, trainable=trainable,
                   master_fp32=full and not pure, quant_storage=compute if parallelism == "fsdp" else "uint8",
                   double_quant=True, autocast=not pure, checkpointing="non-reentrant",
                   loss="full" if parallelism == "fsdp" else "chunked")


DTYPE_BYTES = {"nf4": 0.5, "bf16": 2, "fp16": 2, "fp32": 4}

# ---- optimizers: one table of what each keeps and moves (the job, the memory and speed models, checkpoints)


@dataclass(frozen=True)
class OptimizerFacts:
    """What one optimizer of the job keeps and moves per trainable parameter: the job runs `hf_optim`, the
    planner's memory model counts the states and temporaries, its speed model the update's traffic, and the
    checkpoint size counts the states again (optimizer.pt)."""

    hf_optim: str               # TrainingArguments.optim the job passes
    param_dtype_states: float   # states in the parameter's own dtype (torch AdamW: exp_avg and exp_avg_sq)
    state_bytes: float          # bytes of state in a dtype of its own (bitsandbytes 8-bit AdamW: two uint8)
    step_temporaries: float     # state-sized temporaries in the step, in the parameter's dtype (torch foreach)
    factored: bool              # Adafactor: one fp32 row + column per matrix, no momentum (~0 per parameter)
    update_bytes: float         # bytes the update reads and writes per parameter (p, g, states; fp32 p)
    cuda_only: bool = False     # paged states page to CPU memory through CUDA unified memory


# The job's SGD has no momentum; bitsandbytes' per-block absmax is < 0.1 B per parameter.
OPTIMIZERS = {
    Optimizer.adamw: OptimizerFacts("adamw_torch", param_dtype_states=2, state_bytes=0, step_temporaries=1,
                                    factored=False, update_bytes=28),
    Optimizer.adamw_8bit: OptimizerFacts("adamw_bnb_8bit", param_dtype_states=0, state_bytes=2, step_temporaries=0,
                                         factored=False, update_bytes=16),
    Optimizer.paged_adamw_8bit: OptimizerFacts("paged_adamw_8bit", param_dtype_states=0, state_bytes=2,
                                               step_temporaries=0, factored=False, update_bytes=16, cuda_only=True),
    Optimizer.sgd: OptimizerFacts("sgd", param_dtype_states=0, state_bytes=0, step_temporaries=0, factored=False,
                                  update_bytes=12),
    Optimizer.adafactor: OptimizerFacts("adafactor", param_dtype_states=0, state_bytes=0, step_temporaries=0,
                                        factored=True, update_bytes=16),
}

# ---- checkpoints: what one checkpoint-<step> folder of the job holds (HF Trainer's save)


def checkpoint_bytes_per_param(method: str, precision: str, optimizer: str) -> float:
    """Bytes one checkpoint holds per trainable parameter: the trainable weights in their storage dtype (PEFT
    saves the adapter alone for LoRA, QLoRA and prompt tuning; a full fine-tune saves every weight, fp32 master
    weights under bf16-mixed) plus optimizer.pt. Scheduler, RNG and trainer state are kilobytes. The planner
    sizes checkpoint writes with this; tests/job/test_checkpoint_size.py checks it against a saved folder."""
    weight = DTYPE_BYTES[storage(method, precision).trainable]
    facts = OPTIMIZERS[Optimizer(optimizer)]
    return weight + facts.param_dtype_states * weight + facts.state_bytes

# ---- the loss: chunked linear + cross-entropy (liger-kernel's fused kernel on CUDA where installed)

LOSS_CHUNK_ELEMENTS = 2**24  # logits per chunk (tokens x vocab): 64 MiB in fp32, whatever the vocabulary


def loss_chunk_tokens(vocab_size: int) -> int:
    """Tokens per loss chunk: the lm_head and cross-entropy run on this many tokens at a time, so no
    [tokens x vocab] logits tensor ever exists (each chunk is recomputed in backward)."""
    return max(1, LOSS_CHUNK_ELEMENTS // vocab_size)


# On CUDA, liger-kernel's fused linear cross-entropy replaces the chunks where it is installed and lm_head is a
# plain linear; the planner counts the chunked path's buffers (liger's are no larger).

# ---- LoRA targets: the words users type -> projection kinds -> the module names of each model family

ATTENTION = ("q", "k", "v", "o")
MLP = ("gate", "up", "down")
ALL_LINEAR = ATTENTION + MLP  # PEFT's "all-linear" skips lm_head too
KINDS = ALL_LINEAR + ("lm_head",)
TARGET_ALIASES = {
    "q": ("q",), "q_proj": ("q",), "query": ("q",),
    "k": ("k",), "k_proj": ("k",), "key": ("k",),
    "v": ("v",), "v_proj": ("v",), "value": ("v",),
    "o": ("o",), "o_proj": ("o",), "out_proj": ("o",), "dense": ("o",), "output_proj": ("o",), "proj": ("o",),
    "gate": ("gate",), "gate_proj": ("gate",), "w1": ("gate",),
    "up": ("up",), "up_proj": ("up",), "w3": ("up",),
    "down": ("down",), "down_proj": ("down",), "w2": ("down",),
    "qkv": ("q", "k", "v"), "qkv_proj": ("q", "k", "v"), "query_key_value": ("q", "k", "v"),
    "gate_up_proj": ("gate", "up"),
    "lm_head": ("lm_head",), "output": ("lm_head",),
    "mlp": MLP,
    "attention": ATTENTION, "attn": ATTENTION,
    "all-linear": ALL_LINEAR, "all_linear": ALL_LINEAR, "all": ALL_LINEAR,
}
_LLAMA = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj", "gate": "gate_proj", "up": "up_proj",
          "down": "down_proj", "lm_head": "lm_head"}
# Families whose module names differ from Llama's; a fused module is adapted when any kind in it is asked for.
FAMILY_MODULES = {
    "phi3": {"q": "qkv_proj", "k": "qkv_proj", "v": "qkv_proj", "o": "o_proj", "gate": "gate_up_proj",
             "up": "gate_up_proj", "down": "down_proj", "lm_head": "lm_head"},
    "falcon": {"q": "query_key_value", "k": "query_key_value", "v": "query_key_value", "o": "dense",
               "up": "dense_h_to_4h", "down": "dense_4h_to_h", "lm_head": "lm_head"},
}


def parse_targets(text: str) -> frozenset[str]:
    """'q,v', 'mlp', 'attn+lm_head', 'all' ... -> projection kinds; ValueError names the unknown word."""
    kinds: set[str] = set()
    for part in filter(None, (p.strip().lower() for p in text.replace("+", ",").split(","))):
        if part not in TARGET_ALIASES:
            raise ValueError(f"unknown LoRA target '{part}' in '{text}'; use all-linear, attention, mlp, all, "
                             "or names like q,k,v,o,gate,up,down (q_proj, ... also work)")
        kinds.update(TARGET_ALIASES[part])
    if not kinds:
        raise ValueError("no LoRA targets given; use all-linear, attention, mlp, or e.g. q,v")
    return frozenset(kinds)


def module_names(kinds: frozenset[str], model_type: Optional[str]) -> list[str]:
    """HF module names PEFT adapts for these kinds in a model of this config.model_type (Llama names
    otherwise: Llama, Mistral, Qwen, Gemma, SmolLM, Mixtral attention ...)."""
    names = FAMILY_MODULES.get(model_type or "", _LLAMA)
    return sorted({names[k] for k in kinds if k in names})


# ---- the prompt template for instruction rows (Alpaca): the job renders it, the planner counts its characters

ALPACA_TEMPLATE = "### Instruction:\n{instruction}\n\n{input_block}### Response:\n"
ALPACA_INPUT_BLOCK = "### Input:\n{input}\n\n"


def alpaca_prompt(instruction: str, extra: str = "") -> str:
    block = ALPACA_INPUT_BLOCK.format(input=extra) if extra else ""
    return ALPACA_TEMPLATE.format(instruction=instruction, input_block=block)
