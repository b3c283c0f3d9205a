"""Numeric precision of a run: the names ``trainer.precision`` accepts and their autocast.

Training, evaluation, prediction and the benchmark all run their forward passes under the same
context, so it lives here rather than with any one of them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext

import torch

PRECISIONS = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
AUTO = "auto"  # resolved per machine by ``resolve_precision``; never reaches autocast
# CPU flags (Linux /proc/cpuinfo names) of a bf16 dot product in hardware: AVX-512 BF16 (Zen 4+,
# Cooper Lake+) or AMX (Sapphire Rapids+). Without them oneDNN emulates bf16 with fp32
# conversions, which is slower than plain fp32.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags from /proc/cpuinfo; empty where there is none (macOS, Windows)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())  # the first core describes them all
    except OSError:
        pass
    return frozenset()


def resolve_precision(
    requested: str, device: torch.device, flags: frozenset[str] | None = None
) -> tuple[str, str]:
    """``(precision, why)``: ``auto`` → bf16-mixed on a CPU with native bf16, else 32.

    Only the CPU is decided here: on other devices ``auto`` keeps fp32, the setting whose
    results are identical across machines. Any other name is returned as given.
    """
    if requested != AUTO:
        return requested, f"trainer.precision={requested}"
    if device.type != "cpu":
        return "32", f"trainer.precision=auto: fp32 on {device.type}"
    native = sorted((cpu_flags() if flags is None else flags) & NATIVE_BF16_FLAGS)
    if native:
        return "bf16-mixed", f"trainer.precision=auto: CPU has native bf16 ({', '.join(native)})"
    return "32", "trainer.precision=auto: CPU has no native bf16 (no avx512_bf16/amx_bf16)"


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


def describe_threads(num_threads: int | None, environ: Mapping[str, str] | None = None) -> str:
    """``1 CPU thread (OMP_NUM_THREADS=1: hydra/launcher=parallel runs jobs side by side)``.

    The thread count is part of a CPU run's arithmetic (oneDNN splits its reductions by it), so
    a run names it beside its precision. Call it inside the job, once its threads are set.
    """
    threads = torch.get_num_threads()
    env = os.environ if environ is None else environ
    if num_threads:
        why = f"trainer.num_threads={num_threads}"
    elif env.get("OMP_NUM_THREADS"):
        why = f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}, as hydra/launcher=parallel sets it"
    else:
        why = "torch's default: one per core"
    return f"{threads} CPU thread{'' if threads == 1 else 's'} ({why})"
