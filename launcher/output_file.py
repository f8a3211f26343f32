"""Write a user's output file (a plan, a report, the calibration file) whole or not at all, and say in one line
why it cannot be. The writing itself is job/atomic.py's, the one atomic writer."""

from __future__ import annotations

from pathlib import Path

from tunecost.job.atomic import atomic_write
from tunecost.planner.errors import UserError


def check_target(path: Path, option: str) -> Path:
    """Refuse a target that is a folder or lies in no folder, before anything is written (so a command with
    several outputs leaves none half done); returns the expanded path."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name such as {path / 'out.json'}")
    if not path.parent.is_dir():
        what = "is not a folder" if path.parent.exists() else "does not exist"
        raise UserError(f"{option} {path}: {path.parent} {what}; create the folder or pick another path")
    return path


def write_output(path: Path, text: str, option: str) -> None:
    """Write after check_target; `option` names the flag (--save, --out) in the error line.

    A regular file (or a new one) is replaced atomically; through a symlink, its target is (the link stays, as
    `echo > link` leaves it). Anything else that exists (/dev/stdout, a FIFO, a terminal) is written into: a
    rename over it would replace the device node itself, which root may do."""
    path = check_target(path, option)
    try:
        if path.exists() and not path.is_file():
            with path.open("w", encoding="utf-8", newline="") as out:
                out.write(text)
        else:
            target = path.resolve()
            check_target(target, option)  # a link into a missing folder is one line, like a path would be
            atomic_write(target, text)
    except OSError as err:
        raise UserError(f"{option} {path}: cannot write in {path.parent} ({err.strerror}); pick a writable "
                        "folder") from None
