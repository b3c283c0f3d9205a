"""Which device a job runs on: resolved once, by the entrypoint, and handed to everything else.

``auto`` picks this rank's CUDA device when there is one, else the CPU. Under ``torchrun`` each
process drives the GPU of its ``LOCAL_RANK``, which is why the rank is an argument.
"""

from __future__ import annotations

import torch


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` → ``cuda:<local_rank>`` if CUDA is available, else ``cpu``; other names as given."""
    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
