"""Process-group plumbing for ``torchrun`` (DistributedDataParallel), inert in a single process.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK; without them every helper here degrades to the
single-process answer, so the training loop has one code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only rank 0 logs, checkpoints and writes results."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def local_rank() -> int:
    """This process's GPU index on its node (torchrun's LOCAL_RANK; 0 in a single process)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def init_world(device_type: str) -> World:
    """Join the process group torchrun describes (NCCL on CUDA, gloo on CPU), if any."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), local_rank())


def sum_across(values: Tensor, world: World) -> Tensor:
    """Element-wise sum of a tensor over all ranks (identity in a single process)."""
    if world.distributed:
        values = values.clone()
        dist.all_reduce(values)
    return values


def gather_rows(rows: Tensor, world: World, total: int) -> Tensor:
    """Undo DistributedSampler's round-robin split: rank r held items r, r + size, …

    Every rank holds the same number of rows (the sampler pads by repeating items), so stacking
    the gathered shards as (size, n, …) and reading them column-major restores dataset order;
    the padding is then cut at ``total``.
    """
    if not world.distributed:
        return rows[:total]
    shards = [torch.empty_like(rows) for _ in range(world.size)]
    dist.all_gather(shards, rows.contiguous())
    return torch.stack(shards, dim=1).flatten(0, 1)[:total]


SINGLE_PROCESS = World()
