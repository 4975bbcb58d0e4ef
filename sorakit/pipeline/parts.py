"""A model folder's networks, each read (and its weights' sha256 checked) when first needed.

A cold `generate` at the model's own size runs neither cascade refiner: loading them anyway
read and hashed three more networks (about 50 MB for the default model) on every start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping

import torch
from torch import nn


class LazyModels(MutableMapping):
    """name -> model, each made by its loader the first time it is asked for, then moved to
    where the others were sent (`to`). Iterating gives the names; `loaded()` the models
    made so far."""

    def __init__(self, loaders: dict[str, Callable[[], nn.Module]] | None = None):
        self._loaders = dict(loaders or {})
        self._models: dict[str, nn.Module] = {}
        self._device: torch.device | None = None

    @classmethod
    def of(cls, models: MutableMapping | dict | None) -> LazyModels:
        """`models` as they are when already lazy, else a mapping holding them, loaded."""
        if isinstance(models, LazyModels):
            return models
        lazy = cls()
        for name, model in (models or {}).items():
            lazy[name] = model
        return lazy

    def __getitem__(self, name: str) -> nn.Module:
        if name not in self._models:
            model = self._loaders[name]().eval()  # KeyError for an unknown name
            if self._device is not None:
                model.to(self._device)
            self._models[name] = model
        return self._models[name]

    def __contains__(self, name: object) -> bool:
        # Mapping's own `in` calls __getitem__, which would load the model just to ask.
        return name in self._loaders

    def __setitem__(self, name: str, model: nn.Module) -> None:
        self._loaders.setdefault(name, lambda: model)
        self._models[name] = model.eval()

    def __delitem__(self, name: str) -> None:
        del self._loaders[name]
        self._models.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)

    def loaded(self) -> list[nn.Module]:
        return list(self._models.values())

    def to(self, device: torch.device) -> None:
        """These models, and any loaded later, onto `device`."""
        self._device = device
        for model in self._models.values():
            model.to(device)
