"""The training frameworks a user may run, as presets of how each stores a fine-tune in GPU memory.

`--framework tunecost` (the default) is the bundled job, the only one `tunecost launch` runs; the others let a
user who trains with torchtune, litgpt, axolotl or plain HF Trainer + PEFT get the memory figure of the stack
they run. Each preset says which published measurements (../shared/calibration/published_runs.csv row ids)
it was checked on, and where none exists, where its storage choices come from instead.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tunecost.planner.spec import Framework, LossKernel, Method

LAUNCHABLE = Framework.tunecost


class Stack(BaseModel):
    """How a training framework stores things: the memory model's only framework-dependent input."""

    model_config = ConfigDict(frozen=True)

    name: str
    full_master_fp32: bool        # under bf16-mixed / fp16 a full fine-tune keeps fp32 weights/grads/states +
                                  # 16-bit autocast copies (pure --precision bf16 never does)
    adapter_bytes: int            # LoRA / prompt parameters (and their grads, states) per element
    qlora_rest_fp32: bool         # non-quantized params (embeddings, lm_head, norms) upcast to fp32
    logits_bytes_per_vocab: int   # per token at the loss peak
    lora_dropout: bool            # adapters keep a dropout mask and their own input copy
    nf4_keeps_inputs: bool = False  # 4-bit matmul saves its input for backward (bitsandbytes < 0.42 did)
    double_quant: bool = True     # nf4 absmax quantized again (bnb_4bit_use_double_quant / litgpt bnb.nf4-dq)
    quantized_head: bool = False  # lm_head is 4-bit too (litgpt replaces every nn.Linear, lm_head included)
    loss: LossKernel = LossKernel.torch  # the default loss kernel (a spec's loss_kernel overrides it)
    mixed_fp32_params: bool = False  # bf16-mixed keeps EVERY parameter in fp32, the frozen base too (Lightning
                                     # Fabric's bf16-mixed: autocast over fp32 modules; litgpt's default)
    adapter_copies: bool = False  # fp32 adapters under 16-bit autocast: each casts its own copy of its input
    calibrated: bool = True       # a fitted overhead applies (published runs of this stack leave a gap)
    family: str = ""              # whose published rows its fitted overhead comes from (default: name)
    pure_bf16_adapters: bool = False  # under --precision bf16 the adapters are bf16 too (else adapter_bytes)
    eager_softcap_attention: bool = False  # soft-capped attention computed unfused (scores kept, T^2 per head)
    quantize_transient_bytes: int = 0  # per element of the largest 4-bit matrix, alive while it is quantized
    untied_head: bool = False     # a separate lm_head even where the checkpoint ties it to the embedding
    previous_graph: bool = False  # the training loop keeps the previous micro batch's graph alive into the next
                                  # forward: its logits, and what its backward does not free (nf4_keeps_inputs)

    @property
    def overhead_family(self) -> str:
        return self.family or self.name


# Each stack below is read from its code; "@" is the commit the reading was done at.
#
# hf: transformers 5.17 Trainer + peft 0.21.2 (@5d602fd). A model loaded in fp32 and trained with bf16=True is
# mixed precision (fp32 master weights, grads, AdamW states, 16-bit autocast copies); loaded in bf16 it trains in
# pure bf16 (--precision bf16). PEFT keeps adapters fp32 (get_peft_model(autocast_adapter_dtype=True),
# src/peft/mapping_func.py). QLoRA: prepare_model_for_kbit_training (src/peft/utils/other.py) upcasts every
# non-4-bit parameter to fp32. Loss: transformers/loss/loss_utils.py ForCausalLMLoss upcasts the full
# [tokens x vocab] logits (logits.float()): bf16 logits 2 B + fp32 copy 4 B + fp32 log-softmax grad 4 B + bf16
# grad 2 B per vocab entry. Gradient checkpointing keeps each layer's input.
_HF = Stack(name="hf", full_master_fp32=True, adapter_bytes=4, qlora_rest_fp32=True, logits_bytes_per_vocab=12,
            lora_dropout=True)
# The bundled job is not here: its stack, "tunecost", is derived from the job contract (memory.job_stack).
STACKS = {
    "hf": _HF,
    # HF + PEFT under FSDP with bnb_4bit_quant_storage=bf16, as Answer.AI's fsdp_qlora train.py (@05ed9f2) runs
    # it: no prepare_model_for_kbit_training (its fp32 casts would mix dtypes inside a shard unit), so embeddings,
    # norms and lm_head stay in the compute dtype; --precision bf16 casts the whole model to bf16 before PEFT
    # (train.py: `model.to(torch_dtype)`), and PEFT of its time (0.10, tuners/lora/layer.py update_layer) gave
    # adapters the base weight's floating dtype: bf16 adapters.
    "hf-fsdp-qlora": _HF.model_copy(update={"name": "hf-fsdp-qlora", "qlora_rest_fp32": False,
                                            "pure_bf16_adapters": True}),
    # axolotl (@067b021, src/axolotl/loaders/model.py): loads in the config's dtype (bf16: full fine-tunes train pure
    # bf16), calls prepare_model_for_kbit_training for lora/qlora, then (_configure_embedding_dtypes) casts norms
    # and embeddings back to bf16 for every adapter run; PEFT fp32 adapters; HF's loss unless the config's
    # plugins enable Cut Cross Entropy (integrations/cut_cross_entropy) or Liger (integrations/liger).
    "axolotl": _HF.model_copy(update={"name": "axolotl", "full_master_fp32": False, "qlora_rest_fp32": False}),
    # axolotl before 2024 (@dc71d88, 2023-08): the cast back to bf16 ran only with flash attention, so an
    # xformers / SDPA config kept prepare_model_for_kbit_training's fp32 norms and embeddings (AXL-01)
    "axolotl-2023": _HF.model_copy(update={"name": "axolotl-2023", "full_master_fp32": False, "family": "axolotl"}),
    # torchtune recipes (@bd2a0fc, recipes/configs/*: dtype bf16): pure bf16 (no master copy), bf16 adapters
    # (torchtune/modules/peft/lora.py), lora_dropout 0.0 in the configs; the model output upcast to fp32 before
    # torch cross-entropy (recipes/lora_finetune_single_device.py); CEWithChunkedOutputLoss is a
    # --loss-kernel chunked-like saving not priced here (torchtune's published rows predate it).
    "torchtune": Stack(name="torchtune", full_master_fp32=False, adapter_bytes=2, qlora_rest_fp32=False,
                       logits_bytes_per_vocab=12, lora_dropout=False),
    # torchtune of April 2024 (@fef3ed10, TTM rows) pinned torchao==0.1, whose NF4Tensor.from_tensor
    # (dtypes/nf4tensor.py quantize_tensor_nearest) builds (value - nf4) and its abs, 16 bf16 entries per element
    # each, unchunked (torchao chunks it from 2024-05, #196): with the bf16 weight and its scaled blocks, 68 B per
    # element of the matrix being quantized, on the GPU at model init (the QLoRA tutorial: 9.13 GB reserved after
    # init, 9.29 GB in training).
    "torchtune-2024": Stack(name="torchtune-2024", full_master_fp32=False, adapter_bytes=2, qlora_rest_fp32=False,
                            logits_bytes_per_vocab=12, lora_dropout=False, quantize_transient_bytes=68,
                            family="torchtune"),
    # litgpt (@2685705, litgpt/finetune/lora.py): --precision bf16-true is pure bf16; the default, bf16-mixed
    # (litgpt/utils.py get_default_supported_precision), is Lightning Fabric's autocast over fp32 modules: the
    # frozen base stays fp32 too, and each matmul saves a bf16 cast of its weight. QLoRA refuses mixed precision.
    # lm_head chunked in 16 bit, cross-entropy on 16-bit chunks (litgpt/utils.py chunked_cross_entropy).
    # litgpt/scripts/convert_hf_checkpoint.py copies a tied embedding into a separate lm_head (Llama 3.2, Gemma):
    # the head is stored twice. The loop (fit) binds `logits = model(...)` and only rebinds it after the next
    # forward, so the previous micro batch's logits (and its graph) are alive at the next peak. Soft-capped
    # attention (Gemma 2) runs unfused (model.py scaled_dot_product_attention), keeping its scores. bitsandbytes
    # >= 0.45.2 (pyproject) keeps no input in MatMul4Bit (autograd/_functions.py: ctx.tensors = (None, B)).
    "litgpt": Stack(name="litgpt", full_master_fp32=True, adapter_bytes=2, qlora_rest_fp32=False,
                    logits_bytes_per_vocab=6, lora_dropout=True, quantized_head=True, mixed_fp32_params=True,
                    untied_head=True, previous_graph=True, eager_softcap_attention=True),
    # litgpt --quantize bnb.nf4 (no double quant): the config hub's QLoRA configs
    "litgpt-nf4": Stack(name="litgpt-nf4", full_master_fp32=True, adapter_bytes=2, qlora_rest_fp32=False,
                        logits_bytes_per_vocab=6, lora_dropout=True, quantized_head=True, double_quant=False,
                        mixed_fp32_params=True, untied_head=True, previous_graph=True, eager_softcap_attention=True,
                        family="litgpt"),
}
# The versions the published litgpt rows ran (same fitted overhead family):
# * config hub table (LGCH, @5895df1..00af8b0d, 2024-04..09): bitsandbytes==0.42.0, whose MatMul4Bit keeps its
#   input A as a plain ctx attribute (ctx.tensors = (A, B)), which backward does not free: with the loop's
#   `logits` binding, the previous micro batch's 4-bit inputs are alive at the next forward's peak too.
STACKS["litgpt-2024"] = STACKS["litgpt"].model_copy(update={"name": "litgpt-2024", "nf4_keeps_inputs": True,
                                                             "family": "litgpt"})
STACKS["litgpt-2024-nf4"] = STACKS["litgpt-nf4"].model_copy(update={"name": "litgpt-2024-nf4",
                                                                     "nf4_keeps_inputs": True})
# * resource tables (LGRT, lit-gpt @8641822, 2023-10, bitsandbytes 0.41): the same MatMul4Bit, but train() runs
#   the longest sample first (get_batch(..., longest_seq_ix if iter_num == 0)), so the peak batch has no
#   predecessor alive.
STACKS["litgpt-2023"] = STACKS["litgpt-2024"].model_copy(update={"name": "litgpt-2023", "previous_graph": False})
STACKS["litgpt-2023-nf4"] = STACKS["litgpt-2024-nf4"].model_copy(update={"name": "litgpt-2023-nf4",
                                                                         "previous_graph": False})


class Preset(BaseModel):
    """One user-facing framework: its storage per method and the published rows it was checked on."""

    model_config = ConfigDict(frozen=True)

    framework: Framework
    title: str
    stack: str
    qlora_stack: str = ""          # a different storage for QLoRA (litgpt's config hub quantizes bnb.nf4)
    variants: tuple[str, ...] = ()  # older versions' storage, for their published rows (same fitted overhead)
    checked_on: tuple[str, ...] = ()
    basis: str = ""                # where the storage choices come from when no published row checks them

    def stack_for(self, method: Method) -> str:
        return self.qlora_stack if method is Method.qlora and self.qlora_stack else self.stack


PRESETS = {p.framework: p for p in [
    Preset(framework=Framework.tunecost, title="tunecost's bundled job (job/, from its contract job/contract.py)",
           stack="tunecost",
           basis="no published run (it is this project's job); modelled from its contract and measured on CPU with "
                 "torch (tests/planner/test_memory_cpu.py), on a GPU by benchmarks/gpu_truth.py"),
    Preset(framework=Framework.hf, title="plain HF Trainer + PEFT defaults (fp32 upcast, full-vocabulary fp32 "
                                         "logits)", stack="hf",
           basis="no published HF Trainer row with a decoder model and stated settings; storage from transformers' "
                 "and PEFT's defaults, the fp32 upcast measured on CPU with bitsandbytes "
                 "(tests/planner/test_memory_cpu.py)"),
    Preset(framework=Framework.hf_fsdp_qlora, title="HF + PEFT + FSDP (Answer.AI fsdp_qlora; bf16 quant storage)",
           stack="hf-fsdp-qlora",
           checked_on=("AA-01", "AA-02", "AA-03", "AA-04", "AA-05", "AA-06", "AA-07", "AA-08", "AA-09", "AA-10",
                       "AA-11", "AA-14", "AA-15", "AA-16")),
    Preset(framework=Framework.axolotl, title="axolotl (HF Trainer + PEFT, bf16 load; CCE/Liger per config)",
           stack="axolotl", variants=("axolotl-2023",),
           checked_on=("AX-06", "AX-08", "AX-09", "AXL-01")),
    Preset(framework=Framework.torchtune, title="torchtune recipes (pure bf16)", stack="torchtune",
           variants=("torchtune-2024",),
           checked_on=("TTL2-02", "TTL2-03", "TTL2-05", "TTM-01", "TTM-02", "TTM-03", "TTM-05", "TTLT-01",
                       "TTLT-02", "TTLT-03", "TTLT-04", "TTOPT-02")),
    Preset(framework=Framework.litgpt, title="litgpt (bf16-true; QLoRA --quantize bnb.nf4)", stack="litgpt",
           qlora_stack="litgpt-nf4", variants=("litgpt-2023", "litgpt-2023-nf4", "litgpt-2024", "litgpt-2024-nf4"),
           checked_on=("LGRT-07", "LGRT-08", "LGRT-09", "LGRT-10", "LGRT-12", "LGRT-13", "LGCH-02", "LGCH-03",
                       "LGCH-05", "LGCH-06", "LGCH-07", "LGCH-08", "LGCH-09", "LGCH-10", "LGCH-11", "LGCH-12",
                       "LGCH-17", "LGCH-20", "LGCH-21", "LGCH-22", "LGCH-23")),
]}


def stack_name(framework: Framework, method: Method) -> str:
    """The storage the memory model prices for this framework and method: a STACKS key, or "tunecost"."""
    return PRESETS[Framework(framework)].stack_for(Method(method))


def framework_note(framework: Framework) -> str:
    """One assumption line: which framework is priced and what it was checked on."""
    preset = PRESETS[Framework(framework)]
    checked = (f"checked on published runs {', '.join(preset.checked_on)}" if preset.checked_on
               else preset.basis)
    return f"framework: {preset.title} ({checked})"
