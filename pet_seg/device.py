"""Which device a job runs on: resolved once, by the entrypoint, and handed to everything else.

``auto`` picks this rank's CUDA device when there is one, then Apple's MPS (Apple silicon),
then the CPU. Under ``torchrun`` each process drives the GPU of its ``LOCAL_RANK``, which is
why the rank is an argument. Other names (``cpu``, ``cuda:1``, ``mps``, ``xpu``) are taken as
given.
"""

from __future__ import annotations

import torch


def mps_available() -> bool:
    """Apple's Metal backend (Apple silicon, macOS 12.3+); False on builds without it."""
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → ``cuda:<local_rank>``, else ``mps``, else ``cpu``; other names as given."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device(f"cuda:{local_rank}")
    if mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(name: str, device: torch.device) -> str:
    """``cpu (trainer.device=auto: no CUDA, no MPS)``: the device and why it was chosen."""
    if name != "auto":
        return f"{device} (trainer.device={name})"
    why = {"cuda": "CUDA found", "mps": "no CUDA, Apple MPS found", "cpu": "no CUDA, no MPS"}
    return f"{device} (trainer.device=auto: {why.get(device.type, 'picked')})"
