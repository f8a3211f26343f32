"""Model shapes: the architecture numbers every memory and FLOP estimate is computed from.

Three sources, in order: the shipped catalog (exact shapes of popular open models, each with its source),
a local Hugging Face config.json, or a generic Llama-like dense shape sized to --params (said so in `source`).
Nothing is downloaded: `tunecost plan` must work offline and start fast.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict

from tunecost.planner.errors import UserError
from tunecost.planner.spec import TrainSpec

# norm_layout code -> (per-layer norm params as a function of the shape, final norm params)
_NORMS = {
    "pre_rms_x2": lambda s: (2 * s.hidden_size, s.hidden_size),
    "pre_rms_x2+qk_head": lambda s: (2 * s.hidden_size + 2 * s.head_dim, s.hidden_size),
    "pre_post_rms_x4": lambda s: (4 * s.hidden_size, s.hidden_size),
    "pre_post_rms_x4+qk_head": lambda s: (4 * s.hidden_size + 2 * s.head_dim, s.hidden_size),
    "post_rms_x2+qk_full": lambda s: (2 * s.hidden_size + s.q_dim + s.kv_dim, s.hidden_size),
    "shared_layernorm_x1": lambda s: (2 * s.hidden_size, 2 * s.hidden_size),
}


class ModelShape(BaseModel):
    """A decoder-only transformer's shape. `source` says where the numbers came from (catalog, file, assumed)."""

    model_config = ConfigDict(frozen=True)

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool
    mlp: str  # "gated" | "plain"
    attention_bias: bool = False
    num_experts: int = 0
    experts_per_token: int = 0
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0
    max_position_embeddings: Optional[int] = None
    published_params_b: Optional[float] = None
    norm_layout: str = "pre_rms_x2"
    attn_logit_softcapping: Optional[float] = None  # Gemma 2 caps attention scores (tanh): no fused SDPA kernel
    source: str

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    def linear_shapes(self, active: bool = False) -> dict[str, tuple[int, int, int]]:
        """Per decoder layer: projection kind -> (in_features, out_features, copies).

        MoE expert projections have `copies` = experts (or experts_per_token when `active`), which is what
        both parameter counts and FLOPs per token need.
        """
        h = self.hidden_size
        out = {"q": (h, self.q_dim, 1), "k": (h, self.kv_dim, 1), "v": (h, self.kv_dim, 1), "o": (self.q_dim, h, 1)}
        if self.is_moe:
            n = self.experts_per_token if active else self.num_experts
            inter = self.moe_intermediate_size
            out.update({"gate": (h, inter, n), "up": (h, inter, n), "down": (inter, h, n)})
        elif self.mlp == "gated":
            out.update({"gate": (h, self.intermediate_size, 1), "up": (h, self.intermediate_size, 1),
                        "down": (self.intermediate_size, h, 1)})
        else:
            out.update({"up": (h, self.intermediate_size, 1), "down": (self.intermediate_size, h, 1)})
        return out

    def layer_linear_params(self, active: bool = False) -> int:
        """Weights of the linear projections of one layer (the part QLoRA quantizes), router and shared expert included."""
        total = sum(i * o * n for i, o, n in self.linear_shapes(active).values())
        if self.is_moe:
            total += self.hidden_size * self.num_experts  # router
            if self.shared_expert_intermediate_size:
                total += 3 * self.hidden_size * self.shared_expert_intermediate_size + self.hidden_size
        return total

    def layer_small_params(self) -> int:
        """Biases and norm weights of one layer: kept in 16 bit even when the linears are 4-bit."""
        bias = self.q_dim + 2 * self.kv_dim if self.attention_bias else 0
        return bias + _NORMS[self.norm_layout](self)[0]

    def embedding_params(self) -> int:
        """Input embedding plus an untied lm_head (both stay in 16 bit under QLoRA)."""
        emb = self.vocab_size * self.hidden_size
        return emb if self.tie_word_embeddings else 2 * emb

    def total_params(self) -> int:
        """Exact parameter count (tied weights once), equal to what transformers builds from the same shape."""
        per_layer = self.layer_linear_params() + self.layer_small_params()
        return self.embedding_params() + self.num_layers * per_layer + _NORMS[self.norm_layout](self)[1]

    def active_params(self) -> int:
        """Parameters used per token: MoE counts experts_per_token experts; equals total_params for dense."""
        if not self.is_moe:
            return self.total_params()
        per_layer = self.layer_linear_params(active=True) + self.layer_small_params()
        return self.embedding_params() + self.num_layers * per_layer + _NORMS[self.norm_layout](self)[1]


# ---------------------------------------------------------------- catalog


def _int(text: str) -> int:
    return int(text) if text.strip() else 0


# Attention-score soft capping per catalog family: every Gemma 2 config.json sets attn_logit_softcapping 50.0
# (huggingface.co/google/gemma-2-{2b,9b,27b}; litgpt/config.py Gemma-2 entries attention_logit_softcapping=50.0).
_SOFTCAP_BY_FAMILY = {"Gemma 2": 50.0}


@lru_cache(maxsize=1)
def catalog() -> list[ModelShape]:
    """The shipped catalog (planner/model/model_catalog.csv, a copy of the team's verified shapes table)."""
    text = files("tunecost.planner.model").joinpath("model_catalog.csv").read_text(encoding="utf-8")
    shapes = []
    for row in csv.DictReader(io.StringIO(text)):
        shapes.append(ModelShape(
            name=row["hf_id"],
            hidden_size=int(row["hidden_size"]),
            num_layers=int(row["num_layers"]),
            num_heads=int(row["num_heads"]),
            num_kv_heads=int(row["num_kv_heads"]),
            head_dim=int(row["head_dim"]),
            intermediate_size=int(row["intermediate_size"]),
            vocab_size=int(row["vocab_size"]),
            tie_word_embeddings=row["tie_word_embeddings"].strip().lower() == "true",
            mlp=row["mlp"],
            attention_bias=row["attention_bias"].strip().lower() == "true",
            num_experts=_int(row["num_experts"]),
            experts_per_token=_int(row["experts_per_token"]),
            moe_intermediate_size=_int(row["moe_intermediate_size"]),
            shared_expert_intermediate_size=_int(row["shared_expert_intermediate_size"]),
            max_position_embeddings=_int(row["max_position_embeddings"]) or None,
            published_params_b=float(row["published_params_b"]) if row["published_params_b"] else None,
            norm_layout=row["norm_layout"],
            attn_logit_softcapping=_SOFTCAP_BY_FAMILY.get(row["family"]),
            source=f"catalog: {row['shape_source']}",
        ))
    return shapes


@lru_cache(maxsize=1)
def catalog_computed_params() -> dict[str, int]:
    """hf_id -> the table's own computed_params column (what tests check total_params() against)."""
    text = files("tunecost.planner.model").joinpath("model_catalog.csv").read_text(encoding="utf-8")
    return {row["hf_id"]: int(row["computed_params"]) for row in csv.DictReader(io.StringIO(text))}


_DROP_TOKENS = {"instruct", "chat", "hf", "it", "pt", "base"}


def _alias(name: str) -> str:
    """Normalize a model name so that instruct/chat/base variants map to the base shape they share."""
    tail = name.strip().lower().rstrip("/").split("/")[-1]
    tokens = [t for t in tail.split("-") if t not in _DROP_TOKENS]
    if tokens and tokens[0] == "meta" and len(tokens) > 1:
        tokens = tokens[1:]
    return "-".join(tokens)


@lru_cache(maxsize=1)
def _index() -> dict[str, ModelShape]:
    """Lookup keys: full id, name after '/', and the variant-free alias; ambiguous aliases are dropped."""
    index: dict[str, ModelShape] = {}
    ambiguous: set[str] = set()
    for shape in catalog():
        for key in {shape.name.lower(), shape.name.lower().split("/")[-1], _alias(shape.name)}:
            if key in index and index[key].name != shape.name:
                ambiguous.add(key)
            index.setdefault(key, shape)
    for key in ambiguous:
        del index[key]
    return index


def find_in_catalog(model: str) -> Optional[ModelShape]:
    """Catalog entry for an id, a name after '/', or an obvious variant (Instruct, -hf, -it ...); else None."""
    index = _index()
    for key in (model.strip().lower(), model.strip().lower().split("/")[-1], _alias(model)):
        if key in index:
            return index[key]
    return None


def catalog_spelling(model: str) -> Optional[str]:
    """The catalog's id for a model id typed in another case, or bare ('llama-3.1-8b'); None if it is spelled
    as the catalog spells it, or is no catalog entry. The job downloads the id from the hub, where case counts."""
    found = find_in_catalog(model)
    typed = model.strip()
    if found is None or typed == found.name:
        return None
    same = typed.lower() == found.name.lower() or ("/" not in typed and
                                                    typed.lower() == found.name.split("/")[-1].lower())
    return found.name if same else None


# ---------------------------------------------------------------- config.json

_TIED_BY_DEFAULT = {"gemma", "gemma2", "gemma3", "gemma3_text", "falcon", "qwen3"}
_NORM_BY_TYPE = {
    "gemma2": "pre_post_rms_x4", "gemma3": "pre_post_rms_x4+qk_head", "gemma3_text": "pre_post_rms_x4+qk_head",
    "qwen3": "pre_rms_x2+qk_head", "qwen3_moe": "pre_rms_x2+qk_head", "olmo2": "post_rms_x2+qk_full",
    "falcon": "shared_layernorm_x1",
}


def _whole(cfg: dict, key: str, source: str, default: Optional[int] = None, zero: bool = False) -> int:
    """A positive whole number from config.json (`default` when the key is absent or null); one clear line
    otherwise, so 0 heads or "two" KV heads never reach the arithmetic (a negative layer count priced runs)."""
    value = cfg.get(key)
    if value is None:
        if default is None:
            raise UserError(f"{source}: config.json lacks {key}; is this a decoder-only HF model config?")
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or value < (0 if zero else 1):
        raise UserError(f"{source}: config.json: {key} must be a positive whole number, got {value!r}; fix the "
                        "file or pass --params SIZE")
    return int(value)


def shape_from_config(cfg: dict, source: str) -> ModelShape:
    """Build a shape from HF config keys (Llama/Mistral/Qwen2/3/Gemma/Phi3/Mixtral/Falcon; nested text_config)."""
    if isinstance(cfg.get("text_config"), dict):
        cfg = {**cfg, **cfg["text_config"], "model_type": cfg["text_config"].get("model_type", cfg.get("model_type"))}
    mtype = str(cfg.get("model_type", "")).lower()
    if "vocab_size" not in cfg and mtype.startswith("gemma3"):
        cfg = {**cfg, "vocab_size": 262_208}
    hidden, heads, layers, vocab = (_whole(cfg, key, source) for key in
                                    ("hidden_size", "num_attention_heads", "num_hidden_layers", "vocab_size"))
    kv = _whole(cfg, "num_key_value_heads", source, 1 if cfg.get("multi_query") else heads)
    head_dim = _whole(cfg, "head_dim", source, hidden // heads)
    experts = _whole(cfg, "num_local_experts", source, _whole(cfg, "num_experts", source, 0, zero=True), zero=True)
    inter = _whole(cfg, "intermediate_size", source, _whole(cfg, "ffn_hidden_size", source, 4 * hidden))
    plain = mtype in {"falcon", "gpt2", "gpt_neox", "gpt_bigcode", "opt", "bloom"}
    return ModelShape(
        name=str(cfg.get("_name_or_path") or Path(source).parent.name or "config.json"),
        hidden_size=hidden, num_layers=layers, num_heads=heads, num_kv_heads=int(kv), head_dim=int(head_dim),
        intermediate_size=int(inter), vocab_size=vocab,
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", mtype in _TIED_BY_DEFAULT)),
        mlp="plain" if plain else "gated",
        attention_bias=bool(cfg.get("attention_bias", mtype in {"qwen2", "qwen2_moe"})),
        num_experts=int(experts),
        experts_per_token=int(cfg.get("num_experts_per_tok") or 0) if experts else 0,
        moe_intermediate_size=int(cfg.get("moe_intermediate_size") or inter) if experts else 0,
        shared_expert_intermediate_size=int(cfg.get("shared_expert_intermediate_size") or 0),
        max_position_embeddings=cfg.get("max_position_embeddings"),
        norm_layout=_NORM_BY_TYPE.get(mtype, "pre_rms_x2"),
        attn_logit_softcapping=cfg.get("attn_logit_softcapping"),
        source=f"config.json: {source}",
    )


def _load_config(path: Path) -> ModelShape:
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise UserError(f"no config.json in '{path}'; pass a model id, a path to config.json, or --params 7B")
    try:
        cfg = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read '{file}' as JSON ({err}); pass a valid HF config.json")
    if not isinstance(cfg, dict):
        raise UserError(f"'{file}' is not a JSON object; pass a valid HF config.json")
    return shape_from_config(cfg, str(file))


# ---------------------------------------------------------------- generic

# Llama-family anchors (params_b, hidden, heads, kv_heads): the generic shape borrows width from the nearest one.
_ANCHORS = [(0.5, 1024, 16, 4), (1.2, 2048, 32, 8), (3.2, 3072, 24, 8), (8.0, 4096, 32, 8), (14.0, 5120, 40, 8),
            (32.0, 6144, 48, 8), (70.0, 8192, 64, 8), (405.0, 16384, 128, 8)]
_GENERIC_VOCAB = 128_256


def generic_shape(params_b: float) -> ModelShape:
    """A Llama-3-like dense shape with about params_b billion parameters (width from the nearest anchor)."""
    _, hidden, heads, kv = min(_ANCHORS, key=lambda a: abs(a[0] - params_b) / a[0])
    inter = int(round(hidden * 3.5 / 256)) * 256
    head_dim = hidden // heads
    per_layer = 2 * hidden * hidden + 2 * hidden * kv * head_dim + 3 * hidden * inter + 2 * hidden
    tied = params_b < 4
    emb = _GENERIC_VOCAB * hidden * (1 if tied else 2)
    layers = max(1, round((params_b * 1e9 - emb) / per_layer))
    return ModelShape(
        name=f"generic-{params_b:g}B", hidden_size=hidden, num_layers=layers, num_heads=heads, num_kv_heads=kv,
        head_dim=head_dim, intermediate_size=inter, vocab_size=_GENERIC_VOCAB, tie_word_embeddings=tied,
        mlp="gated", published_params_b=params_b,
        source=f"generic dense shape for --params {params_b:g}B (assumed: Llama-3-like, vocab {_GENERIC_VOCAB}, "
               f"hidden {hidden}, {layers} layers, GQA {kv} KV heads)",
    )


# ---------------------------------------------------------------- resolve


def _looks_like_path(model: str) -> bool:
    return model.endswith(".json") or model.startswith((".", "/", "~")) or Path(model).expanduser().exists()


def resolve_shape(spec: TrainSpec) -> ModelShape:
    """Catalog id/alias, else local config.json (file or folder), else --params; unknown names get suggestions."""
    model = (spec.model or "").strip()
    if model:
        found = find_in_catalog(model)
        if found is not None:
            return found
        if _looks_like_path(model):
            return _load_config(Path(model).expanduser())
    if spec.params_b is not None:
        return generic_shape(spec.params_b)
    names = [s.name for s in catalog()]
    lowered = {n.lower().split("/")[-1]: n for n in names}
    close = difflib.get_close_matches(model.lower().split("/")[-1], list(lowered), n=3, cutoff=0.5)
    hint = ", ".join(lowered[c] for c in close) or ", ".join(names[:3])
    raise UserError(f"unknown model '{model}'; did you mean {hint}? (or pass --params 7B, or a path to config.json)")


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bBmM]?)\s*$")


def parse_params(text: str) -> float:
    """'7B', '7', '135M' -> billions. Helper for the CLI's --params."""
    m = _SIZE.match(text)
    if not m:
        raise UserError(f"--params '{text}' is not a size; write e.g. 7B, 1.5B or 135M")
    value = float(m.group(1))
    return value / 1000 if m.group(2).lower() == "m" else value
