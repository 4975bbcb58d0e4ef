"""Saved models: a folder with config.json (the model's config dataclass) and
model.safetensors (its weights), written atomically. No pickle."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
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
    try:
        raw = json.loads((folder / CONFIG_NAME).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{folder}: not a saved sorakit {what} ({exc})") from None
    config = config_cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    model = cls(config)
    model.load_state_dict(load_file(str(folder / WEIGHTS_NAME)))
    return model.eval()
