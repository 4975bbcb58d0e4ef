"""Check a manifest before training: every bad row and every unreadable file, all at once.

Unlike the dataset, which reads only file headers up front, the checker fully decodes each row's
clip, so truncated and corrupt files are found now rather than as skipped samples mid-run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sorakit.data.clip import read_clip, row_info
from sorakit.data.manifest import ManifestRow, read_manifest
from sorakit.data.video import VideoReadError, probe


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest row or its file."""

    row: int  # 1-based line number in the manifest
    path: Path | None  # as in the manifest, relative to its folder; None if the row has none
    message: str


def check_manifest(
    path: str | os.PathLike, on_row: Callable[[], None] | None = None
) -> list[Problem]:
    """Every problem with a manifest's rows and files, in row order; empty when all is well.

    `on_row` is called after each readable row's file is checked (for progress bars).
    Raises ManifestError if the manifest itself cannot be read.
    """
    rows, row_problems = read_manifest(path)
    base = Path(path).absolute().parent
    problems = [Problem(p.row, None, p.message) for p in row_problems]
    for row in rows:
        message = _annotation_outside(row, base) or check_row(row)
        if message is not None:
            problems.append(Problem(row.row, _shown_path(row.path, base), message))
        if on_row is not None:
            on_row()
    return sorted(problems, key=lambda p: p.row)


def check_row(row: ManifestRow) -> str | None:
    """Why the row's clip cannot be used, or None if it decodes."""
    try:
        info = probe(row.path)
        if not info.is_image:
            duration = row_info(row, info).duration
            if row.start is not None and row.start >= duration:
                return f"start {row.start:g}s is beyond the clip end ({duration:.3f}s)"
        read_clip(row, info)  # the whole selected range: truncation shows up only when decoding
    except VideoReadError as exc:
        # The error names the file first; the Problem carries the path on its own.
        return str(exc).removeprefix(f"{row.path}: ")
    return None


def _annotation_outside(row: ManifestRow, base: Path) -> str | None:
    """A row's `annotation` must stay inside the manifest's folder: a manifest is data from
    anywhere, and must not point sorakit at files elsewhere on the machine."""
    annotation = row.extra.get("annotation")
    if not isinstance(annotation, str):
        return None
    target = (base / annotation).resolve()
    if not target.is_relative_to(base.resolve()):
        return f"annotation {annotation!r} is outside the manifest's folder"
    return None


def format_problem(problem: Problem) -> str:
    """One line, e.g. ``row 3: clips/a.mp4: file is empty``."""
    if problem.path is None:
        return f"row {problem.row}: {problem.message}"
    return f"row {problem.row}: {problem.path}: {problem.message}"


def _shown_path(path: Path, base: Path) -> Path:
    """The path as the manifest most likely wrote it: relative to its folder when inside it."""
    try:
        return path.relative_to(base)
    except ValueError:
        return path
