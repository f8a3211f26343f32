"""Pure bf16 (--precision bf16) is planned only on GPUs with bf16: on a V100 or T4 it would run emulated, far
slower than the fp16 tensor-core speed the planner prices there for bf16-mixed (which the job runs as fp16 mixed
precision). bf16-mixed keeps those GPUs, as the job can run it there."""

import pytest
from typer.testing import CliRunner

from tunecost.launcher.cli import app
from tunecost.planner.market.gpus import get_gpu, load_gpus
from tunecost.planner.market.offers import load_prices
from tunecost.planner.model.fit import Fitter
from tunecost.planner.model.shapes import resolve_shape
from tunecost.planner.optimizer import optimize
from tunecost.planner.spec import DatasetSize, TrainSpec

NO_BF16 = {name for name, gpu in load_gpus().items() if not gpu.supports_bf16}


def spec(precision: str) -> TrainSpec:
    return TrainSpec(model="meta-llama/Llama-3.2-1B", method="lora", precision=precision,
                     dataset=DatasetSize(tokens_per_epoch=1_000_000))


def test_the_shipped_tables_hold_gpus_without_bf16_that_bf16_mixed_plans_quote(tmp_path):
    quoted = {q.offer.gpu for q in optimize(spec("bf16-mixed"), load_prices(home=tmp_path), top_k=10_000).quotes}
    assert {"V100", "T4"} <= NO_BF16 and quoted & NO_BF16


def test_a_pure_bf16_plan_leaves_out_gpus_without_bf16_and_says_so(tmp_path):
    plan = optimize(spec("bf16"), load_prices(home=tmp_path), top_k=10_000)
    assert plan.quotes and not {q.offer.gpu for q in plan.quotes} & NO_BF16
    assert not {f.quote.offer.gpu for f in plan.fallbacks} & NO_BF16
    said = [w for w in plan.warnings if w.startswith("left out") and "no bf16" in w]
    assert len(said) == 1 and "V100" in said[0] and "--precision bf16-mixed" in said[0]


@pytest.mark.parametrize("command", [["plan", "--tokens", "1000000"], ["estimate"]])
def test_pure_bf16_on_a_named_gpu_without_bf16_is_one_line_naming_the_fix(command):
    args = [*command, "--model", "meta-llama/Llama-3.2-1B", "--method", "lora", "--precision", "bf16", "--gpu", "V100"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert result.output.startswith("error: --precision bf16 (pure bf16) needs a GPU with bf16, and V100 has none")
    assert "--precision bf16-mixed" in result.output and result.output.count("\n") == 1


def test_what_would_make_it_fit_offers_pure_bf16_only_on_a_gpu_with_bf16():
    full = TrainSpec(model="meta-llama/Llama-3.2-1B", method="full", precision="bf16-mixed", seq_len=512,
                     optimizer="adamw-8bit")
    fitter = Fitter(full, resolve_shape(full), 0.9, max_gpus=8)
    assert "--precision bf16" in fitter.hint(1, 16.0, "RTXA4000", runs=get_gpu("RTXA4000").runs)
    without = fitter.hint(1, 16.0, "V100", runs=get_gpu("V100").runs)
    assert "fits on 1x V100 with" in without and "--precision bf16" not in without
