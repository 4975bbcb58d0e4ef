"""Saved models: a folder with config.json (the model's config dataclass) and
model.safetensors (its weights), written atomically. No pickle."""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, Field, asdict, fields
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from sorakit.fileio import atomic_folder

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def save_model(folder: str | os.PathLike, config: Any, weights: dict[str, torch.Tensor]) -> None:
    """Write `config` (a dataclass) and `weights` into `folder`, replacing any older version."""
    atomic_folder(
        Path(folder),
        {
            CONFIG_NAME: lambda p: p.write_text(json.dumps(asdict(config), indent=1)),
            WEIGHTS_NAME: lambda p: save_file(
                {k: v.detach().contiguous().cpu() for k, v in weights.items()}, str(p)
            ),
        },
    )


def load_model(cls: type, config_cls: type, folder: str | os.PathLike, what: str):
    """`cls(config)` with its saved weights, in eval mode; ValueError naming `what` if the
    folder is not one. JSON lists become tuples (configs hold tuples)."""
    folder = Path(folder)
    config = read_model_config(config_cls, folder, what)
    try:
        weights = load_file(str(folder / WEIGHTS_NAME))
    except Exception as exc:  # safetensors raises its own error for a truncated or bad file
        raise ValueError(f"{folder / WEIGHTS_NAME}: not readable weights ({exc})") from None
    # Built on the meta device, without initialising weights that are read next, then given
    # the loaded tensors themselves (no copy): a tenth of the time of building it for real.
    with torch.device("meta"):
        model = cls(config)
    try:
        model.load_state_dict(weights, assign=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(f"{folder / WEIGHTS_NAME}: does not fit its config ({first})") from None
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise ValueError(f"{folder / WEIGHTS_NAME}: holds no {left[0]}")
    return model.eval()


def read_model_config(config_cls: type, folder: str | os.PathLike, what: str = "model"):
    """A saved model's config alone (its weights unread); ValueError naming the folder."""
    folder = Path(folder)
    try:
        raw = json.loads((folder / CONFIG_NAME).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{folder}: not a saved sorakit {what} ({exc})") from None
    return parse_config(config_cls, raw, folder / CONFIG_NAME)


def parse_config(config_cls: type, raw: Any, where: Path):
    """`config_cls` from parsed JSON: an object whose keys are its fields (JSON lists become
    tuples); ValueError naming the file and any unknown or invalid field."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: not a JSON object")
    known = {f.name: f for f in fields(config_cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown fields {', '.join(unknown)}")
    for name, value in raw.items():
        kind = _json_kind(known[name])
        if kind is not None and value is not None and not _is_kind(value, kind):
            raise ValueError(f"{where}: {name} must be {kind.__name__}, got {value!r}")
    try:
        return config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


def _json_kind(f: Field) -> type | None:
    """The JSON type a config field holds, by its default (None: not checked)."""
    if f.default is not MISSING:
        default = f.default
    elif f.default_factory is not MISSING:
        default = f.default_factory()
    else:
        return None
    for kind in (bool, int, float, str, tuple, dict):
        if isinstance(default, kind):
            return kind
    return None


def _is_kind(value: Any, kind: type) -> bool:
    if kind is float:  # JSON writes 1.0 as 1
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is tuple:
        return isinstance(value, list | tuple)
    return isinstance(value, kind)
