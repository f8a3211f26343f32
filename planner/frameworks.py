"""The training frameworks a user may run, as presets of how each stores a fine-tune in GPU memory.

`--framework tunecost` (the default) is the bundled job, the only one `tunecost launch` runs; the others let a
user who trains with torchtune, litgpt, axolotl or plain HF Trainer + PEFT get the memory figure of the stack
they run. Each preset says which published measurements (../shared/calibration/published_runs.csv row ids)
it was checked on, and where none exists, where its storage choices come from instead.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from tunecost.planner.spec import Framework, Method

LAUNCHABLE = Framework.tunecost


class Stack(BaseModel):
    """How a training framework stores things: the memory model's only framework-dependent input."""

    model_config = ConfigDict(frozen=True)

    name: str
    full_master_fp32: bool        # full fine-tune keeps fp32 weights/grads/states + 16-bit autocast copies
    adapter_bytes: int            # LoRA / prompt parameters (and their grads, states) per element
    qlora_rest_fp32: bool         # non-quantized params (embeddings, lm_head, norms) upcast to fp32
    logits_bytes_per_vocab: int   # per token at the loss peak
    lora_dropout: bool            # adapters keep a dropout mask and their own input copy
    nf4_keeps_inputs: bool = False  # 4-bit matmul saves its input for backward (bitsandbytes < 0.42 did)
    double_quant: bool = True     # nf4 absmax quantized again (bnb_4bit_use_double_quant / litgpt bnb.nf4-dq)
    quantized_head: bool = False  # lm_head is 4-bit too (litgpt replaces every nn.Linear, lm_head included)
    chunked_loss: bool = False    # lm_head + cross-entropy in chunks (no [tokens x vocab] logits): the job's loss
    adapter_copies: bool = False  # fp32 adapters under 16-bit autocast: each casts its own copy of its input
    calibrated: bool = True       # a fitted overhead applies (published runs of this stack leave a gap)


# plain HF Trainer + PEFT defaults (the job before its contract): AutoModel fp32 + Trainer autocast for full; PEFT fp32 adapters (autocast_adapter_dtype);
# prepare_model_for_kbit_training upcasts every non-4-bit parameter to fp32; transformers' loss upcasts the full
# [tokens x vocab] logits to fp32 (bf16 logits 2 B + fp32 copy 4 B + fp32 log-softmax grad 4 B + bf16 grad 2 B)
_HF = Stack(name="hf", full_master_fp32=True, adapter_bytes=4, qlora_rest_fp32=True, logits_bytes_per_vocab=12,
            lora_dropout=True)
# The bundled job is not here: its stack, "tunecost", is derived from the job contract (memory.job_stack).
STACKS = {
    "hf": _HF,
    # HF Trainer + PEFT under FSDP with bnb_4bit_quant_storage=bf16: no prepare_model_for_kbit_training (its fp32
    # casts would mix dtypes inside a shard unit), so embeddings, norms and lm_head stay in the compute dtype
    "hf-fsdp-qlora": _HF.model_copy(update={"name": "hf-fsdp-qlora", "qlora_rest_fp32": False}),
    # axolotl: loads in bf16 (full fine-tunes train pure bf16), calls prepare_model_for_kbit_training, then casts
    # norms and embeddings back to the compute dtype (flash-attention configs); PEFT fp32 adapters; HF loss
    "axolotl": _HF.model_copy(update={"name": "axolotl", "full_master_fp32": False, "qlora_rest_fp32": False}),
    # torchtune recipes: pure bf16 (no master copy), bf16 adapters, model output upcast to fp32 before the loss
    "torchtune": Stack(name="torchtune", full_master_fp32=False, adapter_bytes=2, qlora_rest_fp32=False,
                       logits_bytes_per_vocab=12, lora_dropout=False),
    # litgpt bf16-true: pure bf16; lm_head chunked in 16 bit, cross-entropy on 16-bit chunks
    # (the published litgpt runs are from 2023: bitsandbytes 0.41's MatMul4Bit kept each input for backward)
    "litgpt": Stack(name="litgpt", full_master_fp32=False, adapter_bytes=2, qlora_rest_fp32=False,
                    logits_bytes_per_vocab=6, lora_dropout=True, nf4_keeps_inputs=True, quantized_head=True),
    # litgpt --quantize bnb.nf4 (no double quant): the config-hub and most resource-table QLoRA rows
    "litgpt-nf4": Stack(name="litgpt-nf4", full_master_fp32=False, adapter_bytes=2, qlora_rest_fp32=False,
                        logits_bytes_per_vocab=6, lora_dropout=True, nf4_keeps_inputs=True, quantized_head=True,
                        double_quant=False),
}


class Preset(BaseModel):
    """One user-facing framework: its storage per method and the published rows it was checked on."""

    model_config = ConfigDict(frozen=True)

    framework: Framework
    title: str
    stack: str
    qlora_stack: str = ""          # a different storage for QLoRA (litgpt's config hub quantizes bnb.nf4)
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
    Preset(framework=Framework.hf_fsdp_qlora, title="HF Trainer + PEFT + FSDP QLoRA (bf16 quant storage)",
           stack="hf-fsdp-qlora",
           basis="no published row without CPU offload (PS-01 offloads); storage from the HF/PEFT FSDP-QLoRA "
                 "recipe: no prepare_model_for_kbit_training, bnb_4bit_quant_storage=bf16"),
    Preset(framework=Framework.axolotl, title="axolotl (HF Trainer + PEFT, bf16 load)", stack="axolotl",
           basis="no published axolotl row with stated settings; storage from axolotl's model loader (bf16 load, "
                 "norms and embeddings cast back to bf16 after prepare_model_for_kbit_training)"),
    Preset(framework=Framework.torchtune, title="torchtune recipes (pure bf16)", stack="torchtune",
           checked_on=("TTL2-02", "TTL2-03", "TTL2-05", "TTM-01", "TTM-02", "TTM-03", "TTM-05", "TTLT-01",
                       "TTLT-02", "TTLT-03", "TTLT-04", "TTOPT-02")),
    Preset(framework=Framework.litgpt, title="litgpt (bf16-true; QLoRA --quantize bnb.nf4)", stack="litgpt",
           qlora_stack="litgpt-nf4",
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
