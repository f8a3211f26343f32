"""A hyperparameter sweep's grid: `--sweep rank=8,16,32` flags or a `--sweep-file sweep.yaml`, expanded to points.

Each key is a workload flag (its TrainSpec field, so memory and hours follow it) or `learning-rate`, which only
the job reads. Everything is checked before anything is priced or written: an unknown key, an empty list, a bad
value or a grid over MAX_POINTS is one line naming the key and how to fix it.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Callable, Optional

from tunecost.job.numbers import Positive, check
from tunecost.planner.errors import UserError

MAX_POINTS = 256


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a whole number")
    number = int(str(value).strip())
    if number <= 0:
        raise ValueError("a positive whole number")
    return number


def _float(value: Any) -> float:
    return check(value, Positive)  # finite and above 0: `inf`, YAML's .nan and -1 are refused


def _text(value: Any) -> str:
    if isinstance(value, list):  # YAML: targets: [[q, v], all-linear]
        value = ",".join(str(v).strip() for v in value)
    text = str(value).strip()
    if not text:
        raise ValueError("a name")
    return text


# sweep key -> (Workload field, or None for a job-only setting; parser; what a value looks like)
KEYS: dict[str, tuple[Optional[str], Callable[[Any], Any], str]] = {
    "rank": ("rank", _int, "whole numbers, e.g. rank=8,16,32"),
    "alpha": ("alpha", _int, "whole numbers, e.g. alpha=16,32"),
    "targets": ("targets", _text, "target sets, e.g. targets=attention,all-linear (q,v lists: use --sweep-file)"),
    "seq-len": ("seq_len", _int, "whole numbers, e.g. seq-len=1024,2048"),
    "batch": ("batch", _int, "whole numbers, e.g. batch=1,2,4"),
    "grad-accum": ("grad_accum", _int, "whole numbers, e.g. grad-accum=1,4"),
    "epochs": ("epochs", _float, "positive numbers, e.g. epochs=1,2,3"),
    "learning-rate": (None, _float, "positive numbers, e.g. learning-rate=1e-4,2e-4"),
}
JOB_ONLY = {"learning-rate": "learning_rate"}  # sweep key -> the job config key it sets (no effect on the plan)


def _key(raw: str, where: str) -> str:
    key = raw.strip().lower().replace("_", "-")
    if key not in KEYS:
        raise UserError(f"{where}: unknown sweep key {raw.strip()!r} (known: {', '.join(KEYS)})")
    return key


def _values(key: str, raw: list[Any], where: str) -> list[Any]:
    if not raw:
        raise UserError(f"{where}: no values for {key} (give {KEYS[key][2]})")
    parse = KEYS[key][1]
    values = []
    for item in raw:
        try:
            values.append(parse(item))
        except (TypeError, ValueError):
            raise UserError(f"{where}: {key} value {_shown(item)} is not valid (give {KEYS[key][2]})") from None
    return list(dict.fromkeys(values))


def _shown(item: Any) -> str:
    """A refused value as typed, cut short: an error line is one line, whatever the file held."""
    text = repr(str(item).strip())
    return text if len(text) <= 40 else text[:37] + "..."


def _no_aliases_loader() -> Any:
    """PyYAML's safe loader without anchors and aliases: nested aliases expand exponentially (a 350-byte file to
    millions of values, "billion laughs"), and a sweep file never needs them."""
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                raise yaml.YAMLError(f"line {self.peek_event().start_mark.line + 1}: uses an alias (*name); "
                                     "write the values out")
            return super().compose_node(parent, index)

    return Loader


def parse_sweep_flags(flags: list[str]) -> dict[str, list[Any]]:
    """['rank=8,16', 'learning-rate=1e-4,2e-4'] -> {'rank': [8, 16], 'learning-rate': [1e-4, 2e-4]}."""
    axes: dict[str, list[Any]] = {}
    for flag in flags:
        name, sep, rest = flag.partition("=")
        where = f"--sweep {flag}"
        if not sep:
            raise UserError(f"{where}: expected KEY=V1,V2,... (e.g. --sweep rank=8,16,32)")
        key = _key(name, where)
        if key in axes:
            raise UserError(f"{where}: {key} is swept twice; give its values once")
        axes[key] = _values(key, [v for v in rest.split(",") if v.strip()], where)
    return axes


def read_sweep_file(path: Path) -> dict[str, list[Any]]:
    """A YAML mapping of sweep keys to value lists (a single value is a one-point axis)."""
    import yaml

    where = f"--sweep-file {path}"
    try:
        data = yaml.load(Path(path).expanduser().read_text(encoding="utf-8"), Loader=_no_aliases_loader())
    except FileNotFoundError:
        raise UserError(f"{where}: no such file (write a YAML mapping, e.g. 'rank: [8, 16, 32]')") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{where}: cannot read it ({err.__class__.__name__})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        if mark is None and str(err):  # ours: an alias
            raise UserError(f"{where}: {err}") from None
        raise UserError(f"{where}:{line} not valid YAML; write a mapping, e.g. 'rank: [8, 16, 32]'") from None
    if not isinstance(data, dict) or not data:
        raise UserError(f"{where}: expected a mapping of sweep keys to lists, e.g. 'rank: [8, 16, 32]'")
    axes: dict[str, list[Any]] = {}
    for name, raw in data.items():
        key = _key(str(name), where)
        if key in axes:
            raise UserError(f"{where}: {key} is swept twice; give its values once")
        axes[key] = _values(key, raw if isinstance(raw, list) else [raw] if raw is not None else [], where)
    return axes


def sweep_axes(flags: Optional[list[str]], file: Optional[Path]) -> dict[str, list[Any]]:
    """The grid's axes from both sources (a key in both is refused); empty when no sweep was asked for."""
    axes = parse_sweep_flags(list(flags or []))
    if file is not None:
        for key, values in read_sweep_file(file).items():
            if key in axes:
                raise UserError(f"--sweep-file {file}: {key} is also given with --sweep; give it in one place")
            axes[key] = values
    if axes:
        points = 1
        for values in axes.values():
            points *= len(values)
        if points > MAX_POINTS:
            shape = " x ".join(f"{len(v)} {k}" for k, v in axes.items())
            raise UserError(f"--sweep: {shape} is {points:,} points, over the limit of {MAX_POINTS}; "
                            "sweep fewer values or split the sweep")
    return axes


def expand(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination, the first axis slowest: {'rank': [8, 16], 'batch': [1, 2]} -> 4 points; none for {}."""
    if not axes:
        return []
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def job_settings(point: dict[str, Any]) -> dict[str, Any]:
    """The point's job-only settings in job config keys: {'learning-rate': 1e-4} -> {'learning_rate': 1e-4}."""
    return {JOB_ONLY[k]: v for k, v in point.items() if k in JOB_ONLY}


def label(point: dict[str, Any]) -> str:
    """'rank=8 learning-rate=0.0001': how a point is named in tables and reports."""
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items())
