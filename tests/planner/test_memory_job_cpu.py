"""The planner's model of the bundled job (stack "tunecost") against the job's own training step on CPU.

The model is built by the job's code (job/model.py load_base + apply_method, from a random-weight Llama saved
locally, bitsandbytes NF4 on CPU for QLoRA), trained by job/memprobe.py with the job's loss and autocast as the
contract says, measured with torch's tools (tensors, saved-tensor hooks, the profiler's memory timeline). The
only boundary: CPU instead of a GPU, so no CUDA context or allocator slack (the planner states those).
"""

from __future__ import annotations

from functools import lru_cache

import pytest

pytestmark = pytest.mark.slow  # real training steps on CPU: 11-21 s a case
torch = pytest.importorskip("torch")
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from tunecost.job import contract  # noqa: E402
from tunecost.job.job_config import JobConfig  # noqa: E402
from tunecost.job.memprobe import measure_step  # noqa: E402
from tunecost.job.model import DTYPES, apply_method, job_storage, load_base  # noqa: E402
from tunecost.planner.model import activations as act  # noqa: E402
from tunecost.planner.model.loss_memory import loss_buffer_bytes  # noqa: E402
from tunecost.planner.model.memory import GIB, estimate_memory, job_stack  # noqa: E402
from tunecost.planner.model.shapes import shape_from_config  # noqa: E402
from tunecost.planner.spec import Parallelism, TrainSpec  # noqa: E402

CFG = dict(model_type="llama", hidden_size=128, intermediate_size=352, num_hidden_layers=3, num_attention_heads=4,
           num_key_value_heads=2, vocab_size=4096, tie_word_embeddings=False, max_position_embeddings=512)
BATCH, SEQ, RANK, CHUNK = 2, 64, 8, 48  # 128 tokens in 3 loss chunks (one ragged)
CASES = [("qlora", "bf16-mixed", True), ("lora", "bf16-mixed", False), ("full", "bf16", True),
         ("full", "bf16-mixed", True)]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("job-model")
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**CFG)).to(torch.bfloat16).save_pretrained(path)
    return str(path)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(contract, "LOSS_CHUNK_ELEMENTS", CHUNK * CFG["vocab_size"])


@lru_cache(maxsize=None)
def _measured(folder: str, method: str, precision: str, gc: bool):
    cfg = JobConfig(model=folder, dataset="d", output_dir="o", method=method, precision=precision, rank=RANK,
                    gradient_checkpointing=gc).resolve(cuda=False)
    model = apply_method(load_base(folder, cfg), cfg)
    if gc:  # as the Trainer does with gradient_checkpointing=True
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    st = job_storage(cfg)
    torch.manual_seed(1)
    ids = torch.randint(0, CFG["vocab_size"], (BATCH, SEQ))
    return measure_step(model, ids, DTYPES[st.compute] if st.autocast else None)


def _planned(method: str, precision: str, gc: bool):
    spec = TrainSpec(model="cpu-test", method=method, rank=RANK, seq_len=SEQ, micro_batch=BATCH,
                     gradient_checkpointing=gc, precision=precision)
    shape = shape_from_config(CFG, "test config")
    return spec, shape, estimate_memory(spec, shape)


@pytest.mark.parametrize("method,precision,gc", CASES)
def test_static_components_match_the_job_to_the_percent(folder, method, precision, gc):
    got = _measured(folder, method, precision, gc)
    spec, shape, est = _planned(method, precision, gc)
    comps = {k: v * GIB for k, v in est.components_gib.items()}
    st = contract.storage(method, precision)
    per = contract.DTYPE_BYTES[st.trainable]
    weights = est.trainable_params * contract.DTYPE_BYTES[st.base] if method == "full" else comps["weights"]
    assert weights == pytest.approx(got.weights, rel=0.05), (weights, got.mib(), est.components_gib)
    assert comps.get("quant_constants", 0.0) == pytest.approx(got.quant_constants, rel=0.05, abs=1024)
    if method != "full":
        assert comps["trainable"] == pytest.approx(got.trainable, rel=0.05)
    assert est.trainable_params * per == pytest.approx(got.gradients, rel=0.05)
    assert est.trainable_params * per * 2 == pytest.approx(got.optimizer, rel=0.05)


@pytest.mark.parametrize("method,precision,gc", CASES)
def test_activations_and_loss_buffers_match_the_job_within_5pct(folder, method, precision, gc):
    got = _measured(folder, method, precision, gc)
    spec, shape, est = _planned(method, precision, gc)
    a = contract.DTYPE_BYTES[contract.storage(method, precision).compute]
    st = job_stack(spec, Parallelism.single)
    tokens = BATCH * SEQ
    loss = loss_buffer_bytes(spec, shape, st, tokens, a)
    assert loss == pytest.approx(got.loss_buffers, rel=0.05), (loss / 2**20, got.mib())
    # what the forward saves: every layer's checkpoint (or everything) + the head; the recomputed layer only
    # exists in backward
    if gc:
        resid = 4 if st.full_master_fp32 else a
        saved = shape.num_layers * act.checkpointed_layer_bytes_per_token(shape, resid)
    else:
        kinds = frozenset(contract.ALL_LINEAR) if st.adapter_copies and method != "full" else frozenset()
        saved = shape.num_layers * act.layer_bytes_per_token(shape, a, method == "full", kinds, a, RANK)
    # + the head's, and the loss's gathered hidden states (the planner counts those in the loss buffers)
    saved += act.head_bytes_per_token(shape, a, method == "full", False) + a * shape.hidden_size
    saved *= tokens
    if st.full_master_fp32:  # autocast's 16-bit copies of the decoder weights (the planner counts them in weights)
        saved += 2 * shape.num_layers * shape.layer_linear_params()
    assert saved == pytest.approx(got.activations, rel=0.05), (saved * tokens / 2**20, got.mib())
