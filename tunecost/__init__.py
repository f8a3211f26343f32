"""tunecost: what a LoRA/QLoRA fine-tune will cost, where, and how long; then run it there.

This folder is the package's root and nothing else: the subpackages live beside it at the repository's top
(planner/, launcher/, job/, pricing_data/, templates/) and pyproject.toml maps each to `tunecost.<name>`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tunecost")
except PackageNotFoundError:  # pragma: no cover - running from a tree that was never installed
    __version__ = "0+unknown"
