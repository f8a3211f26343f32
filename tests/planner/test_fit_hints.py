"""'What would make it fit' tries every knob (8-bit optimizer, micro batch, pure bf16, framework, checkpointing,
method, --seq-len) and names the cheapest combination that fits; the flags it names are real CLI flags that
make `tunecost estimate` say "fits"."""

import json
import re
import shlex
from itertools import combinations, product

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app
from tunecost.planner.model.fit import Fitter
from tunecost.planner.market.gpus import get_gpu
from tunecost.planner.model.knobs import MAX_KNOBS, cheapest_fit, knobs
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.spec import Framework, Parallelism, TrainSpec

CASES = [  # (spec, GPU): each misfits as given
    (dict(model="meta-llama/Llama-3.2-3B", method="full", seq_len=2048, gradient_checkpointing=False), "A100"),
    (dict(model="meta-llama/Llama-3.2-1B", method="full", seq_len=2048, micro_batch=4,
          gradient_checkpointing=False), "L4"),
    (dict(model="meta-llama/Llama-3.1-8B", method="lora", micro_batch=8, gradient_checkpointing=False), "L4"),
    (dict(model="meta-llama/Llama-3.1-8B", method="qlora", seq_len=16384, micro_batch=1,
          optimizer="adamw-8bit"), "T4"),
    (dict(model="meta-llama/Llama-3.1-8B", method="qlora", framework="hf"), "T4"),
]


def _fitter(spec: TrainSpec) -> Fitter:
    return Fitter(spec, resolve_shape(spec), 0.9, max_gpus=8)


def _every_cheaper_change_misfits(spec: TrainSpec, fitter: Fitter, gib: float, cost: int) -> None:
    """Brute force over every knob combination (every level of every knob) cheaper than the chosen one."""
    found = knobs(spec)
    for n in range(1, MAX_KNOBS + 1):
        for subset in combinations(found, n):
            if sum(k.cost for k in subset) >= cost:
                continue
            for levels in product(*(k.levels for k in subset)):
                update = {}
                for level in levels:
                    update.update({f: getattr(level.spec, f) for f in TrainSpec.model_fields
                                   if getattr(level.spec, f) != getattr(spec, f)})
                assert not fitter.best(1, gib, spec.model_copy(update=update))[2], (subset, levels)


@pytest.mark.parametrize("fields,name", CASES)
def test_the_named_change_fits_and_nothing_cheaper_does(fields, name):
    spec = TrainSpec(**fields)
    fitter = _fitter(spec)
    gib = get_gpu(name).memory_gib
    assert not fitter.best(1, gib)[2], "the case must misfit as given"
    flags, changed = cheapest_fit(spec, lambda s: fitter.best(1, gib, s)[2])
    assert fitter.best(1, gib, changed)[2]
    cost = sum(k.cost for k in knobs(spec) if any(level.flags in flags for level in k.levels))
    _every_cheaper_change_misfits(spec, fitter, gib, cost)
    assert fitter.hint(1, gib, name).startswith(f"fits on 1x {name} with {flags}")


@pytest.mark.parametrize("fields,name", CASES)
def test_the_hint_flags_make_the_real_cli_estimate_fit(fields, name):
    """The words of the hint, typed back into `tunecost estimate`, give an estimate that fits."""
    spec = TrainSpec(**fields)
    gib = get_gpu(name).memory_gib
    hint = _fitter(spec).hint(1, gib, name)
    flags = re.match(rf"fits on 1x {name} with (.+?)(; or .*)?$", hint).group(1)
    given = [f"--{k.replace('_', '-')}={v}" for k, v in fields.items() if k not in ("gradient_checkpointing",
                                                                                   "micro_batch")]
    given += [f"--batch={fields.get('micro_batch', 1)}"]
    given += [] if fields.get("gradient_checkpointing", True) else ["--no-gradient-checkpointing"]
    before = CliRunner().invoke(app, ["estimate", *given, "--gpu", name, "--json"])
    after = CliRunner().invoke(app, ["estimate", *given, *shlex.split(flags), "--gpu", name, "--json"])
    assert before.exit_code == 0 and after.exit_code == 0, after.output
    assert json.loads(before.stdout)["fits"] is False and json.loads(after.stdout)["fits"] is True


def test_a_smaller_micro_batch_keeps_the_effective_batch():
    spec = TrainSpec(model="meta-llama/Llama-3.1-8B", method="lora", micro_batch=8, grad_accum=2,
                     gradient_checkpointing=False)
    hint = _fitter(spec).hint(1, 40.0, "A100")
    batch, accum = map(int, re.search(r"--batch (\d+) --grad-accum (\d+)", hint).groups())
    assert batch < 8 and batch * accum == 8 * 2


def test_a_shorter_seq_len_is_the_last_resort():
    """Only when no combination of the other knobs fits is the data cut shorter."""
    spec = TrainSpec(**CASES[3][0])
    hint = _fitter(spec).hint(1, get_gpu("T4").memory_gib, "T4")
    assert "--seq-len" in hint
    seq = int(re.search(r"--seq-len (\d+)", hint).group(1))
    assert 256 <= seq < 16384


def test_an_hf_user_is_offered_a_leaner_framework():
    """Once the cheaper config lines are in (a fused loss, an 8-bit optimizer), what is left is another stack."""
    spec = TrainSpec(**CASES[4][0], loss_kernel="liger", optimizer="adamw-8bit")
    hint = _fitter(spec).hint(1, get_gpu("T4").memory_gib, "T4")
    framework = re.search(r"--framework ([a-z0-9-]+)", hint).group(1)
    assert Framework(framework) is not Framework.hf


def test_more_gpus_are_named_beside_the_change():
    spec = TrainSpec(model="meta-llama/Llama-3.1-70B", method="qlora", seq_len=2048)
    hint = _fitter(spec).hint(1, 22.35, "L4")
    count = int(re.search(r"on (\d+)x L4 with FSDP", hint).group(1))
    fitter = _fitter(spec)
    assert fitter.fits(fitter.memory(count, Parallelism.fsdp), 22.35)
    assert not fitter.fits(fitter.memory(count // 2, Parallelism.fsdp), 22.35)
