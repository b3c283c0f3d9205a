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


def precision_problem(device: torch.device, precision: str) -> str | None:
    """Why ``precision`` cannot train on ``device``, with what to use instead; None if it can.

    torch's autocast takes fp16 on CPU and MPS too, but fp16 gradients need loss scaling, which
    pet_seg's machinery turns on for CUDA only; unscaled they underflow to zero.
    """
    if precision == "32":
        return None
    kind = device.type
    if not torch.amp.is_autocast_available(kind):
        return f"trainer.precision={precision} has no autocast on {kind}; use trainer.precision=32"
    if precision == "16-mixed" and kind != "cuda":
        return (
            f"trainer.precision=16-mixed needs a CUDA GPU (fp16 gradients are loss-scaled only "
            f"there); on {kind} use trainer.precision=bf16-mixed or trainer.precision=32"
        )
    if precision == "bf16-mixed" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        return (
            f"trainer.precision=bf16-mixed: {torch.cuda.get_device_name(device)} has no bfloat16; "
            "use trainer.precision=16-mixed or trainer.precision=32"
        )
    if precision == "bf16-mixed" and kind == "mps" and not _macos_14():
        return (
            "trainer.precision=bf16-mixed needs macOS 14 or later on MPS; use trainer.precision=32"
        )
    return None


def _macos_14() -> bool:
    """Whether MPS runs bfloat16 here (macOS 14+)."""
    check = getattr(torch.backends.mps, "is_macos_or_newer", None)
    return bool(check is not None and check(14, 0))
