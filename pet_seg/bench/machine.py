"""What a benchmark number depends on: the machine, and the memory a section peaked at."""

from __future__ import annotations

import gc
import os
import platform
import resource
import sys
from typing import Any

import torch


def sync(device: torch.device) -> None:
    """Wait for queued kernels, so a timer measures work done rather than work launched."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak host RSS (and CUDA allocation) inside a ``with`` block.

    ``ru_maxrss`` is a process-lifetime high-water mark; on Linux writing 5 to
    ``/proc/self/clear_refs`` resets it to the current RSS, which makes the peak belong to this
    block (``rss_is_section_peak`` says whether that worked). The current RSS still holds what
    the allocator kept from earlier sections, so later sections read high by that much.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.result: dict[str, Any] = {}

    def __enter__(self) -> PeakMemory:
        gc.collect()  # free the last section's tensors before the peak is reset
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self.reset = True
        except OSError:
            self.reset = False
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        self.result = {
            "peak_rss_mb": round(kib / (1024**2 if sys.platform == "darwin" else 1024), 1),
            "rss_is_section_peak": self.reset,
        }
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device)
            self.result["cuda_max_allocated_mb"] = round(peak / 2**20, 1)


def cpu_model_and_flags() -> tuple[str, set[str]]:
    """The CPU's name and feature flags from /proc/cpuinfo (Linux); platform's name elsewhere."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break  # the first core describes them all
    except OSError:
        pass  # not Linux
    return model, flags


def machine_info(device: torch.device) -> dict[str, Any]:
    """What the numbers depend on: CPU, cores, threads, library versions, accelerator."""
    cpu, flags = cpu_model_and_flags()
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpu_bf16": sorted(flags & {"avx512_bf16", "amx_bf16", "avx_ne_convert"}),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu,
    }
