"""tunecost: what a LoRA/QLoRA fine-tune will cost, where, and how long; then run it there."""

__version__ = "0.1.0"
