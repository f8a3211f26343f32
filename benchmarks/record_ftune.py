"""Record the peer estimator ftuneai's answer for every published memory row we compare (benchmarks/ftune_estimates.csv).

Needs `pip install ftuneai` (not a tunecost dependency); the CSV is committed so estimate_accuracy.py runs without it.
Each row runs ftune's own CLI, `ftune estimate ... -o json`, in-process. Models in ftune's bundled database are
named as they are; for the others ftune would fetch config.json from the Hugging Face Hub, which this machine
cannot reach, so its hub lookup is answered with the same architecture fields from our catalog
(planner/model/model_catalog.csv) - the numbers ftune would compute online. Settings ftune cannot express are mapped to
the nearest it has, and each mapping is written in the row's `note`. Run: python benchmarks/record_ftune.py
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from validation.calibration import CASES, Case
from tunecost.planner.model.shapes import ModelShape, resolve_shape
from tunecost.planner.spec import Method, Optimizer
from tunecost.planner.model.targets import ALL_LINEAR, ATTENTION, parse_targets

OUT = Path(__file__).with_name("ftune_estimates.csv")
FIELDS = ["row_id", "ftune_version", "model_arg", "model_source", "method", "quantization", "batch_size",
          "seq_length", "lora_rank", "lora_alpha", "lora_target", "optimizer", "grad_ckpt", "num_gpus",
          "total_gib", "model_weights_gib", "activations_gib", "overhead_gib", "note"]


def hub_config(shape: ModelShape) -> dict:
    """The config.json fields ftune's hub lookup reads, from our catalog shape."""
    return {"hidden_size": shape.hidden_size, "num_hidden_layers": shape.num_layers,
            "num_attention_heads": shape.num_heads, "num_key_value_heads": shape.num_kv_heads,
            "intermediate_size": shape.intermediate_size, "vocab_size": shape.vocab_size,
            "max_position_embeddings": shape.max_position_embeddings or 4096, "torch_dtype": "bfloat16",
            "tie_word_embeddings": shape.tie_word_embeddings}


def lora_target(case: Case) -> tuple[str, str]:
    """ftune knows three target sets: attention (q,v), attention_all (q,k,v,o), all_linear (+ MLP)."""
    kinds = parse_targets(case.spec.targets)
    if kinds == frozenset({"q", "v"}):
        return "attention", ""
    if kinds <= frozenset(ATTENTION):
        return "attention_all", f"targets {case.spec.targets} -> attention_all (q,k,v,o)"
    note = "" if kinds == frozenset(ALL_LINEAR) else f"targets {case.spec.targets} -> all_linear"
    return "all_linear", note


def args_for(case: Case, model_arg: str) -> tuple[list[str], dict, list[str]]:
    spec, notes = case.spec, []
    target, note = lora_target(case)
    notes += [note] if note else []
    quant = "4bit" if spec.method is Method.qlora else "none"
    optimizer = {Optimizer.adamw: "adamw", Optimizer.adamw_8bit: "adam_8bit"}[spec.optimizer]
    if case.gpu_count > 1:
        notes.append(f"{case.gpu_count} GPUs {case.parallelism.value}: ftune's CLI has no sharding option")
    settings = {"method": spec.method.value, "quantization": quant, "batch_size": spec.micro_batch,
                "seq_length": spec.seq_len, "lora_rank": spec.rank, "lora_alpha": spec.lora_alpha,
                "lora_target": target, "optimizer": optimizer, "grad_ckpt": spec.gradient_checkpointing,
                "num_gpus": case.gpu_count}
    args = ["estimate", "--model", model_arg, "--method", spec.method.value, "-q", quant,
            "-b", str(spec.micro_batch), "-s", str(spec.seq_len), "-r", str(spec.rank),
            "--lora-alpha", str(spec.lora_alpha), "--lora-target", target, "--optimizer", optimizer,
            "--grad-ckpt" if spec.gradient_checkpointing else "--no-grad-ckpt", "-g", str(case.gpu_count),
            "-o", "json"]
    return args, settings, notes


def main() -> None:
    try:
        import ftuneai
        import ftuneai.hub
        from ftuneai.cli.app import app
        from ftuneai.loader import load_models
    except ImportError:
        sys.exit("error: ftuneai is not installed; pip install ftuneai (into a venv: it is a peer, not a dependency)")
    from typer.testing import CliRunner

    known = set(load_models())  # before any hub lookup (ftune caches those into the same dict)
    shapes: dict[str, ModelShape] = {}
    ftuneai.hub.fetch_model_config = lambda name: hub_config(shapes[name])  # offline: our catalog's fields
    rows = []
    for case in CASES:
        if not case.memory:
            continue
        shape = resolve_shape(case.spec)
        model = case.spec.model or ""
        shapes[model] = shape
        source = "ftune database" if model in known else "catalog shape as config.json (hub offline)"
        args, settings, notes = args_for(case, model)
        result = CliRunner().invoke(app, args)
        if result.exit_code != 0:
            rows.append({"row_id": case.row_id, "ftune_version": ftuneai.__version__, "model_arg": model,
                         "model_source": source, **settings, "total_gib": "",
                         "note": "; ".join(notes + [f"ftune failed: {result.output.strip().splitlines()[-1]}"])})
            continue
        memory = json.loads(result.stdout)["memory"]
        rows.append({"row_id": case.row_id, "ftune_version": ftuneai.__version__, "model_arg": model,
                     "model_source": source, **settings, "total_gib": memory["total_gb"],
                     "model_weights_gib": memory["model_weights_gb"], "activations_gib": memory["activations_gb"],
                     "overhead_gib": memory["overhead_gb"], "note": "; ".join(notes)})
    with open(OUT, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {OUT} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
