"""The plan is the whole contract: a backend reads what the planner decided (the fallback order, the quote for this
machine) and never plans or estimates again.

WHY: a backend that estimates again answers a different question from the plan's (the local peak was once
computed twice, and the fallback policy lived in a backend). Read from the source with `ast`, lazy imports too.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the planner's deciding and estimating functions: `plan` and `launch` call them (commands/), backends never do
PLANNING = {"optimize", "price_sweep", "unpriced_sweep", "plan_fallbacks", "plan_local", "quote_local",
            "estimate_memory", "estimate_speed", "local_run_hours", "resolve_shape", "estimate"}


def planning_imports(source: str) -> list[str]:
    """`module.name` for each planner function of PLANNING this source imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tunecost.planner"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name in PLANNING]
    return found


def test_no_backend_plans_or_estimates():
    found = {str(p.relative_to(ROOT)): planning_imports(p.read_text(encoding="utf-8"))
             for p in sorted((ROOT / "launcher" / "backends").glob("*.py"))}
    found = {path: names for path, names in found.items() if names}
    assert not found, f"backends that plan (move it to the planner; put what they need in the plan): {found}"


def test_the_check_sees_a_lazy_planning_import():
    source = ("from tunecost.planner.plan import Plan\n"
              "def f():\n    from tunecost.planner.model.memory import estimate_memory, MemoryEstimate\n")
    assert planning_imports(source) == ["tunecost.planner.model.memory.estimate_memory"]
