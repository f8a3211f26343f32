"""atomic_write(): a file is there whole or not at all, for every writer in tunecost.

A temp file in the target's folder, then a rename: a reader (the launcher polling a run, a resume after a kill,
`tunecost launch` reading a plan) never sees half a file. Stdlib only: the job ships it to the VM, where there is
no launcher, and the launcher imports it from here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def atomic_write(path: Path, text: str, *, durable: bool = False) -> None:
    """Write `text` (UTF-8, newlines as given) to `path` via a unique temp file in its folder and a rename.
    `durable` also flushes it to disk before the rename (a checkpoint's commit marker must survive a power cut).
    Raises OSError, leaving no temp file behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")  # unique: writers may race
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
