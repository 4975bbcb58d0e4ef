"""Training configs from named presets plus command-line overrides, one way for every trainer."""

from __future__ import annotations

from typing import Any


def from_preset(
    config_cls: type,
    presets: dict[str, dict[str, Any]],
    preset: str,
    models: dict[str, Any],
    overrides: dict[str, Any],
):
    """`config_cls` from `presets[preset]` with the non-None `overrides` on top; the `model`
    field must name one of `models`. Raises ValueError naming the known choices."""
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(presets)}")
    values = {**presets[preset], **{k: v for k, v in overrides.items() if v is not None}}
    model = values.get("model", "world")
    if model not in models:
        raise ValueError(f"unknown model {model!r}; known: {', '.join(models)}")
    return config_cls(**values)
