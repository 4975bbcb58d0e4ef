"""Training configs from named presets plus command-line overrides, one way for every trainer.

A preset is a whole typed config (its `data`/`manifest` and `out` left empty): what it sets is
checked when it is defined, not when someone first picks it.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, TypeVar

C = TypeVar("C")


def from_preset(presets: dict[str, C], preset: str, models: dict[str, Any], overrides: dict) -> C:
    """`presets[preset]` with the non-None `overrides` on top; its `model` field must name one
    of `models` (aliases included). Raises ValueError naming the known choices or the unknown
    settings."""
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(presets)}")
    base = presets[preset]
    values = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(values) - {f.name for f in fields(base)})
    if unknown:
        raise ValueError(f"unknown training settings: {', '.join(unknown)}")
    config = replace(base, **values)
    if config.model not in models:
        raise ValueError(f"unknown model {config.model!r}; known: {', '.join(models)}")
    return config
