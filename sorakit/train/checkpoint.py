"""Resumable training checkpoints: tensors in safetensors, everything else in JSON, no pickle.

A checkpoint is a folder `step-NNNNNNN` holding, for each named module and optimizer, a
`.safetensors` file, plus `state.json` (step, data position, config, optimizer hyper-parameters,
numpy and Python RNG states) and `rng.safetensors` (torch's RNG state). It is written into a
temporary folder and renamed into place, and `state.json` is written last, so a folder without
it is incomplete and never resumed from.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from sorakit.fileio import atomic_folder

STATE_NAME = "state.json"
_STEP_DIR = re.compile(r"^step-(\d{7})$")


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state_dict into tensors (for safetensors) and the JSON-able rest."""
    tensors, scalars = {}, {}
    for index, slots in state["state"].items():
        for name, value in slots.items():
            key = f"{index}.{name}"
            if torch.is_tensor(value):
                tensors[key] = value.detach().contiguous().cpu()
            else:
                scalars[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int | str, dict[str, Any]] = {}
    for key, value in [*tensors.items(), *meta["scalars"].items()]:
        # Keys are "<param index or name>.<slot>": slot names have no dots, parameter names
        # (from distributed full state dicts) do.
        index, name = key.rsplit(".", 1)
        state.setdefault(int(index) if index.isdigit() else index, {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _rng_state() -> tuple[dict, dict[str, torch.Tensor]]:
    py = random.getstate()
    return (
        {"numpy": np.random.get_state(legacy=False), "python": [py[0], list(py[1]), py[2]]},
        {"torch": torch.get_rng_state()},
    )


def _set_rng_state(meta: dict, tensors: dict[str, torch.Tensor]) -> None:
    numpy_state = meta["numpy"]
    numpy_state["state"]["key"] = np.asarray(numpy_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(numpy_state)
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(tensors["torch"])


def _jsonable(value: Any) -> Any:
    return json.loads(
        json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    )


@dataclass
class TrainingState:
    """What a checkpoint restores besides weights: where training was."""

    step: int
    data: dict[str, Any]  # the batch sampler's position
    extra: dict[str, Any]  # anything else the trainer wants back (e.g. running averages)


def save_checkpoint(
    root: Path,
    state: TrainingState,
    modules: dict[str, nn.Module | dict[str, torch.Tensor]],
    optimizers: dict[str, torch.optim.Optimizer | dict[str, Any]],
    config: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write `root/step-NNNNNNN` atomically and keep only the newest `keep` checkpoints.

    Modules and optimizers may be given as objects or as their (full) state dicts."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{state.step:07d}"
    writers: dict[str, Callable[[Path], None]] = {}
    for name, module in modules.items():
        sd = module.state_dict() if isinstance(module, nn.Module) else module
        weights = {k: v.detach().contiguous().cpu() for k, v in sd.items()}
        writers[f"{name}.safetensors"] = lambda p, w=weights: save_file(w, str(p))
    optim_meta = {}
    for name, opt in optimizers.items():
        sd = opt if isinstance(opt, dict) else opt.state_dict()
        tensors, optim_meta[name] = _flatten_optimizer(sd)
        writers[f"optim-{name}.safetensors"] = lambda p, t=tensors: save_file(t, str(p))
    rng_meta, rng_tensors = _rng_state()
    writers["rng.safetensors"] = lambda p: save_file(rng_tensors, str(p))
    payload = {
        "step": state.step,
        "data": state.data,
        "extra": state.extra,
        "config": config,
        "optimizers": optim_meta,
        "rng": rng_meta,
    }
    # Written last: a folder with state.json is complete.
    writers[STATE_NAME] = lambda p: p.write_text(json.dumps(_jsonable(payload)))
    atomic_folder(final, writers)
    for old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old)
    return final


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under `root`, oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and (p / STATE_NAME).exists()]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def load_checkpoint(
    folder: Path,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
) -> tuple[TrainingState, dict[str, Any]]:
    """Restore modules, optimizers and RNGs from `folder`; returns the state and saved config."""
    payload = json.loads((folder / STATE_NAME).read_text())
    for name, module in modules.items():
        module.load_state_dict(load_file(str(folder / f"{name}.safetensors")))
    for name, opt in optimizers.items():
        tensors = load_file(str(folder / f"optim-{name}.safetensors"))
        opt.load_state_dict(_unflatten_optimizer(tensors, payload["optimizers"][name]))
    _set_rng_state(payload["rng"], load_file(str(folder / "rng.safetensors")))
    return TrainingState(payload["step"], payload["data"], payload["extra"]), payload["config"]


def read_checkpoint(
    folder: Path, module_names: list[str], optimizer_names: list[str]
) -> tuple[TrainingState, dict[str, Any], dict[str, dict], dict[str, dict]]:
    """The raw contents of a checkpoint: state, config, module and optimizer state dicts (for
    trainers that load them themselves, e.g. into sharded models). RNGs are left alone."""
    payload = json.loads((folder / STATE_NAME).read_text())
    modules = {n: load_file(str(folder / f"{n}.safetensors")) for n in module_names}
    optims = {
        n: _unflatten_optimizer(
            load_file(str(folder / f"optim-{n}.safetensors")), payload["optimizers"][n]
        )
        for n in optimizer_names
    }
    state = TrainingState(payload["step"], payload["data"], payload["extra"])
    return state, payload["config"], modules, optims


def saved_config(folder: Path) -> dict[str, Any]:
    """The config a checkpoint was written under."""
    return json.loads((folder / STATE_NAME).read_text())["config"]


def changed_settings(
    folder: Path, saved: dict[str, Any], current: dict[str, Any], fixed: tuple[str, ...]
) -> list[str]:
    """What differs between the config a checkpoint was written under and the run resuming it,
    as 'name: old -> new' lines. Some changes are legitimate (more --steps extends a run; the
    schedule then follows the new total); a change to a `fixed` setting (the architecture) is
    a ValueError that names the checkpoint, not a shape mismatch deep in load_state_dict.
    Settings newer than the checkpoint show as changed from '(absent)'."""
    current = _jsonable(current)
    changed = {k: (saved.get(k, "(absent)"), v) for k, v in current.items() if saved.get(k) != v}
    for name in fixed:
        if name in changed:
            old, new = changed[name]
            raise ValueError(
                f"{folder} was trained with {name} {old!r}, not {new!r}: give --{name} {old} "
                "to continue it, or --no-resume / another --out to start a new run"
            )
    return [f"{k}: {old} -> {new}" for k, (old, new) in changed.items()]
