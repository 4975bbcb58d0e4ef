"""Manifests: the list of clips a dataset is made of, one row per clip.

Two formats are read:

* JSONL (``.jsonl``): one JSON object per line; blank lines are ignored.
* CSV (``.csv``): a header row naming at least ``path`` and ``caption``; ``fps``, ``start`` and
  ``end`` columns are optional and an empty cell means "not given".

Every row needs ``path`` and ``caption``. ``fps`` overrides the frame rate the file declares
(for files muxed at a wrong rate), ``start`` / ``end`` select seconds of the clip. Any other key
(``width``, ``num_frames``, ``annotation``, ...) is kept untouched in ``ManifestRow.extra``.

A bad row never raises: it becomes a ``ManifestProblem`` so one typo cannot stop a run over
millions of rows, and a checker can report every bad row at once. Only a manifest that cannot be
read at all raises ``ManifestError``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CORE_KEYS = ("path", "caption", "fps", "start", "end")


class ManifestError(RuntimeError):
    """The manifest file as a whole cannot be read or written; the message is one line."""


@dataclass(frozen=True)
class ManifestProblem:
    """A row that was left out of the manifest, and why."""

    row: int  # 1-based line number in the manifest file
    message: str


@dataclass
class ManifestRow:
    """One clip. ``path`` is absolute: relative paths are taken from the manifest's folder."""

    path: Path
    caption: str
    fps: float | None = None
    start: float | None = None
    end: float | None = None
    row: int = 0  # 1-based line number in the manifest file (the CSV header is line 1)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The row as a manifest record: core keys that are set, then the extra keys."""
        record: dict[str, Any] = {"path": str(self.path), "caption": self.caption}
        for key in ("fps", "start", "end"):
            if getattr(self, key) is not None:
                record[key] = getattr(self, key)
        return {**record, **self.extra}


def read_manifest(path: str | os.PathLike) -> tuple[list[ManifestRow], list[ManifestProblem]]:
    """Read a ``.jsonl`` or ``.csv`` manifest into good rows and problems with bad rows.

    Raises ManifestError for an unknown suffix, a missing or unreadable file, or a CSV header
    without ``path`` and ``caption``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise ManifestError(f"{path}: unknown manifest type {suffix!r}; use .jsonl or .csv")
    try:
        # newline="" lets the csv module see quoted newlines; it is harmless for JSONL.
        with path.open(encoding="utf-8", newline="") as f:
            text = f.read()
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read manifest ({exc})") from exc
    records = _jsonl_records(text) if suffix == ".jsonl" else _csv_records(text, path)

    # Relative paths are relative to the manifest, so a dataset folder can be moved as a whole.
    base = path.absolute().parent
    rows: list[ManifestRow] = []
    problems: list[ManifestProblem] = []
    for line, record in records:
        if isinstance(record, str):  # the record could not even be parsed
            problems.append(ManifestProblem(line, record))
            continue
        try:
            rows.append(_parse_row(record, line, base))
        except ValueError as exc:
            problems.append(ManifestProblem(line, str(exc)))
    return rows, problems


def write_manifest(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write records as JSONL, atomically: readers see the old file or the new one, never half.

    ``Path`` values are written as strings. Raises ManifestError unless ``path`` ends in
    ``.jsonl``.
    """
    path = Path(path)
    if path.suffix.lower() != ".jsonl":
        raise ManifestError(f"{path}: write_manifest writes JSONL; name the file *.jsonl")
    # The temp file sits next to the target so os.replace is a same-filesystem rename.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for record in rows:
                f.write(json.dumps(dict(record), ensure_ascii=False, default=_json_default))
                f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: object) -> str:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot write {type(value).__name__} to a manifest: {value!r}")


def _jsonl_records(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, record) pairs; a record that is a str is the reason it could not parse."""
    # Split on "\n" only: str.splitlines would also split inside captions holding U+2028 etc.
    for line, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield line, f"invalid JSON ({exc.msg} at column {exc.colno})"
            continue
        if not isinstance(record, dict):
            yield line, f"expected a JSON object, got {type(record).__name__}"
            continue
        yield line, record


def _csv_records(text: str, path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or not {"path", "caption"} <= {h.strip() for h in header}:
        raise ManifestError(f"{path}: CSV header must name at least 'path' and 'caption'")
    header = [h.strip() for h in header]
    line = reader.line_num + 1  # a record may span lines (quoted newlines): track where it starts
    for cells in reader:
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            yield start, f"expected {len(header)} CSV cells, got {len(cells)}"
            continue
        record: dict[str, Any] = dict(zip(header, cells, strict=True))
        for key in ("fps", "start", "end"):
            if record.get(key, "").strip() == "":  # empty cell: not given
                record.pop(key, None)
        yield start, record


def _parse_row(record: dict[str, Any], line: int, base: Path) -> ManifestRow:
    """Validate one record; raises ValueError with a one-line reason."""
    raw_path = record.get("path")
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise ValueError("missing or empty 'path'")
    caption = record.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError("missing or empty 'caption'")
    fps = _optional_number(record, "fps")
    start = _optional_number(record, "start")
    end = _optional_number(record, "end")
    if fps is not None and fps <= 0:
        raise ValueError(f"'fps' must be positive, got {fps}")
    if start is not None and start < 0:
        raise ValueError(f"'start' must not be negative, got {start}")
    if end is not None and end <= (start or 0.0):
        raise ValueError(f"'end' ({end}) must be after 'start' ({start or 0.0})")
    extra = {key: value for key, value in record.items() if key not in CORE_KEYS}
    return ManifestRow(
        path=base / raw_path.strip(),  # an absolute raw path replaces base
        caption=caption,
        fps=fps,
        start=start,
        end=end,
        row=line,
        extra=extra,
    )


def _optional_number(record: dict[str, Any], key: str) -> float | None:
    value = record.get(key)
    if value is None:
        return None
    # bool is an int subclass; `"fps": true` is a mistake, not 1 fps.
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"'{key}' must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"'{key}' must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"'{key}' must be finite, got {value!r}")
    return number
