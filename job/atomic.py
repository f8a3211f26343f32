"""atomic_write(): a file is there whole or not at all, for every writer in tunecost.

A temp file in the target's folder, then a rename: a reader (the launcher polling a run, a resume after a kill,
`tunecost launch` reading a plan) never sees half a file. Stdlib only: the job ships it to the VM, where there is
no launcher, and the launcher imports it from here.

A writer killed between the temp file and the rename (SIGKILL, OOM, power) leaves `.NAME.PID.HEX.tmp` behind;
the next write of NAME sweeps those whose writer PID is gone (sweep_temps), never a live writer's.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Optional

TEMP = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp")


def temp_name(path: Path) -> Path:
    """`.NAME.PID.HEX.tmp` beside `path`: unique (writers may race) and naming its writer, so it can be swept."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists here (another user's counts: we may not signal it, it is alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temps(folder: Path, name: Optional[str] = None) -> list[Path]:
    """Remove the temp files of dead writers in `folder` (of target `name` only, when given); returns them.

    WHY the pid: a temp file is a live writer's until its process is gone, however old it is (a 300 MB write
    takes a while); a reused pid only keeps a dead writer's file a little longer."""
    swept = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return swept
    for entry in entries:
        found = TEMP.fullmatch(entry.name)
        if not found or (name is not None and found["name"] != name) or pid_alive(int(found["pid"])):
            continue
        try:
            os.unlink(entry.path)
            swept.append(Path(entry.path))
        except OSError:  # a sibling swept it first, or the folder is read-only: not ours to fail on
            pass
    return swept


def atomic_write(path: Path, text: str, *, durable: bool = False) -> None:
    """Write `text` (UTF-8, newlines as given) to `path` via a unique temp file in its folder and a rename.
    `durable` also flushes it to disk before the rename (a checkpoint's commit marker must survive a power cut).
    Raises OSError, leaving no temp file behind."""
    path = Path(path)
    sweep_temps(path.parent, path.name)
    tmp = temp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask's mode, as open() gives (not 0600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
