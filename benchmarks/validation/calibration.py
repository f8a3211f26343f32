"""Published runs (calibration/published_runs.csv) as TrainSpecs, and the estimate-vs-measurement comparison.

The CSV's settings are free text; each usable row is restated here once, explicitly, as a TrainSpec plus how
it was run (framework, GPUs, torch.compile) and what its memory figure measured. The measured numbers
themselves are read from the CSV, never copied. Rows we do not model are listed with the reason.
Used by the tests (tests/planner/test_*_calibration.py) and benchmarks/estimate_accuracy.py.
"""

from __future__ import annotations

import csv
from pathlib import Path
from statistics import median
from typing import Optional

from pydantic import BaseModel, ConfigDict


from tunecost.planner.model.frameworks import STACKS
from tunecost.planner.model.memory import ALLOCATOR_SLACK, GIB, estimate_memory, overhead_group
from tunecost.planner.model.shapes import ModelShape, resolve_shape
from tunecost.planner.spec import LossKernel, Parallelism, TrainSpec

ALPACA_LONGEST_LLAMA2 = 1304  # longest Alpaca sample in Llama-2 tokens (LGRT source); peak memory = longest batch


class PublishedRun(BaseModel):
    """A published run restated: what was trained, where and how. The memory comparison's Case and the speed
    fit's SpeedCase (speed_calibration.py) are this plus what each reads of the row's measurement."""

    model_config = ConfigDict(frozen=True)

    row_id: str
    spec: TrainSpec
    gpu: str
    gpu_count: int = 1
    parallelism: Parallelism = Parallelism.single
    stack: str = "torchtune"
    compiled: bool = False
    total_speed: bool = False    # the tokens/s figure is for all GPUs together (per GPU it would exceed the peak)


class Case(PublishedRun):
    """One published run restated, and which of its numbers we compare."""

    memory: bool = True          # compare peak memory
    speed: bool = True           # compare tokens/s (when the row has it)
    memory_kind: str = "allocated"  # allocated/active (allocator peak) | reserved (allocator + slack)
    why: str = ""


def _s(model: str, method: str, seq: int, mb: int, gc: bool, rank: int = 8, targets: str = "q,v",
       optimizer: str = "adamw", ga: int = 1) -> TrainSpec:
    return TrainSpec(model=model, method=method, rank=rank, targets=targets, seq_len=seq, micro_batch=mb,
                     gradient_checkpointing=gc, optimizer=optimizer, grad_accum=ga, precision="bf16")


def _litgpt(row_id: str, method: str) -> str:
    """The litgpt version each source ran (LGRT: lit-gpt 2023, LGCH: the 2024 config hub; frameworks.py); QLoRA
    rows ran --quantize bnb.nf4 (no double quant), except LGRT-09 (bnb.nf4-dq)."""
    version = "litgpt-2023" if row_id.startswith("LGRT") else "litgpt-2024"
    return f"{version}-nf4" if method == "qlora" and row_id != "LGRT-09" else version


L31_8, L31_70, L31_405 = "meta-llama/Llama-3.1-8B", "meta-llama/Llama-3.1-70B", "meta-llama/Llama-3.1-405B"
L2_7, L2_13, L2_70 = "meta-llama/Llama-2-7b-hf", "meta-llama/Llama-2-13b-hf", "meta-llama/Llama-2-70b-hf"
L32_1, L32_3 = "meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.2-3B"
ALL = "q,k,v,o,gate,up,down"
ALPACA = ALPACA_LONGEST_LLAMA2
FSDP = Parallelism.fsdp
YI_34, MS_24 = "01-ai/Yi-34B", "mistralai/Mistral-Small-24B-Base-2501"
DEVSTRAL = ("Devstral/Magistral Small are Mistral Small 3.1 24B text models: priced with the Mistral-Small-24B shape "
            "(hidden 5120, 40 layers, vocab 131072)")
# torchtune's README memory tables (TTM Apr 2024, TTL2 May 2024) give one figure per run without its kind; the
# recipes' utils.memory_stats_log logs active, allocated and reserved, and the one figure cross-checked, TTM-01's
# 9.29 GB, is what the QLoRA tutorial of the same week calls "peak memory reserved": the tables read as reserved.
README_RESERVED = "torchtune README table: read as reserved, as TTM-01's figure is labelled in the QLoRA tutorial"
NO_MEM_COMPILE = "memory excluded: torch.compile changes activation memory (TTOPT-02 -> 03: 60.0 -> 51.0 GiB)"

CASES: list[Case] = [
    # torchtune Llama 3.1 table: compile on (footnote), packed 2048, bs 2
    Case(row_id="TT31-02", spec=_s(L31_8, "full", 2048, 2, True, optimizer="adamw-8bit"), gpu="RTXA6000",
         compiled=True, memory=False, why=NO_MEM_COMPILE + "; optimizer in backward"),
    Case(row_id="TT31-03", spec=_s(L31_8, "lora", 2048, 2, True), gpu="RTX4090", compiled=True, memory=False,
         why=NO_MEM_COMPILE),
    Case(row_id="TT31-04", spec=_s(L31_8, "lora", 2048, 2, True), gpu="RTXA6000", compiled=True, memory=False,
         why=NO_MEM_COMPILE),
    Case(row_id="TT31-05", spec=_s(L31_8, "qlora", 2048, 2, True, targets=ALL), gpu="RTX4090", compiled=True,
         memory=False, why=NO_MEM_COMPILE),
    Case(row_id="TT31-07", total_speed=True, spec=_s(L31_70, "lora", 2048, 2, True, rank=16, targets="q,k,v"), gpu="A100-80GB",
         gpu_count=8, parallelism=FSDP, compiled=True, memory=False, why=NO_MEM_COMPILE),
    Case(row_id="TT31-08", total_speed=True, spec=_s(L31_405, "qlora", 2048, 2, True, rank=16, targets=ALL), gpu="A100-80GB",
         gpu_count=8, parallelism=FSDP, compiled=True, memory=False, why=NO_MEM_COMPILE),
    # torchtune Llama 2 table (May 2024); ** (compile) only on the QLoRA row
    Case(row_id="TTL2-01", spec=_s(L2_7, "qlora", 2048, 4, True, targets=ALL), gpu="RTX4090", compiled=True,
         memory=False, why=NO_MEM_COMPILE),
    Case(row_id="TTL2-02", spec=_s(L2_7, "lora", 2048, 4, True), gpu="RTX4090", memory_kind="reserved",
         why=README_RESERVED),
    Case(row_id="TTL2-03", spec=_s(L2_7, "lora", 2048, 4, True), gpu="RTX4090", gpu_count=2, parallelism=FSDP,
         memory_kind="reserved", why="checkpointing 'unknown': assumed on, since 8192 tokens without it need "
                                     "~38 GiB of activations; " + README_RESERVED),
    Case(row_id="TTL2-05", spec=_s(L2_7, "full", 2048, 4, True), gpu="RTX4090", gpu_count=4, parallelism=FSDP,
         memory_kind="reserved", why=README_RESERVED),
    Case(row_id="TTL2-06", spec=_s(L2_70, "lora", 4096, 4, True, rank=16, targets="q,k,v"), gpu="A100-80GB",
         gpu_count=8, parallelism=FSDP, total_speed=True, memory=False,
         why="memory: 16 GiB sharded weights + >= 20 GiB of layer checkpoints (bs 4 x 4096) exceed the stated "
             "26.4 GB, so the per-GPU batch must differ from the table"),
    # torchtune Apr 2024 memory table and LoRA tutorial: unpacked Alpaca, peak at the longest batch
    Case(row_id="TTM-01", spec=_s(L2_7, "qlora", ALPACA, 2, True, targets=ALL, ga=16), gpu="RTX4090",
         stack="torchtune-2024", memory_kind="reserved",
         why="the torchtune QLoRA tutorial states the same 9.29 GB as 'peak memory reserved'; torchao 0.1's NF4 "
             "conversion at model init sets it (frameworks.py torchtune-2024)"),
    Case(row_id="TTM-02", spec=_s(L2_7, "lora", ALPACA, 2, False, ga=32), gpu="RTX4090", gpu_count=2,
         parallelism=FSDP, memory_kind="reserved", why=README_RESERVED),
    Case(row_id="TTM-03", spec=_s(L2_7, "lora", ALPACA, 2, True, ga=64), gpu="RTX4090", memory_kind="reserved",
         why=README_RESERVED),
    Case(row_id="TTM-05", spec=_s(L2_7, "full", ALPACA, 2, True), gpu="RTX4090", gpu_count=4, parallelism=FSDP,
         memory_kind="reserved", why=README_RESERVED),
    Case(row_id="TTLT-01", spec=_s(L2_7, "lora", ALPACA, 2, True, ga=64), gpu="A100-80GB", memory_kind="reserved"),
    Case(row_id="TTLT-02", spec=_s(L2_7, "lora", ALPACA, 2, True, targets=ALL + ",lm_head", ga=64),
         gpu="A100-80GB", memory_kind="reserved"),
    Case(row_id="TTLT-03", spec=_s(L2_7, "lora", ALPACA, 2, True, rank=64, ga=64), gpu="A100-80GB",
         memory_kind="reserved"),
    Case(row_id="TTLT-04", spec=_s(L2_7, "lora", ALPACA, 2, True, rank=64, targets=ALL + ",lm_head", ga=64),
         gpu="A100-80GB", memory_kind="reserved"),
    # torchtune optimization ablation on Llama 3.2 3B, A100, bs 2 x 4096
    Case(row_id="TTOPT-02", spec=_s(L32_3, "full", 4096, 2, False), gpu="A100-80GB"),
    Case(row_id="TTOPT-05", spec=_s(L32_3, "full", 4096, 2, True), gpu="A100-80GB", compiled=True, memory=False,
         why=NO_MEM_COMPILE + "; chunked cross-entropy"),
    Case(row_id="TTOPT-09", spec=_s(L32_3, "lora", 4096, 2, True, rank=64, targets="q,v,o,gate,up,down"),
         gpu="A100-80GB", compiled=True, memory=False, why=NO_MEM_COMPILE + "; activation offloading"),
    Case(row_id="TTOPT-10", spec=_s(L32_3, "qlora", 4096, 2, True, rank=64, targets="q,v,o,gate,up,down"),
         gpu="A100-80GB", compiled=True, memory=False, why=NO_MEM_COMPILE + "; activation offloading"),
    # litgpt resource tables (A100 40GB, bf16-true, LoRA r8 q,v, Alpaca padded to the longest in batch)
    *[Case(row_id=r, spec=_s(m, meth, ALPACA, mb, False), gpu="A100", stack=_litgpt(r, meth), speed=False)
      for r, m, meth, mb in [("LGRT-07", L2_7, "lora", 1), ("LGRT-08", L2_7, "qlora", 1), ("LGRT-09", L2_7, "qlora", 1),
                             ("LGRT-10", L2_7, "lora", 2), ("LGRT-12", L2_13, "lora", 1),
                             ("LGRT-13", L2_13, "qlora", 1)]],
    # litgpt config hub (A10G, 512 tokens max, Alpaca2k: the longest batch is truncated at 512)
    *[Case(row_id=r, spec=_s(m, meth, 512, mb, False, rank=rank, targets=t), gpu="A10G", stack=_litgpt(r, meth),
           speed=False)
      for r, m, meth, mb, rank, t in [
          ("LGCH-02", L32_1, "lora", 1, 32, "q,v"), ("LGCH-03", L32_1, "qlora", 2, 32, "q,v"),
          ("LGCH-05", L32_3, "lora", 1, 32, "q,v"), ("LGCH-06", L32_3, "qlora", 2, 32, "q,v"),
          ("LGCH-07", L31_8, "lora", 1, 32, "q,v"), ("LGCH-08", L31_8, "qlora", 2, 32, "q,v"),
          ("LGCH-09", L2_7, "lora", 2, 32, "q,v"), ("LGCH-10", L2_7, "qlora", 2, 32, "q,v"),
          ("LGCH-11", "mistralai/Mistral-7B-v0.1", "lora", 2, 32, "q,v"),
          ("LGCH-12", "mistralai/Mistral-7B-v0.1", "qlora", 2, 32, "q,v"),
          ("LGCH-17", "google/gemma-2-9b", "qlora", 1, 16, ALL + ",lm_head"),
          ("LGCH-20", "microsoft/Phi-3-mini-4k-instruct", "lora", 4, 8, ALL + ",lm_head"),
          ("LGCH-21", "microsoft/Phi-3-mini-4k-instruct", "qlora", 4, 8, ALL + ",lm_head"),
          ("LGCH-22", "tiiuae/falcon-7b", "lora", 1, 32, "q,v"), ("LGCH-23", "tiiuae/falcon-7b", "qlora", 1, 32, "q,v"),
      ]],
# Answer.AI fsdp_qlora benchmarks (train.py @ 05ed9f2): HF model + PEFT, pure bf16 (--precision bf16), r64 on all
# linears, dummy data padded to the full context, activation checkpointing, torch AdamW; peak reserved per GPU.
# Speed stays out of the speed fit (speed_calibration.py is refitted elsewhere).
*[Case(row_id=r, spec=_s(m, meth, seq, mb, True, rank=64, targets=ALL), gpu=gpu, gpu_count=2,
       parallelism=Parallelism.ddp if no_shard else FSDP, stack="hf-fsdp-qlora", memory_kind="reserved", speed=False,
       why="FSDP no_shard keeps a full replica per GPU: priced as DDP" if no_shard else "")
  for r, m, meth, seq, mb, gpu, no_shard in [
      ("AA-01", L2_7, "qlora", 512, 1, "RTX3090", False), ("AA-02", L2_7, "qlora", 2048, 1, "RTX3090", False),
      ("AA-03", L2_7, "lora", 512, 1, "RTX3090", False), ("AA-04", L2_7, "lora", 2048, 1, "RTX3090", False),
      ("AA-05", L2_7, "qlora", 2048, 4, "RTX3090", False), ("AA-06", L2_7, "qlora", 2048, 10, "RTX3090", False),
      ("AA-07", L2_7, "lora", 2048, 4, "RTX3090", False), ("AA-08", L2_7, "lora", 2048, 6, "RTX3090", False),
      ("AA-09", L2_7, "qlora", 2048, 8, "RTX3090", True), ("AA-10", L2_7, "lora", 2048, 4, "RTX3090", True),
      ("AA-11", YI_34, "qlora", 2048, 2, "RTX3090", False), ("AA-14", L2_7, "lora", 2048, 4, "RTX4090", True),
      ("AA-15", L2_7, "qlora", 2048, 10, "RTX4090", False), ("AA-16", YI_34, "qlora", 2048, 2, "RTX4090", False),
  ]],
# axolotl example configs (each row's YAML at the cited commit): QLoRA r32 all linears, packed 2048, mbs 2,
# gradient checkpointing, FA2, bf16 load; "This config uses about X" read as reserved. The loss kernel is the
# config's: Cut Cross Entropy where its plugins list has it.
*[Case(row_id=r, spec=_s(m, "qlora", seq, 2, True, rank=32, targets=ALL, optimizer=opt, ga=ga)
       .model_copy(update={"loss_kernel": kernel}), gpu="A100-80GB", stack=stack, memory_kind="reserved",
       speed=False, why=why)
  for r, m, seq, opt, ga, kernel, stack, why in [
      ("AX-06", "mistralai/Ministral-8B-Instruct-2410", 2048, "adamw-8bit", 4, LossKernel.cce, "axolotl", ""),
      ("AX-08", MS_24, 2048, "adamw", 4, LossKernel.cce, "axolotl", DEVSTRAL),
      ("AX-09", MS_24, 2048, "adamw-8bit", 4, LossKernel.cce, "axolotl", DEVSTRAL),
      ("AXL-01", L2_7, 4096, "adamw", 4, LossKernel.torch, "axolotl-2023",
       "axolotl @dc71d88 with xformers: fp32 norms and embeddings; paged_adamw_32bit priced as AdamW on the GPU "
       "(pages only under pressure)"),
  ]],
]

# Out-of-memory rows: the estimate must exceed the GPU (a bound, not a point).
OOM_CASES: list[Case] = [
    Case(row_id="LGRT-11", spec=_s(L2_7, "lora", ALPACA, 4, False), gpu="A100", stack="litgpt-2023"),
    Case(row_id="LGRT-14", spec=_s(L2_13, "lora", ALPACA, 2, False), gpu="A100", stack="litgpt-2023"),
]

EXCLUDED = {
    "TT31-01, TTL2-04, TTL2-07, TTM-04": "paged optimizer states (+ optimizer in backward) page to CPU RAM",
    "TT31-06, PEFT-03/06/09, PS-01, PS-07": "CPU offload (not modelled)",
    "TTOPT-01": "unpacked data of unstated length (its tokens/s counts padding waste)",
    "TTOPT-03, TTOPT-04": "TTOPT-03 defines the compile speed-up; 04 adds chunked CE (speed kept via 05)",
    "TTOPT-06..08": "optimizer-in-backward / activation offloading / 8-bit ablations (not modelled)",
    "TTE2E, TTQT, TTL3": "rounded or tutorial statements without full settings",
    "PEFT-01/02/04/05, PS-05..09": "encoder-decoder T5/T0/mt0 (not modelled)",
    "PEFT-07/08, LGRT-01..06, LGRT-15, LGCH-13..16, LGCH-18/19, LGCH-24..28": "architecture not in the catalog "
        "(BLOOM, phi-1.5, phi-2, StableLM, Falcon-40B, Gemma 1, TinyLlama)",
    "LGRT-16, LGRT-17": "litgpt FSDP peak includes gathering the full state dict for checkpoints "
        "(22 GB on 2 GPUs vs 21 GB on 1)",
    "LGCH-01, LGCH-04": "low trust: full fine-tune below the weights+grads+states lower bound",
    "LGRT/LGCH wall times": "speed: calibrate the per-step terms in benchmarks/validation/speed_calibration.py",
    "PS-02..04, PS-10": "estimated times (progress-bar ETAs) / LoRA-FA",
    "HT-*": "BERT encoder (not modelled)",
    "AA-12, AA-13, AA-17..20": "FSDP CPU offload (not modelled)",
    "AA-21, AA-22": "no memory figure (cloud table)",
    "AX-01..05, AX-07, AX-10": "architecture not in the catalog (Hunyuan, Plano, AFM, OLMo 3, Apertus, MiMo, Seed-OSS)",
    "AXL-02": "axolotl's 'lora' example loads the base in 8 bit (LLM.int8 base: not modelled)",
    "AX3-01": "low trust: a GPU class that fits, not a measured peak",
    "AX3-02": "FSDP CPU parameter offload (not modelled)",
}


class Comparison(BaseModel):
    row_id: str
    method: str
    quantity: str  # "memory" | "speed"
    estimate: float
    measured: float

    @property
    def rel_error(self) -> float:
        return (self.estimate - self.measured) / self.measured


def load_rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["row_id"]: r for r in csv.DictReader(fh)}


def measured_gib(row: dict[str, str]) -> Optional[float]:
    """Per-GPU peak in GiB (the CSV keeps the source's unit: decimal GB or GiB)."""
    if not row["peak_vram_gb"].strip():
        return None
    value = float(row["peak_vram_gb"])
    return value if row["peak_vram_unit"].strip().startswith("GiB") else value * 1e9 / GIB


def comparable_memory_gib(case: Case, shape: Optional[ModelShape] = None, calibrated: bool = True) -> float:
    """The estimate restated as what the row measured: the allocator peak (no context, no slack) or reserved.

    calibrated=False leaves out the calibrated overhead: the physics alone, which fit_overheads fits against.
    """
    est = estimate_memory(case.spec, shape or resolve_shape(case.spec), case.gpu_count, case.parallelism,
                          stack=case.stack)
    left_out = {"overhead"} | (set() if calibrated else {"calibrated_overhead"})
    allocated = sum(v for k, v in est.components_gib.items() if k not in left_out)
    return allocated * (1 + ALLOCATOR_SLACK) if case.memory_kind == "reserved" else allocated


def case_group(case: Case) -> str:
    """The calibrated-overhead group a case falls in (as estimate_memory decides it)."""
    shards = case.gpu_count if case.parallelism is Parallelism.fsdp and case.gpu_count > 1 else 1
    return overhead_group(case.spec, shards, STACKS[case.stack].overhead_family)


class PhysicsGap(BaseModel):
    row_id: str
    group: str
    ratio: float  # measured / modelled (physics only) - 1


def physics_gaps(path: Path) -> list[PhysicsGap]:
    """Per memory row: how far the measurement sits above the physics-only estimate."""
    rows = load_rows(path)
    out = []
    for case in CASES:
        mem = measured_gib(rows[case.row_id])
        if case.memory and mem is not None:
            out.append(PhysicsGap(row_id=case.row_id, group=case_group(case),
                                  ratio=mem / comparable_memory_gib(case, calibrated=False) - 1))
    return out


def overhead_table(gaps: list[PhysicsGap]) -> str:
    """memory.CALIBRATED_OVERHEAD as Python source, from a fresh fit (benchmarks/estimate_accuracy.py prints it)."""
    lines = [f'    "{group}": ({fraction:.3f}, "{compact_ids(ids, pooled=group.startswith("*"))}"),'
             for group, (fraction, ids) in fit_overheads(gaps).items()]
    return "CALIBRATED_OVERHEAD = {\n" + "\n".join(lines) + "\n}"


def compact_ids(ids: list[str], pooled: bool = False) -> str:
    """'LGRT-08, LGRT-09, LGCH-03' -> 'LGRT-08/09, LGCH-03' (row ids grouped by source); pooled: the sources."""
    by: dict[str, list[str]] = {}
    for row_id in ids:
        src, num = row_id.split("-", 1)
        by.setdefault(src, []).append(num)
    if pooled:
        return f"{len(ids)} rows of {', '.join(by)}"
    return ", ".join(f"{src}-{'/'.join(nums)}" for src, nums in by.items())


def pooled(group: str) -> str:
    """'litgpt/qlora' -> '*/qlora': the group over every framework's rows."""
    return "*/" + group.split("/", 1)[1]


def fit_overheads(gaps: list[PhysicsGap]) -> dict[str, tuple[float, list[str]]]:
    """Per framework group with rows from at least two sources (one table cannot tell its own quirks from the
    framework's), and per pooled group ('*/qlora', every framework's rows): the median gap (>= 0; never a negative
    overhead) and the rows it was fitted on. Other framework groups take the pooled one."""
    out = {}
    for group in sorted({g.group for g in gaps} | {pooled(g.group) for g in gaps}):
        members = [g for g in gaps if group in (g.group, pooled(g.group))]
        if group.startswith("*/") or len({g.row_id.split("-")[0] for g in members}) >= 2:
            out[group] = (max(0.0, median(g.ratio for g in members)), [g.row_id for g in members])
    return out


def held_out_fraction(gap: PhysicsGap, gaps: list[PhysicsGap], keep) -> float:
    """The overhead a row gets when only the rows `keep` accepts are fitted: its framework's group where any is
    left, else the pooled group (as a framework without published rows gets it), else none."""
    same = [g.ratio for g in gaps if g.group == gap.group and keep(g)]
    others = same or [g.ratio for g in gaps if pooled(g.group) == pooled(gap.group) and keep(g)]
    return max(0.0, median(others)) if others else 0.0


def leave_one_out(gaps: list[PhysicsGap]) -> dict[str, float]:
    """Row id -> relative error of the estimate when the row's own group overhead is fitted without it."""
    return {gap.row_id: (1 + held_out_fraction(gap, gaps, lambda g: g.row_id != gap.row_id)) / (1 + gap.ratio) - 1
            for gap in gaps}


def compare(path: Path) -> list[Comparison]:
    """Every modelled memory row, estimate beside measurement (tokens/s rows: benchmarks/validation/speed_calibration.py)."""
    rows = load_rows(path)
    out = []
    for case in CASES:
        row = rows[case.row_id]
        method = case.spec.method.value
        mem = measured_gib(row)
        if case.memory and mem is not None:
            out.append(Comparison(row_id=case.row_id, method=method, quantity="memory",
                                  estimate=comparable_memory_gib(case), measured=mem))
    return out
