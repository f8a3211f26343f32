"""LoRA target strings -> the set of projection kinds an adapter is put on.

The memory and speed models only need to know WHICH projections carry adapters (their shapes come from the
ModelShape). The vocabulary ("all-linear", "attention", "mlp", "q,v", "q_proj,v_proj", "qkv_proj" ...) is the
job contract's (tunecost.job.contract), so every word the planner accepts is one the job trains.
"""

from __future__ import annotations

from tunecost.job import contract
from tunecost.planner.errors import UserError

ATTENTION, MLP, ALL_LINEAR, KINDS = contract.ATTENTION, contract.MLP, contract.ALL_LINEAR, contract.KINDS


def parse_targets(targets: str) -> frozenset[str]:
    """Parse a comma/plus separated target list into projection kinds (subset of KINDS)."""
    try:
        return contract.parse_targets(targets)
    except ValueError as exc:
        raise UserError(f"--targets: {exc}") from None
