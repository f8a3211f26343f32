"""UserError: bad input that the CLI turns into one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

from pydantic import ValidationError


class UserError(Exception):
    """Something the user can fix: what is wrong, where, and how to fix it, in one line."""


def from_validation(err: ValidationError, where: str = "input") -> UserError:
    """Turn pydantic's multi-line report into one line naming the first bad field."""
    first = err.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or where
    value = first.get("input")
    shown = f" (got {value!r})" if value is not None and not isinstance(value, dict) else ""
    return UserError(f"{where}: {field}: {first.get('msg', 'invalid value')}{shown}")
