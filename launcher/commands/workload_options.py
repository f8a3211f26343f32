"""The workload flags shared by `plan`, `estimate` and `launch`, declared once, and the TrainSpec they build.

A command opts in with `@workload_options` and receives one `Workload` argument instead of twenty flags; so the
three commands cannot drift apart, and every bad value is refused in one place, named by its flag.
"""

from __future__ import annotations

import copy
import functools
import inspect
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from pydantic import ValidationError

from tunecost.job.numbers import MAX_LORA_ALPHA
from tunecost.planner.model.dataset_size import CHARS_PER_TOKEN, MAX_TOKENS, dataset_size
from tunecost.planner.errors import UserError
from tunecost.planner.spec import Framework, LossKernel, Method, Optimizer, Precision, TrainSpec

_D = {name: f.default for name, f in TrainSpec.model_fields.items()}
PANEL = "Workload"

DEMO_DATASET = "demo"  # --dataset demo: the job's demo data (job/demo_data.jsonl), unless a file of that name is here


def dataset_file(dataset: Optional[Path]) -> Optional[Path]:
    """The file --dataset names: 'demo' is the job's shipped demo data (the job reads 'demo' so too, job/data.py),
    so `plan`, `estimate` and `launch` count the same rows the local run trains on."""
    if dataset is not None and str(dataset) == DEMO_DATASET and not dataset.is_file():
        from importlib.resources import files

        return Path(str(files("tunecost.job").joinpath("demo_data.jsonl")))
    return dataset


# Flag names where they differ from the TrainSpec field, for error messages.
FLAG_OF_FIELD = {"micro_batch": "--batch", "params_b": "--params", "dataset": "--tokens"}
OPTION_OF_FIELD = {"micro_batch": "batch", "params_b": "params"}  # Workload field that sets a TrainSpec field


@dataclass(frozen=True)
class Workload:
    """The raw workload flags, as typed; `to_spec()` checks them and builds the TrainSpec."""

    model: Optional[str] = None
    params: Optional[str] = None
    method: Method = _D["method"]
    rank: int = _D["rank"]
    alpha: Optional[int] = None
    targets: str = _D["targets"]
    virtual_tokens: int = _D["virtual_tokens"]
    seq_len: int = _D["seq_len"]
    batch: int = _D["micro_batch"]
    grad_accum: int = _D["grad_accum"]
    gradient_checkpointing: bool = _D["gradient_checkpointing"]
    optimizer: Optimizer = _D["optimizer"]
    precision: Precision = _D["precision"]
    dataset: Optional[Path] = None
    tokens: Optional[int] = None
    examples: Optional[int] = None
    avg_tokens: Optional[int] = None
    chars_per_token: Optional[float] = None  # None: the model's tokenizer when it is here, else CHARS_PER_TOKEN
    epochs: float = _D["epochs"]
    packing: bool = _D["packing"]
    framework: Framework = _D["framework"]
    loss_kernel: Optional[LossKernel] = None
    config: Optional[Path] = None
    flags_given: frozenset[str] = frozenset()  # the flags typed on the command line (they override --config)

    @property
    def given(self) -> bool:
        """True when the user named a model, a size or a config (launch may take a plan.json instead)."""
        return bool(self.model) or self.params is not None or self.config is not None

    def flagged(self, field: str) -> bool:
        """Whether the flag that sets this TrainSpec field was typed (it overrides --config)."""
        return OPTION_OF_FIELD.get(field, field) in self.flags_given

    def config_read(self) -> Any:
        """What --config says (planner/configs), or None without --config."""
        if self.config is None:
            return None
        from tunecost.planner.configs import read_config

        return read_config(self.config.expanduser())

    def _from_config(self, values: dict[str, Any]) -> None:
        """Fill values from --config wherever the matching flag was not typed; the framework follows the file."""
        read = self.config_read()
        if read is None:
            return
        for field, value in read.fields.items():
            if not self.flagged(field):
                values[field] = value
        if "params" in self.flags_given and "model" not in self.flags_given:
            values["model"] = None
        if "framework" not in self.flags_given:
            values["framework"] = read.framework()

    def to_spec(self) -> TrainSpec:
        """Check every flag and build the TrainSpec; a bad value becomes one UserError naming its flag."""
        from tunecost.planner.model.shapes import parse_params

        size = dataset_size(dataset=dataset_file(self.dataset), tokens=self.tokens, examples=self.examples,
                            avg_tokens=self.avg_tokens, chars_per_token=self.chars_per_token,
                            seq_len=None if self.packing else self.seq_len, model=self.model)
        values: dict[str, Any] = dict(
            model=self.model, params_b=parse_params(self.params) if self.params is not None else None,
            method=self.method, rank=self.rank, alpha=self.alpha, targets=self.targets,
            virtual_tokens=self.virtual_tokens, seq_len=self.seq_len, micro_batch=self.batch,
            grad_accum=self.grad_accum, gradient_checkpointing=self.gradient_checkpointing,
            optimizer=self.optimizer, precision=self.precision, epochs=self.epochs, packing=self.packing,
            framework=self.framework, loss_kernel=self.loss_kernel)
        self._from_config(values)
        if values.get("loss_kernel") is not None and values["framework"] is Framework.tunecost:
            values["loss_kernel"] = None  # the bundled job always runs its own loss (job/loss.py)
        if size is not None:
            values["dataset"] = size
        try:
            return TrainSpec(**values)
        except ValidationError as err:
            raise _flag_error(err) from None


def _flag_error(err: ValidationError) -> UserError:
    first = err.errors()[0]
    loc = [str(p) for p in first.get("loc", ())]
    if not loc:  # a model-level rule, e.g. neither --model nor --params
        return UserError(first.get("msg", "invalid workload").removeprefix("Value error, "))
    flag = FLAG_OF_FIELD.get(loc[0], "--" + loc[0].replace("_", "-"))
    value = first.get("input")
    shown = f" (got {value!r})" if value is not None and not isinstance(value, dict) else ""
    return UserError(f"{flag}: {first.get('msg', 'invalid value').lower()}{shown}")


def _option(default: Any, *decls: str, help: str, **kw: Any) -> Any:
    return typer.Option(default, *decls, help=help, rich_help_panel=PANEL, **kw)


OPTIONS: dict[str, tuple[Any, Any]] = {  # name -> (annotation, typer.Option)
    "model": (Optional[str], _option(None, "--model", help="HF model id from the catalog, or a path to a "
                                     "config.json (or its folder)")),
    "params": (Optional[str], _option(None, "--params", help="Model size when not in the catalog: 7B, 1.5B, 135M")),
    "method": (Method, _option(_D["method"], "--method", help="Fine-tuning method")),
    "rank": (int, _option(_D["rank"], "--rank", help="LoRA rank")),
    "alpha": (Optional[int], _option(None, "--alpha", min=1, max=MAX_LORA_ALPHA,
                                     help="LoRA alpha [default: 2 x rank]")),
    "targets": (str, _option(_D["targets"], "--targets", help="LoRA target modules: all-linear, attention, "
                             "or q,k,v,o,gate,up,down")),
    "virtual_tokens": (int, _option(_D["virtual_tokens"], "--virtual-tokens", help="Prompt-tuning tokens")),
    "seq_len": (int, _option(_D["seq_len"], "--seq-len", help="Sequence length in tokens")),
    "batch": (int, _option(_D["micro_batch"], "--batch", help="Micro batch per GPU")),
    "grad_accum": (int, _option(_D["grad_accum"], "--grad-accum", help="Gradient accumulation steps")),
    "gradient_checkpointing": (bool, _option(_D["gradient_checkpointing"],
                                             "--gradient-checkpointing/--no-gradient-checkpointing",
                                             help="Recompute activations in backward (less memory, ~1/3 slower)")),
    "optimizer": (Optimizer, _option(_D["optimizer"], "--optimizer", help="Optimizer")),
    "precision": (Precision, _option(_D["precision"], "--precision", help="Compute precision")),
    "dataset": (Optional[Path], _option(None, "--dataset", help="JSONL training file to count tokens from (with the "
                                        "model's tokenizer when it is on this machine); 'demo' is the job's demo "
                                        "data")),
    "tokens": (Optional[int], _option(None, "--tokens", help="Training tokens per epoch [default: 10M]")),
    "examples": (Optional[int], _option(None, "--examples", min=1, max=MAX_TOKENS,
                                        help="Number of examples (with --avg-tokens)")),
    "avg_tokens": (Optional[int], _option(None, "--avg-tokens", min=1, max=MAX_TOKENS,
                                          help="Average tokens per example")),
    "chars_per_token": (Optional[float], _option(None, "--chars-per-token",
                                                 help="Count --dataset at this many characters per token instead of "
                                                 "with the model's tokenizer [default: the tokenizer when it is on "
                                                 f"this machine, else {CHARS_PER_TOKEN:g}]")),
    "epochs": (float, _option(_D["epochs"], "--epochs", help="Passes over the dataset")),
    "packing": (bool, _option(_D["packing"], "--packing/--no-packing",
                              help="Pack examples into full sequences (else each is cut at --seq-len)")),
    "framework": (Framework, _option(_D["framework"], "--framework", help="Training stack to estimate for; "
                                     "`launch` runs only tunecost's own job")),
    "loss_kernel": (Optional[LossKernel], _option(None, "--loss-kernel", help="Loss kernel of the stack: torch "
                                                  "(full logits), cce (Cut Cross Entropy), liger, chunked "
                                                  "[default: the framework's]")),
    "config": (Optional[Path], _option(None, "--config", help="Your training config (axolotl, torchtune, litgpt "
                                       "YAML, or HF TrainingArguments / SFTConfig JSON/YAML): its settings become "
                                       "the workload; flags given beside it override it")),
}
assert set(OPTIONS) | {"flags_given"} == {f.name for f in fields(Workload)}, "every Workload field needs a flag"


CONTEXT = "workload_context"  # typer passes the click context to a parameter annotated typer.Context


def _typed(ctx: Any, name: str) -> bool:
    """Was this flag typed on the command line (not left at its default)? Flags typed beside --config win."""
    source = ctx.get_parameter_source(name) if ctx is not None else None
    return source is not None and source.name != "DEFAULT"


def workload_options(command: Optional[Callable[..., Any]] = None, **helps: str) -> Any:
    """Decorator: add the workload flags to a typer command and pass them in as `workload: Workload`.

    `@workload_options(dataset="...")` gives a flag this command's own help text (what it does with the flag)."""
    if command is None:
        return functools.partial(workload_options, **helps)
    unknown = set(helps) - set(OPTIONS)
    assert not unknown, f"no workload flags {unknown}"
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "workload"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=_own_help(option, helps.get(name)),
                               annotation=annotation)
             for name, (annotation, option) in OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        ctx = kwargs.pop(CONTEXT)
        typed = frozenset(name for name in OPTIONS if _typed(ctx, name))
        workload = Workload(**{name: kwargs.pop(name) for name in OPTIONS}, flags_given=typed)
        return command(workload=workload, **kwargs)

    added.append(inspect.Parameter(CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context))
    params = added + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]  # workload panel first in --help
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # typer must see the new signature, not the wrapped one
    return wrapper


def _own_help(option: Any, help: Optional[str]) -> Any:
    """A copy of the shared option with this command's help text (the shared one is left as it is)."""
    if help is None:
        return option
    own = copy.copy(option)
    own.help = help
    return own
