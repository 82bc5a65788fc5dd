"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every file a run writes goes through here, so that a SIGKILL at any moment leaves nothing
half-written behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

# the process's umask, read once at import (reading it means setting it): files written here get
# the permissions a plain open() would give them, not mkstemp's owner-only 0600
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


TMP_SUFFIX = ".lion-tmp"


def sweep(root: Path) -> int:
    """Remove the temporary files that writes cut short by a kill left under `root`; returns
    how many. Only a process that holds the run's lock may call it, so none is being written."""
    found = list(Path(root).rglob(f".*{TMP_SUFFIX}"))
    for path in found:
        path.unlink(missing_ok=True)
    return len(found)


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def replace_dir(staging: Path, final: Path) -> None:
    """Move a fully written folder into place; a half-built one never carries the final name."""
    staging, final = Path(staging), Path(final)
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    _fsync_dir(final.parent)
