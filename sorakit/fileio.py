"""Atomic writes: a reader (or a resumed run) sees the old file or folder or the new one, never
half of one. Everything sorakit saves goes through these two functions."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write` on a temporary sibling of `path` (same suffix), then rename it into place."""
    tmp = path.with_name(f".tmp-{path.name}")
    write(tmp)
    os.replace(tmp, path)


def atomic_folder(folder: Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Write each file of `writers` (in order) into a temporary sibling folder, then swap it in
    for `folder`, replacing any older version."""
    tmp = folder.with_name(f".tmp-{folder.name}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name, write in writers.items():
        write(tmp / name)
    old = folder.with_name(f".old-{folder.name}")
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    if old.exists():
        shutil.rmtree(old)
