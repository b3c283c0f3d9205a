"""Each job of an in-process sweep leaves the process as it found it.

Hydra's basic launcher runs every job of a sweep in one process, so what one job leaves behind
(threads setting, references to its model, GPU cache and peak-memory statistics) would reach
the next one.
"""

from __future__ import annotations

import gc
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from pet_seg.training.settings import TrainerSettings


@contextmanager
def job_scope(settings: TrainerSettings) -> Iterator[None]:
    """Leave the process as the job found it, for the next job of an in-process sweep.

    Hydra's basic launcher runs every job in one process and keeps a failed job's exception
    until the sweep ends; its traceback would keep the job's model, optimizer and loaders (and
    their GPU memory) alive, so the frames the job has left are cleared. The CUDA cache is
    emptied and its peak statistics reset, so each job's peak memory is its own.
    """
    threads = torch.get_num_threads()
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    _release_cuda()
    try:
        yield
    except BaseException as err:
        _clear_finished_frames(err)
        raise
    finally:
        torch.set_num_threads(threads)
        gc.collect()  # models in reference cycles (hooks, compiled graphs) go now, not later
        _release_cuda()


def _release_cuda() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _clear_finished_frames(err: BaseException) -> None:
    """Drop the local variables of the finished frames in ``err``'s tracebacks (and chain)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        traceback.clear_frames(err.__traceback__)  # frames still running are skipped
        err = err.__cause__ or err.__context__
