"""The chunked linear + cross-entropy (job/loss.py) against HF's own causal LM loss: same loss, same gradients,
and no [tokens x vocab] tensor saved for backward. Real tiny Llama on CPU, fp32."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from tunecost.job import contract  # noqa: E402
from tunecost.job.loss import causal_lm_loss, head_inputs  # noqa: E402

VOCAB, BATCH, SEQ = 512, 2, 40


def _model():
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, vocab_size=VOCAB,
                                        tie_word_embeddings=False))


def _batch():
    torch.manual_seed(1)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ))
    labels = ids.clone()
    labels[:, :7] = -100  # a prompt without loss
    labels[1, 30:] = -100  # padding
    return ids, labels


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("num_items", [None, 50])
def test_chunked_loss_and_gradients_equal_hf_full_loss(monkeypatch, num_items):
    monkeypatch.setattr(contract, "LOSS_CHUNK_ELEMENTS", 9 * VOCAB)  # 9 tokens a chunk: several, one ragged
    ids, labels = _batch()
    model = _model()
    extra = {"num_items_in_batch": torch.tensor(num_items)} if num_items else {}
    reference = model(input_ids=ids, labels=labels, **extra).loss
    reference.backward()
    want = _grads(model)
    model.zero_grad()
    head = model.get_output_embeddings()
    with head_inputs(head) as hidden:
        out = model(input_ids=ids)
    assert out.logits.shape[1] == 0  # the model computed logits for no token
    loss = causal_lm_loss(head, hidden[-1], labels, torch.tensor(num_items) if num_items else None)
    loss.backward()
    got = _grads(model)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)
    assert set(got) == set(want)
    for name, grad in want.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_chunked_loss_saves_no_full_vocabulary_tensor(monkeypatch):
    monkeypatch.setattr(contract, "LOSS_CHUNK_ELEMENTS", 8 * VOCAB)
    ids, labels = _batch()
    model = _model()
    biggest = {"chunked": 0, "hf": 0}
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def saver(key):
        def pack(t):
            if t.untyped_storage().data_ptr() not in weights and t.dim() and t.shape[-1] == VOCAB:
                biggest[key] = max(biggest[key], t.numel())
            return t
        return pack

    head = model.get_output_embeddings()
    with torch.autograd.graph.saved_tensors_hooks(saver("chunked"), lambda t: t):
        with head_inputs(head) as hidden:
            model(input_ids=ids)
        causal_lm_loss(head, hidden[-1], labels).backward()
    with torch.autograd.graph.saved_tensors_hooks(saver("hf"), lambda t: t):
        model(input_ids=ids, labels=labels).loss.backward()
    assert biggest["hf"] >= BATCH * SEQ * VOCAB  # HF saves the whole log-softmax
    assert biggest["chunked"] == 0  # chunks are recomputed in backward: nothing vocabulary-sized is kept
