"""Numeric precision of a run: the names ``trainer.precision`` accepts and their autocast.

Training, evaluation, prediction and the benchmark all run their forward passes under the same
context, so it lives here rather than with any one of them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

PRECISIONS = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """Mixed-precision context for ``precision`` ("32" = plain fp32)."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)
