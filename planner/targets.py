"""LoRA target strings -> the set of projection kinds an adapter is put on.

The memory and speed models only need to know WHICH projections carry adapters (their shapes come from the
ModelShape), so every spelling users type ("all-linear", "attention", "q,v", "q_proj,v_proj", "qkv_proj")
is normalized here, once.
"""

from __future__ import annotations

from tunecost.planner.errors import UserError

ATTENTION = ("q", "k", "v", "o")
MLP = ("gate", "up", "down")
ALL_LINEAR = ATTENTION + MLP  # PEFT "all-linear" skips lm_head
KINDS = ALL_LINEAR + ("lm_head",)

_ALIASES = {
    "q": ("q",), "q_proj": ("q",), "query": ("q",),
    "k": ("k",), "k_proj": ("k",), "key": ("k",),
    "v": ("v",), "v_proj": ("v",), "value": ("v",),
    "o": ("o",), "o_proj": ("o",), "out_proj": ("o",), "dense": ("o",), "output_proj": ("o",), "proj": ("o",),
    "gate": ("gate",), "gate_proj": ("gate",), "w1": ("gate",),
    "up": ("up",), "up_proj": ("up",), "w3": ("up",),
    "down": ("down",), "down_proj": ("down",), "w2": ("down",),
    "qkv": ("q", "k", "v"), "qkv_proj": ("q", "k", "v"), "query_key_value": ("q", "k", "v"),
    "gate_up_proj": ("gate", "up"),
    "lm_head": ("lm_head",), "output": ("lm_head",),
    "mlp": MLP,
    "attention": ATTENTION, "attn": ATTENTION,
    "all-linear": ALL_LINEAR, "all_linear": ALL_LINEAR, "all": ALL_LINEAR,
}


def parse_targets(targets: str) -> frozenset[str]:
    """Parse a comma/plus separated target list into projection kinds (subset of KINDS)."""
    kinds: set[str] = set()
    parts = [p.strip().lower() for p in targets.replace("+", ",").split(",")]
    for part in filter(None, parts):
        if part not in _ALIASES:
            raise UserError(
                f"unknown LoRA target '{part}' in --targets '{targets}'; use all-linear, attention, "
                "or names like q,k,v,o,gate,up,down (q_proj, ... also work)"
            )
        kinds.update(_ALIASES[part])
    if not kinds:
        raise UserError("--targets is empty; use all-linear, attention, or e.g. q,v")
    return frozenset(kinds)
