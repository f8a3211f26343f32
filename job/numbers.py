"""Numbers at the boundary, defined once: finite, and within the range the quantity allows.

WHY one module: a NaN or an infinity that slips in anywhere (a flag, plan.json, a price CSV, a sweep value, the
job's config) ends as a record no command can read back, a budget guard that never fires, or a traceback far from
where it came in. The CLI flags, the planner's models and files, and the job check their numbers with these
types, so "a number" means the same everywhere. Standard library and pydantic only: the job ships it to the VM
and the planner imports it without torch.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Optional

from pydantic import AllowInfNan, Field, TypeAdapter, ValidationError

Finite = Annotated[float, AllowInfNan(False)]
NonNegative = Annotated[float, AllowInfNan(False), Field(ge=0)]
Positive = Annotated[float, AllowInfNan(False), Field(gt=0)]
Usd = NonNegative  # money (USD, USD per hour): a negative price or budget is a typo, never a discount
Fraction = Annotated[float, AllowInfNan(False), Field(ge=0, le=1)]
MAX_PARAMS_B = 100_000.0  # 100 trillion parameters: 50x the largest published model, so surely a typo
ParamsB = Annotated[float, AllowInfNan(False), Field(gt=0, le=MAX_PARAMS_B)]
MAX_GPUS = 1024  # GPUs per instance (a p5 has 8; a 1024 is already no machine anyone rents)
GpuCount = Annotated[int, Field(ge=1, le=MAX_GPUS)]
MAX_STEPS = 10_000_000  # optimizer steps: 10x the longest published pre-training runs, so surely a typo in a fine-tune
Steps = Annotated[int, Field(ge=1, le=MAX_STEPS)]
MAX_LORA_ALPHA = 65_536  # alpha / rank scales the adapter's update: 65,536 over rank 1 is already no training
LoraAlpha = Annotated[float, AllowInfNan(False), Field(gt=0, le=MAX_LORA_ALPHA)]
# What a run may be, for the plan (TrainSpec) and the job (JobConfig) alike: past these, surely a typo.
Rank = Annotated[int, Field(gt=0, le=4096)]  # LoRA rank: 4096 is already the hidden size of an 8B model
VirtualTokens = Annotated[int, Field(gt=0, le=4096)]  # prompt tuning's soft prompt
SeqLen = Annotated[int, Field(gt=0, le=1_048_576)]  # tokens per sequence: 1M, the longest context published
MicroBatch = Annotated[int, Field(gt=0, le=4096)]  # sequences per GPU per forward pass
GradAccum = Annotated[int, Field(gt=0, le=65536)]  # micro batches per optimizer step
MAX_EPOCHS = 1000  # passes over the dataset: a fine-tune runs 1-10
MAX_COUNT = 1_000_000  # a count with no natural bound of its own (restarts, rows to show): past this, a typo


def bounded(ge: Optional[float] = None, le: Optional[float] = None) -> Any:
    """A finite float within [ge, le] (either side open when None): the type of a float flag with min/max."""
    return Annotated[float, AllowInfNan(False), Field(ge=ge, le=le)]


def bounded_int(ge: Optional[int] = None, le: Optional[int] = None) -> Any:
    """An integer within [ge, le] (either side open when None): the type of an int flag with min/max. WHY a bound
    on every count: Python's ints have none, so 10**30 steps or processes would pass into a job config, a task
    YAML or a fork loop."""
    return Annotated[int, Field(ge=ge, le=le)]


_ADAPTERS: dict[str, TypeAdapter] = {}


def check(value: Any, kind: Any = Finite) -> Any:
    """`value` as `kind` (a number parsed from text too); ValueError with pydantic's reason, e.g. "Input should be
    a finite number", for callers that are not pydantic models (flags, CSV cells, the job's dataclass config)."""
    adapter = _ADAPTERS.get(repr(kind))
    if adapter is None:
        adapter = _ADAPTERS[repr(kind)] = TypeAdapter(kind)
    try:
        return adapter.validate_python(value.strip() if isinstance(value, str) else value)
    except ValidationError as err:
        raise ValueError(err.errors()[0]["msg"]) from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows; write a finite number")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (math.inf, -math.inf):
        raise ValueError(f"{text[:20]} is too large for a number (over 1.8e308); write a finite number")
    return number


def loads(text: str) -> Any:
    """json.loads that refuses NaN, Infinity and -Infinity (Python's json accepts them; JSON does not) and numbers
    that overflow to infinity (1e400): a file holding one is bad input, not a number."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
