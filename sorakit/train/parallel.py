"""Distributed training, applied from outside the model in this one place.

`torchrun --nproc_per_node N sorakit train ... --parallel ddp|fsdp` starts N processes;
`init_distributed` joins them (NCCL on GPUs, gloo on CPUs), `parallelize` wraps the model
(DDP: replicated weights, averaged gradients; FSDP2: each transformer block and the root sharded
with `fully_shard`), and `full_state` / `load_full_state` move weights and optimizer state
between any of these layouts and one full, unsharded copy, which is what checkpoints hold. A
checkpoint written under one layout resumes under another.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.checkpoint import checkpoint

MODES = ("none", "ddp", "fsdp")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the process group torchrun describes in the environment; one process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return DistInfo(device="cuda" if torch.cuda.is_available() else "cpu")
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return DistInfo(rank, world, local, f"cuda:{local}" if cuda else "cpu")


def shutdown_distributed() -> None:
    """Leave the process group, if joined, while the interpreter is fully alive: gloo's worker
    threads can still hold work with tensors in it, and freeing those during interpreter
    finalization aborts the process (SIGABRT, "terminate called without an active exception")."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def apply_block_options(
    model: nn.Module, checkpoint_activations: bool = False, compile_blocks: bool = False
) -> None:
    """Per transformer block, in place and leaving the state dict's names as they are:
    recompute its activations in the backward pass instead of keeping them (memory for
    compute), and compile it with `torch.compile`."""
    for block in getattr(model, "blocks", []):
        if compile_blocks:
            block.compile()
        if checkpoint_activations:
            inner = block.forward
            block.forward = functools.partial(checkpoint, inner, use_reentrant=False)


def parallelize(
    model: nn.Module, mode: str, info: DistInfo, param_dtype: torch.dtype | None = None
) -> nn.Module:
    """The model as the training loop should call it under `mode` (none, ddp or fsdp). Under
    FSDP2 with a `param_dtype` other than fp32, each block computes with parameters in that
    dtype and reduces gradients in fp32 (`MixedPrecisionPolicy`)."""
    if mode not in MODES:
        raise ValueError(f"unknown parallel mode {mode!r}; use one of {', '.join(MODES)}")
    if mode == "none" or info.world_size == 1 and mode == "ddp":
        return model
    if mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [info.local_rank] if info.device.startswith("cuda") else None
        return DistributedDataParallel(model, device_ids=device_ids)
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy()
    if param_dtype is not None and param_dtype != torch.float32:
        policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    for block in getattr(model, "blocks", []):
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a DDP wrapper (FSDP2 shards in place: nothing to unwrap)."""
    return getattr(model, "module", model)


def full_state(
    model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Full (unsharded, CPU) model and optimizer state dicts, keyed by parameter name. A
    collective under FSDP: call it on every rank."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    inner = unwrap(model)
    return (
        get_model_state_dict(inner, options=options),
        get_optimizer_state_dict(inner, optimizer, options=options),
    )


def load_full_state(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    model_state: dict[str, torch.Tensor],
    optim_state: dict[str, Any],
) -> None:
    """Load full state dicts into a model and optimizer of any layout (every rank calls it)."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True)
    inner = unwrap(model)
    set_model_state_dict(inner, model_state, options=options)
    set_optimizer_state_dict(inner, optimizer, optim_state, options=options)


def local_tensor(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of a parameter (FSDP2 parameters are DTensors)."""
    return t.to_local() if hasattr(t, "to_local") else t


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """The whole of a parameter on every rank (a collective for DTensors)."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def mean_over_ranks(value: float, info: DistInfo) -> float:
    if info.world_size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)  # NCCL needs CUDA tensors
    dist.all_reduce(t)
    return float(t.item()) / info.world_size
