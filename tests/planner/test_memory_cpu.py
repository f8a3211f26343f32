"""estimate_memory against memory measured on CPU with torch itself, component by component.

The bundled job (stack "tunecost", the default) is checked in tests/planner/test_memory_job_cpu.py; this file
checks the plain HF + PEFT preset ("hf"). A real HF Llama (random init, small) trains one real step (full fine-tune, and PEFT LoRA). Measured:
parameters, gradients and optimizer states from the tensors themselves; activations as the bytes autograd
saves for backward (torch.autograd.graph.saved_tensors_hooks, storages counted once). fp32 on CPU, so the
estimate is asked for precision fp32. The only boundary: CPU instead of a GPU (no CUDA context/allocator).
"""

from functools import lru_cache

import pytest

torch = pytest.importorskip("torch")
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from tunecost.planner.model.activations import layer_bytes_per_token  # noqa: E402
from tunecost.planner.model.memory import GIB, estimate_memory  # noqa: E402
from tunecost.planner.model.shapes import shape_from_config  # noqa: E402
from tunecost.planner.spec import TrainSpec  # noqa: E402

CFG = dict(model_type="llama", hidden_size=256, intermediate_size=704, num_hidden_layers=4, num_attention_heads=8,
           num_key_value_heads=4, vocab_size=4096, tie_word_embeddings=True, max_position_embeddings=512)
BATCH, SEQ = 2, 128


def _storage_bytes(tensors) -> int:
    seen = {}
    for t in tensors:
        if t is not None and t.device.type == "cpu":
            s = t.untyped_storage()
            seen[s.data_ptr()] = s.nbytes()
    return sum(seen.values())


@lru_cache(maxsize=None)  # one real training run per configuration, shared by the tests
def _measure(method: str, gc: bool) -> dict[str, int]:
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**CFG, attn_implementation="sdpa"))
    if gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if method == "lora":
        model.enable_input_require_grads() if gc else None
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05,
                                                 target_modules="all-linear"))
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-4)
    ids = torch.randint(0, CFG["vocab_size"], (BATCH, SEQ))
    model(input_ids=ids, labels=ids).loss.backward()  # step 1 creates the optimizer states
    opt.step()
    opt.zero_grad()

    saved = {}

    def pack(t):
        s = t.untyped_storage()
        saved[s.data_ptr()] = s.nbytes()
        return t

    params_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model(input_ids=ids, labels=ids).loss
    activations = sum(n for ptr, n in saved.items() if ptr not in params_ptrs)
    loss.backward()
    return {
        "weights": _storage_bytes(p for p in model.parameters() if not p.requires_grad) if method == "lora"
        else _storage_bytes(model.parameters()),
        "trainable": _storage_bytes(trainable),
        "gradients": _storage_bytes(p.grad for p in trainable),
        "optimizer": _storage_bytes(v for st in opt.state.values() for v in st.values() if v.dim() > 0),
        "saved": activations,
    }


def _estimate(method: str, gc: bool):
    """The plain HF + PEFT stack ("hf" preset) that _measure runs: HF's loss, PEFT dropout 0.05."""
    spec = TrainSpec(model="cpu-test", method=method, rank=8, targets="all-linear", seq_len=SEQ, micro_batch=BATCH,
                     gradient_checkpointing=gc, precision="fp32", optimizer="adamw")
    est = estimate_memory(spec, shape_from_config(CFG, "test config"), stack="hf")
    return {k: v * GIB for k, v in est.components_gib.items()}, est


@pytest.mark.parametrize("method", ["full", "lora"])
def test_parameters_gradients_and_optimizer_states_match_to_the_percent(method):
    got = _measure(method, gc=False)
    est, full = _estimate(method, gc=False)
    weights = est["weights"] if method == "lora" else est["weights"] + est.get("master_weights", 0)
    assert est.get("weights", 0) and weights == pytest.approx(got["weights"], rel=0.01)
    if method == "lora":
        assert est["trainable"] == pytest.approx(got["trainable"], rel=0.01)
        assert full.trainable_params * 4 == got["trainable"]
    # the step-phase peak holds all gradients; check the count behind it, not which phase won
    assert full.trainable_params * 4 == pytest.approx(got["gradients"], rel=0.01)
    assert full.trainable_params * 8 == pytest.approx(got["optimizer"], rel=0.01)


@pytest.mark.parametrize("method,gc", [("full", False), ("lora", False), ("lora", True)])
def test_saved_activations_within_20pct_of_estimate(method, gc):
    """Estimate's activations + the saved fp32 log-softmax (4 of its 12 B x vocab loss peak per token).

    With checkpointing, the one layer the estimate adds for recomputation exists only during backward, so it
    is not in the forward's saved bytes; its size is what the no-checkpointing cases check per layer.
    """
    got = _measure(method, gc)["saved"]
    est, _ = _estimate(method, gc)
    expected = est["activations"] + est["logits"] / 3
    if gc:
        shape = shape_from_config(CFG, "test config")
        adapted = frozenset(("q", "k", "v", "o", "gate", "up", "down")) if method == "lora" else frozenset()
        expected -= layer_bytes_per_token(shape, 4, method == "full", adapted) * BATCH * SEQ
    assert expected == pytest.approx(got, rel=0.20), f"estimate {expected / 2**20:.2f} MiB vs saved {got / 2**20:.2f} MiB"


@lru_cache(maxsize=None)
def _measure_qlora() -> dict[str, int]:
    """The job's QLoRA recipe (job/model.py): bnb NF4 + double quant, bf16 compute,
    prepare_model_for_kbit_training, PEFT LoRA on all linears; the forward under bf16 autocast as the Trainer
    runs it with bf16=True. bitsandbytes 4-bit runs on CPU, so this is the real stack minus the GPU."""
    import tempfile

    from peft import prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig

    torch.manual_seed(0)
    folder = tempfile.mkdtemp(prefix="qlora-cpu-")
    cfg = {**CFG, "tie_word_embeddings": False}
    LlamaForCausalLM(LlamaConfig(**cfg)).to(torch.bfloat16).save_pretrained(folder)
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16)
    model = LlamaForCausalLM.from_pretrained(folder, quantization_config=quant, dtype=torch.bfloat16,
                                             device_map="cpu", attn_implementation="sdpa")
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear"))
    model.train()
    frozen = [p for p in model.parameters() if not p.requires_grad]
    saved, params = {}, {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t):
        s = t.untyped_storage()
        saved[s.data_ptr()] = s.nbytes()
        return t

    ids = torch.randint(0, cfg["vocab_size"], (BATCH, SEQ))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast("cpu", dtype=torch.bfloat16):
        model(input_ids=ids, labels=ids).loss.backward()
    return {"nf4": _storage_bytes(p for p in frozen if p.dtype == torch.uint8),
            "rest": _storage_bytes(p for p in frozen if p.dtype != torch.uint8),
            "rest_dtypes": {p.dtype for p in frozen if p.dtype != torch.uint8},
            "saved": sum(n for ptr, n in saved.items() if ptr not in params)}


def test_qlora_hf_stack_weights_and_fp32_activations_match_the_real_bnb_step_on_cpu():
    """QLoRA as plain HF + PEFT run it (the "hf" preset, the job before its contract): 4-bit payload to the byte, the fp32 upcast of the rest, and saved activations
    (fp32 residual stream after prepare_model_for_kbit_training) within 15%. With 16-bit activations the
    estimate would sit ~40% low here."""
    got = _measure_qlora()
    shape = shape_from_config({**CFG, "tie_word_embeddings": False}, "test config")
    spec = TrainSpec(model="cpu-test", method="qlora", rank=8, targets="all-linear", seq_len=SEQ, micro_batch=BATCH,
                     gradient_checkpointing=False, precision="bf16", optimizer="adamw")
    est = {k: v * GIB for k, v in estimate_memory(spec, shape, stack="hf").components_gib.items()}
    linear = shape.num_layers * shape.layer_linear_params()
    assert got["nf4"] == linear // 2
    assert got["rest_dtypes"] == {torch.float32}
    assert est["weights"] == pytest.approx(got["nf4"] + got["rest"], rel=0.01)
    expected = est["activations"] + est["logits"] / 3  # + the saved fp32 log-softmax (4 of the 12 B x vocab)
    assert expected == pytest.approx(got["saved"], rel=0.15), (
        f"estimate {expected / 2**20:.2f} MiB vs saved {got['saved'] / 2**20:.2f} MiB")
