"""The changes a user can make to a fine-tune that lower its peak memory, least intrusive first.

"What would make it fit" tries combinations of these against the memory model and names the cheapest one that
fits. Cheapest means the least change to what is trained and how fast: an 8-bit optimizer costs nothing in
speed; a fused loss kernel (Liger, Cut Cross Entropy) is one config line on HF-based stacks; a smaller micro batch with more accumulation keeps the effective batch; pure bf16 drops the fp32 master
copy; tunecost's own job is what `launch` runs; checkpointing recomputes a forward (~1/3 slower); another method
trains something else; another framework is other software; a shorter --seq-len changes the data, so it is the
last resort (costlier than any three others). The order is the `cost` of each knob.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations, product
from typing import Callable, Iterator

from pydantic import BaseModel, ConfigDict

from tunecost.planner.spec import Framework, LossKernel, Method, Optimizer, Precision, TrainSpec

MIN_SEQ_LEN = 256          # shorter sequences than this stop being the same fine-tune
MAX_KNOBS = 3              # changes combined in one suggestion
# HF-based stacks whose loss a config line swaps for a fused kernel (use_liger_kernel / axolotl's CCE plugin)
FUSED_LOSS_STACKS = (Framework.hf, Framework.hf_fsdp_qlora, Framework.axolotl)


class Level(BaseModel):
    """One setting of a knob: the flags a user types and the spec it gives."""

    model_config = ConfigDict(frozen=True)

    flags: str
    spec: TrainSpec


class Knob(BaseModel):
    """A kind of change; `levels` go from the mildest to the strongest when `ordered`, else are alternatives."""

    model_config = ConfigDict(frozen=True)

    name: str
    cost: int
    levels: tuple[Level, ...]
    ordered: bool = True


def _halvings(value: int, floor: int) -> list[int]:
    out, v = [], value // 2
    while v >= floor:
        out.append(v)
        v //= 2
    return out


@lru_cache(maxsize=64)  # one search per infeasible GPU size: the same knobs, memoized
def knobs(spec: TrainSpec) -> tuple[Knob, ...]:
    """Every change that applies to this spec (a knob already at its lowest setting is left out)."""
    def lv(flags: str, **update: object) -> Level:
        return Level(flags=flags, spec=spec.model_copy(update=update))

    out: list[Knob] = []
    if spec.optimizer is Optimizer.adamw:
        out.append(Knob(name="optimizer", cost=1, levels=(lv("--optimizer adamw-8bit",
                                                             optimizer=Optimizer.adamw_8bit),)))
    if spec.micro_batch > 1:
        out.append(Knob(name="micro batch", cost=2, levels=tuple(
            lv(f"--batch {mb} --grad-accum {spec.grad_accum * spec.micro_batch // mb}", micro_batch=mb,
               grad_accum=spec.grad_accum * spec.micro_batch // mb)
            for mb in _halvings(spec.micro_batch, 1) if spec.micro_batch % mb == 0)))
    if spec.framework in FUSED_LOSS_STACKS and spec.loss_kernel in (None, LossKernel.torch):
        out.append(Knob(name="loss kernel", cost=1, ordered=False, levels=tuple(
            lv(f"--loss-kernel {k.value}", loss_kernel=k) for k in (LossKernel.liger, LossKernel.cce))))
    if spec.method is Method.full and spec.precision.value == "bf16-mixed":
        out.append(Knob(name="precision", cost=3, levels=(lv("--precision bf16", precision=Precision("bf16")),)))
    if spec.framework is not Framework.tunecost:
        out.append(Knob(name="tunecost", cost=4, levels=(lv("--framework tunecost", framework=Framework.tunecost),)))
    if not spec.gradient_checkpointing:
        out.append(Knob(name="checkpointing", cost=5, levels=(lv("--gradient-checkpointing",
                                                                 gradient_checkpointing=True),)))
    methods = {Method.full: (Method.lora, Method.qlora), Method.lora: (Method.qlora,)}.get(spec.method, ())
    if methods:
        out.append(Knob(name="method", cost=7, levels=tuple(lv(f"--method {m.value}", method=m) for m in methods)))
    # hf-fsdp-qlora is HF under FSDP: more GPUs, which the hint names on its own
    others = [f for f in Framework if f not in (spec.framework, Framework.tunecost, Framework.hf_fsdp_qlora)]
    out.append(Knob(name="framework", cost=8, ordered=False, levels=tuple(
        lv(f"--framework {f.value}", framework=f) for f in others)))
    seqs = _halvings(spec.seq_len, MIN_SEQ_LEN)
    if seqs:
        out.append(Knob(name="seq-len", cost=21, levels=tuple(lv(f"--seq-len {s}", seq_len=s) for s in seqs)))
    return tuple(out)


@lru_cache(maxsize=4096)
def _combined(levels: tuple[Level, ...], base: TrainSpec) -> TrainSpec:
    update: dict[str, object] = {}
    for level in levels:
        update.update({k: getattr(level.spec, k) for k in TrainSpec.model_fields
                       if getattr(level.spec, k) != getattr(base, k)})
    return base.model_copy(update=update)


def _subsets(found: tuple[Knob, ...]) -> Iterator[tuple[Knob, ...]]:
    """Knob combinations, cheapest first (total cost, then fewer knobs)."""
    every = [c for n in range(1, MAX_KNOBS + 1) for c in combinations(found, n)]
    yield from sorted(every, key=lambda c: (sum(k.cost for k in c), len(c)))


def cheapest_fit(spec: TrainSpec, fits: Callable[[TrainSpec], bool]) -> tuple[str, TrainSpec] | None:
    """The flags and spec of the cheapest combination of changes that fits, each ordered knob at its mildest
    level that still fits; None when no combination of up to MAX_KNOBS changes fits.

    A combination is tried with its ordered knobs at their strongest level (and each alternative of the others);
    when that fits, each ordered knob in turn is backed off to the mildest level that keeps the fit (fewer
    halvings of --batch or --seq-len, lora before qlora)."""
    for subset in _subsets(knobs(spec)):
        for picks in product(*[(None,) if k.ordered else k.levels for k in subset]):
            chosen = [pick or knob.levels[-1] for knob, pick in zip(subset, picks)]
            if not fits(_combined(tuple(chosen), spec)):
                continue
            for i, knob in enumerate(subset):
                for level in knob.levels if knob.ordered else ():
                    trial = chosen[:i] + [level] + chosen[i + 1:]
                    if fits(_combined(tuple(trial), spec)):
                        chosen = trial
                        break
            return " ".join(level.flags for level in chosen), _combined(tuple(chosen), spec)
    return None
