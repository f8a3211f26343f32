"""The speed model's constants fitted on published runs, and how well it predicts runs it was not fitted on.

Rows (calibration/published_runs.csv): the tokens/s rows of calibration.CASES (torchtune: long packed batches,
1-8 GPUs) plus litgpt's wall-time rows (short unpacked Alpaca batches: per-step costs dominate). Each row is
restated once, here or in calibration.py; the measured numbers are read from the CSV. The fit is deterministic:
1. launch and step seconds: relative least squares over the short LoRA rows (what is left after the matmuls);
2. QLoRA dequantization bytes: median over the short QLoRA rows of what is left after 1.;
3. efficiency per method x GPU class: median over the long rows of the efficiency that reproduces each row;
repeated until stable. Leave-one-source-out (LOSO) refits without one source (row-id prefix) and predicts it.
"""

from __future__ import annotations

from statistics import median
from typing import Optional

from pydantic import BaseModel

from validation.calibration import CASES, L2_7, L2_13, L2_70, L31_8, L32_1, L32_3, PublishedRun, _litgpt
from tunecost.planner.market.gpus import get_gpu
from tunecost.planner.market.interconnect import Interconnect, lookup
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.spec import DatasetSize, Parallelism, TrainSpec
from tunecost.planner.model.speed import (COMPILE_SPEEDUP, SpeedConstants, estimate_speed, gpu_class, method_kind,
                                    passes, tokens_per_micro_batch)

ALPACA_TOKENS = 110    # tokens per Alpaca sample ("median about 110 tokens", calibration/README.md); padding not counted
SHORT_TOKENS = 1024    # micro batches below this many tokens calibrate the per-step terms, above the efficiency
ROUNDS = 6
SXM_NODE = "8x A100 SXM node"  # assumed: torchtune's 8-GPU A100 runs state no form factor

class SpeedCase(PublishedRun):
    """One published throughput, restated: what ran where, and how to read its measurement."""

    micro_steps: Optional[float] = None   # wall-time rows: micro steps (per GPU) the wall time covers
    instance: str = ""                    # what the source says of the machine, matched like an instance type
    power_share: float = 1.0              # a GPU run below its stock power limit, as the row states
    pcie_lanes: int = 16                  # a card in a slot of fewer lanes, as the row says

    @property
    def interconnect(self) -> Interconnect:
        link = lookup("", self.instance, self.gpu)
        if self.pcie_lanes == 16 or link.kind == "nvlink":
            return link
        return link.model_copy(update={"gpu_link": link.gpu_link.replace("x16", f"x{self.pcie_lanes}"),
                                       "link_gb_s": link.link_gb_s * self.pcie_lanes / 16})

    @property
    def gpu_spec(self):
        """The GPU as it ran: tensor peaks scaled by the stated power share (clocks follow the power cap)."""
        gpu = get_gpu(self.gpu)
        if self.power_share == 1.0:
            return gpu
        return gpu.model_copy(update={k: getattr(gpu, k) * self.power_share
                                      for k in ("bf16_tflops", "fp16_tflops", "fp32_tflops") if getattr(gpu, k)})

    @property
    def source(self) -> str:
        return self.row_id.split("-")[0]

    @property
    def short(self) -> bool:
        return tokens_per_micro_batch(self.spec) < SHORT_TOKENS

def _alpaca(model: str, method: str, mb: int, ga: int, seq: int, rank: int = 8, gc: bool = False) -> TrainSpec:
    """Unpacked Alpaca: ALPACA_TOKENS per sample, each micro batch padded to its longest (not counted)."""
    return TrainSpec(model=model, method=method, rank=rank, targets="q,v", seq_len=seq, micro_batch=mb, grad_accum=ga,
                     gradient_checkpointing=gc, precision="bf16", packing=False,
                     dataset=DatasetSize(tokens_per_epoch=ALPACA_TOKENS * 2000, examples=2000, source="Alpaca"))

# litgpt resource tables (A100-SXM4-40GB, global batch 128): minutes per 1,000 micro-batch iterations
LGRT = [("LGRT-07", L2_7, "lora", 1, 1), ("LGRT-08", L2_7, "qlora", 1, 1), ("LGRT-09", L2_7, "qlora", 1, 1),
        ("LGRT-10", L2_7, "lora", 2, 1), ("LGRT-12", L2_13, "lora", 1, 1), ("LGRT-13", L2_13, "qlora", 1, 1),
        ("LGRT-16", L2_7, "lora", 1, 2), ("LGRT-17", L2_13, "lora", 1, 4)]
# litgpt config hub (A10G, Alpaca2k = 2,000 samples, 512 max): (row, model, method, micro batch, global batch,
# rank, epochs) as restated from the CSV's settings columns
LGCH = [("LGCH-02", L32_1, "lora", 1, 8, 32, 2), ("LGCH-03", L32_1, "qlora", 2, 8, 32, 2),
        ("LGCH-05", L32_3, "lora", 1, 8, 32, 2), ("LGCH-06", L32_3, "qlora", 2, 8, 32, 2),
        ("LGCH-07", L31_8, "lora", 1, 8, 32, 2), ("LGCH-08", L31_8, "qlora", 2, 8, 32, 2),
        ("LGCH-09", L2_7, "lora", 2, 8, 32, 4), ("LGCH-10", L2_7, "qlora", 2, 8, 32, 4),
        ("LGCH-11", "mistralai/Mistral-7B-v0.1", "lora", 2, 8, 32, 4),
        ("LGCH-12", "mistralai/Mistral-7B-v0.1", "qlora", 2, 8, 32, 4)]

def _aa(model: str, method: str, seq: int, mb: int) -> TrainSpec:
    """Answer.AI fsdp_qlora: rank 64 on every linear, pure bf16, AdamW, checkpointing, dummy rows padded to the
    full context (so every token counts, as packed)."""
    return TrainSpec(model=model, method=method, rank=64, alpha=16, targets="all-linear", seq_len=seq, micro_batch=mb,
                     gradient_checkpointing=True, precision="bf16", packing=True,
                     dataset=DatasetSize(tokens_per_epoch=1024 * seq, examples=1024, source="dummy"))


# Answer.AI's fsdp_qlora benchmarks (AA): (row, model, method, context, micro batch, GPUs, GPU, parallelism).
# Left out: rows with FSDP CPU offload (AA-12, 13, 17-20), which the job never does (AA-20 is also an RTX A5000,
# which has no dense tensor figure in gpus.csv).
R3090, R4090, FS, NS = "RTX3090", "RTX4090", Parallelism.fsdp, Parallelism.ddp
AA = [("AA-01", L2_7, "qlora", 512, 1, 2, R3090, FS), ("AA-02", L2_7, "qlora", 2048, 1, 2, R3090, FS),
      ("AA-03", L2_7, "lora", 512, 1, 2, R3090, FS), ("AA-04", L2_7, "lora", 2048, 1, 2, R3090, FS),
      ("AA-05", L2_7, "qlora", 2048, 4, 2, R3090, FS), ("AA-06", L2_7, "qlora", 2048, 10, 2, R3090, FS),
      ("AA-07", L2_7, "lora", 2048, 4, 2, R3090, FS), ("AA-08", L2_7, "lora", 2048, 6, 2, R3090, FS),
      ("AA-09", L2_7, "qlora", 2048, 8, 2, R3090, NS), ("AA-10", L2_7, "lora", 2048, 4, 2, R3090, NS),
      ("AA-11", "01-ai/Yi-34B", "qlora", 2048, 2, 2, R3090, FS),
      ("AA-14", L2_7, "lora", 2048, 4, 2, R4090, NS), ("AA-15", L2_7, "qlora", 2048, 10, 2, R4090, FS),
      ("AA-16", "01-ai/Yi-34B", "qlora", 2048, 2, 2, R4090, FS),
      ("AA-21", L2_70, "qlora", 2048, 4, 8, "A100", FS), ("AA-22", L2_70, "qlora", 2048, 8, 4, "H100", FS)]
POWER_SHARE: dict[str, float] = {}  # AA's 3090s ran at 280 of 350 W, but clocks (and matmul rate) fall far
# less than the power: scaling their peak by 0.8 pushed the fitted workstation efficiency past 1, so it is not done
# AA's 4090 rows say "full x16 PCIe" and its 3090 rows do not: two cards in a desktop board share 16 lanes (x8/x8),
# an assumption read from that contrast

SPEED_CASES: list[SpeedCase] = [
    *[SpeedCase(**{name: getattr(c, name) for name in PublishedRun.model_fields},
                instance=SXM_NODE if c.gpu.startswith("A100") and c.gpu_count > 1 else "")
      for c in CASES if c.speed and c.row_id.split("-")[0] in ("TT31", "TTL2", "TTOPT")],
    *[SpeedCase(row_id=r, spec=_alpaca(m, meth, mb, 128 // mb, 1304, gc=n > 1), gpu="A100", gpu_count=n,
                parallelism=Parallelism.fsdp if n > 1 else Parallelism.single, micro_steps=1000,
                stack=_litgpt(r, meth), instance="A100-SXM4-40GB")
      for r, m, meth, mb, n in LGRT],
    *[SpeedCase(row_id=r, spec=_alpaca(m, meth, mb, gb // mb, 512, rank=rank), gpu="A10G",
                micro_steps=epochs * 2000 / mb, stack=_litgpt(r, meth)) for r, m, meth, mb, gb, rank, epochs in LGCH],
    *[SpeedCase(row_id=r, spec=_aa(m, meth, seq, mb), gpu=g, gpu_count=n, parallelism=par, stack="hf-fsdp-qlora",
                instance=SXM_NODE if g in ("A100", "H100") else "", power_share=POWER_SHARE.get(g, 1.0),
                pcie_lanes=8 if g == R3090 else 16)
      for r, m, meth, seq, mb, n, g, par in AA],
]

class SpeedPoint(BaseModel):
    row_id: str
    source: str
    method: str
    gpu_class: str
    gpus: int
    parallelism: str = "single"
    link: str = ""
    predicted: float   # tokens/s per GPU
    measured: float

    @property
    def factor(self) -> float:
        return max(self.predicted / self.measured, self.measured / self.predicted)

def measured_tokens_per_sec(case: SpeedCase, rows: dict[str, dict[str, str]]) -> float:
    row = rows[case.row_id]
    if case.micro_steps is not None:
        return case.micro_steps * tokens_per_micro_batch(case.spec) / (float(row["wall_time_hours"]) * 3600)
    return float(row["tokens_per_sec"]) / (case.gpu_count if case.total_speed else 1)

def predict(case: SpeedCase, constants: SpeedConstants) -> float:
    est = estimate_speed(case.spec, resolve_shape(case.spec), case.gpu_spec, case.gpu_count, case.parallelism,
                         interconnect=case.interconnect, constants=constants)
    return est.tokens_per_sec_per_gpu * (COMPILE_SPEEDUP if case.compiled else 1.0)

def _micro_seconds(case: SpeedCase, tps: float) -> float:
    """Seconds per micro step (optimizer step spread over its micro steps) at tps tokens/s per GPU."""
    return tokens_per_micro_batch(case.spec) / tps

def _fit_step_terms(cases: list[tuple[SpeedCase, float]], c: SpeedConstants) -> tuple[float, float]:
    """Launch s per layer-pass and fixed s per optimizer step: relative least squares, both >= 0."""
    zero = c.model_copy(update={"launch_seconds": 0.0, "step_seconds": 0.0})
    rows = []
    for case, measured in cases:
        shape = resolve_shape(case.spec)
        m = _micro_seconds(case, measured)
        a = _micro_seconds(case, predict(case, zero))       # matmuls + update bytes, no per-step terms
        rows.append((a, shape.num_layers * passes(case.spec), 1 / case.spec.grad_accum, m))

    def solve(use_x: bool, use_y: bool) -> tuple[float, float]:
        sxx = sum((x / m) ** 2 for _, x, _, m in rows) if use_x else 1.0
        syy = sum((y / m) ** 2 for _, _, y, m in rows) if use_y else 1.0
        sxy = sum(x * y / m ** 2 for _, x, y, m in rows) if use_x and use_y else 0.0
        bx = sum(x * (m - a) / m ** 2 for a, x, _, m in rows) if use_x else 0.0
        by = sum(y * (m - a) / m ** 2 for a, _, y, m in rows) if use_y else 0.0
        det = sxx * syy - sxy ** 2
        return (bx * syy - by * sxy) / det, (by * sxx - bx * sxy) / det

    launch, step = solve(True, True)
    if step < 0:
        launch, step = solve(True, False)[0], 0.0
    if launch < 0:
        launch, step = 0.0, max(0.0, solve(False, True)[1])
    return max(0.0, launch), step

def _fit_dequant(cases: list[tuple[SpeedCase, float]], c: SpeedConstants) -> float:
    """Median bytes per 4-bit weight and pass that reproduce each short QLoRA row."""
    solved = []
    for case, measured in cases:
        base = c.model_copy(update={"dequant_bytes_per_param": 0.0})
        one = c.model_copy(update={"dequant_bytes_per_param": 1.0})
        t0, t1 = _micro_seconds(case, predict(case, base)), _micro_seconds(case, predict(case, one))
        solved.append(max(0.0, (_micro_seconds(case, measured) - t0) / (t1 - t0)))
    return median(solved) if solved else c.dequant_bytes_per_param

def _solve_efficiency(case: SpeedCase, measured: float, c: SpeedConstants) -> Optional[float]:
    """The efficiency of the row's cell that reproduces its measurement (bisection), None if none can."""
    key = (method_kind(case.spec), gpu_class(get_gpu(case.gpu)))

    def at(e: float) -> float:
        return predict(case, c.model_copy(update={"efficiency": {**c.efficiency, key: e}}))
    lo, hi = 0.02, 2.0
    if not at(lo) <= measured <= at(hi):
        return None
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if at(mid) < measured else (lo, mid)
    return (lo + hi) / 2

def _cells(solved: dict[tuple[str, str], list[tuple[str, float]]], cells: set[tuple[str, str]],
           prior: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """efficiency(method, class) = per-method factor x per-class factor (datacenter = 1), by alternating medians
    over the rows' solved efficiencies: 4 numbers from all rows, not 6 from 1-4 rows each, so a cell with few
    or no rows borrows the class ratio the other methods show."""
    flat = [(kind, cls, e) for (kind, cls), v in solved.items() for _, e in v]
    if not flat:
        return dict(prior)
    kinds, classes = sorted({k for k, _ in cells}), sorted({c for _, c in cells})
    g = {cls: 1.0 for cls in classes}
    m = {kind: median(e for _, _, e in flat) for kind in kinds}
    for _ in range(20):
        m = {kind: median([e / g[cls] for k, cls, e in flat if k == kind] or [m[kind]]) for kind in kinds}
        g = {cls: 1.0 if cls == "datacenter" else median([e / m[k] for k, c, e in flat if c == cls] or [1.0])
             for cls in classes}
    return {(kind, cls): m[kind] * g[cls] for kind, cls in cells}

def fit(cases: list[SpeedCase], rows: dict[str, dict[str, str]]) -> tuple[SpeedConstants, dict[str, list[str]]]:
    """Constants and, per constant, the row ids it was fitted on."""
    data = [(case, measured_tokens_per_sec(case, rows)) for case in cases]
    short_lora = [(k, m) for k, m in data if k.short and k.gpu_count == 1 and method_kind(k.spec) != "qlora"]
    short_qlora = [(k, m) for k, m in data if k.short and k.gpu_count == 1 and method_kind(k.spec) == "qlora"]
    long = [(k, m) for k, m in data if not k.short]
    cells = {(kind, cls) for kind in ("full", "lora", "qlora") for cls in ("datacenter", "workstation")}
    c = SpeedConstants(efficiency={cell: 0.5 for cell in cells}, launch_seconds=0.0, step_seconds=0.0,
                       dequant_bytes_per_param=5.0)
    used: dict[tuple[str, str], list[str]] = {}
    for _ in range(ROUNDS):
        launch, step = _fit_step_terms(short_lora, c) if short_lora else (c.launch_seconds, c.step_seconds)
        c = c.model_copy(update={"launch_seconds": launch, "step_seconds": step})
        c = c.model_copy(update={"dequant_bytes_per_param": _fit_dequant(short_qlora, c)})
        solved: dict[tuple[str, str], list[tuple[str, float]]] = {}
        for case, measured in long:
            e = _solve_efficiency(case, measured, c)
            if e is not None:
                solved.setdefault((method_kind(case.spec), gpu_class(get_gpu(case.gpu))), []).append((case.row_id, e))
        eff = _cells(solved, cells, c.efficiency)
        used = {f"efficiency {k[0]}/{k[1]}": [r for r, _ in solved.get(k, [])] for k in sorted(cells)}
        c = c.model_copy(update={"efficiency": eff})
    rounded = SpeedConstants(efficiency={k: round(v, 2) for k, v in c.efficiency.items()},
                             launch_seconds=round(c.launch_seconds, 5), step_seconds=round(c.step_seconds, 3),
                             dequant_bytes_per_param=round(c.dequant_bytes_per_param, 1))
    used["launch_seconds, step_seconds"] = [k.row_id for k, _ in short_lora]
    used["dequant_bytes_per_param"] = [k.row_id for k, _ in short_qlora]
    return rounded, used

def points(cases: list[SpeedCase], rows: dict[str, dict[str, str]], constants: SpeedConstants) -> list[SpeedPoint]:
    return [SpeedPoint(row_id=k.row_id, source=k.source, method=method_kind(k.spec),
                       gpu_class=gpu_class(get_gpu(k.gpu)), gpus=k.gpu_count, parallelism=k.parallelism.value,
                       link=k.interconnect.kind if k.gpu_count > 1 else "", predicted=predict(k, constants),
                       measured=measured_tokens_per_sec(k, rows)) for k in cases]

def leave_one_source_out(cases: list[SpeedCase], rows: dict[str, dict[str, str]]) -> list[SpeedPoint]:
    """Every row predicted by constants fitted without any row of its source."""
    out = []
    for source in sorted({k.source for k in cases}):
        constants, _ = fit([k for k in cases if k.source != source], rows)
        out += points([k for k in cases if k.source == source], rows, constants)
    return out

def quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile (as pandas / numpy default)."""
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = int(pos)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (pos - lo)
