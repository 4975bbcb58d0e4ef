"""Atomic writes: a reader (or a resumed run) sees the old file or folder or the new one, never
half of one. Everything sorakit saves goes through these two functions.

Temporary names are unique (`tempfile`), so two writers of one path never share one: the last
rename wins whole, and neither fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else 0o022."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write` on a new temporary sibling of `path` (same suffix, so writers that pick a
    format by it still do), then rename it into place; on failure nothing is left behind. The
    file gets the permissions a plain `open` would give it (temporary files are private)."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".tmp-{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_folder(folder: Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Write each file of `writers` (in order) into a new temporary sibling folder, then swap it
    in for `folder`, replacing any older version. The folder gets the permissions `mkdir`
    would give it."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-", dir=folder.parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        for name, write in writers.items():
            write(tmp / name)
        old = Path(tempfile.mkdtemp(prefix=f".old-{folder.name}-", dir=folder.parent))
        if folder.exists():
            os.replace(folder, old)  # an empty folder is replaced whole
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
