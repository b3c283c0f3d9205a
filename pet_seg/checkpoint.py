"""Checkpoints that survive kills, refuse to execute code, and keep a run folder small.

Writes go to a temporary file in the same folder and are renamed over the old one, so a kill
mid-write (or a full disk) leaves the previous checkpoint intact. Loads use
``weights_only=True``: a checkpoint holds only tensors, numbers, strings and containers, never
pickled objects.

A run keeps two files. ``best.pt`` holds what evaluation and prediction need (weights, config,
progress): AdamW keeps two moments per weight, so leaving the optimizer out makes it a third of
``last.pt``. ``last.pt`` holds everything resume needs and is removed once the run has
finished, when nothing can resume from it any more.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pet_seg.run_folder import RunFolder

FORMAT_VERSION = 1
# errno values that mean "this filesystem has no room left" (EDQUOT: over a user's quota).
DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated or not a pet_seg checkpoint."""


class DiskFullError(CheckpointError):
    """The filesystem ran out of space while a checkpoint was being written."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Atomically write ``state`` to ``path`` (temp file + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            torch.save({**state, "format_version": FORMAT_VERSION}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if _is_disk_full(err):
            # torch reports a short write as "unexpected pos ..." with the ENOSPC buried in
            # its chain; say what happened instead
            raise DiskFullError(_disk_full_message(state, path)) from err
        raise


def _is_disk_full(err: BaseException | None) -> bool:
    """Whether ``err`` or anything in its cause/context chain is a no-space OSError."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError) and err.errno in DISK_FULL:
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


def state_bytes(state: Any) -> int:
    """Bytes of tensor data in a (nested) checkpoint state: close to its size on disk."""
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, Mapping):
        return sum(state_bytes(v) for v in state.values())
    if isinstance(state, list | tuple):
        return sum(state_bytes(v) for v in state)
    return 0


def _megabytes(count: float) -> str:
    return f"{count / 1e6:.1f} MB"


def _disk_full_message(state: dict[str, Any], path: Path) -> str:
    free = shutil.disk_usage(path.parent).free
    return (
        f"no space left on device: the disk holding {path.parent} is full. Writing {path.name} "
        f"needs about {_megabytes(state_bytes(state))} and {_megabytes(free)} is free; the "
        "checkpoints already there are unchanged. Free some space, or put the run on a larger "
        "disk (hydra.run.dir=... / hydra.sweep.dir=...) and continue with trainer.resume=true."
    )


def remove_stale_temp_files(folder: Path) -> None:
    """Delete temp files that a kill during ``save_checkpoint`` left behind (never real ones)."""
    for leftover in Path(folder).glob(".*.pt.*.tmp"):
        leftover.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a pet_seg checkpoint safely, with an error that names the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: {path}. Pass the path of a run's checkpoints/best.pt "
            "or checkpoints/last.pt (e.g. outputs/runs/<name>/<time>/checkpoints/best.pt)."
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {err}. The file is truncated, corrupt or not a "
            "PyTorch checkpoint; use another checkpoint (checkpoints/best.pt or last.pt)."
        ) from err
    missing = {"model", "config"} - set(state) if isinstance(state, dict) else {"model"}
    if missing:
        raise CheckpointError(
            f"{path} is not a pet_seg checkpoint (missing {sorted(missing)}); "
            "expected a file written by `python -m pet_seg.run`."
        )
    return state


def folder_bytes(folder: Path) -> int:
    """Total size of the files under ``folder`` (links not followed): a run's disk footprint."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # removed while we walked
                total += os.lstat(os.path.join(root, name)).st_size
    return total


@dataclass
class RunCheckpoints:
    """What a run's ``best.pt`` and ``last.pt`` hold and when each is written.

    ``last.pt`` is written every ``save_last_every`` epochs, after the last epoch, and on
    Ctrl-C; a hard kill loses the epochs since the last write (resume still ends with the same
    numbers, it only trains them again).
    """

    run: RunFolder
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    extras: Mapping[str, Any] = field(default_factory=dict)  # resolved config, W&B run id
    save_last_every: int = 1
    writes: bool = True  # under torchrun only rank 0 writes
    last_epoch: int | None = None  # finished epochs that last.pt holds; None: no last.pt

    def save_best(self, progress: Mapping[str, Any]) -> None:
        self._save(self.run.best, {"progress": dict(progress)})

    def save_last(self, progress: Mapping[str, Any], partial: dict | None = None) -> None:
        """Everything resume needs; ``partial`` is the position inside an interrupted epoch."""
        resume = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": {"torch": torch.get_rng_state()},
        }
        partial = {"partial": partial} if partial else {}
        self._save(self.run.last, {"progress": dict(progress), **resume, **partial})
        self.last_epoch = int(progress["epoch"])

    def last_due(self, epoch: int, final_epoch: int) -> bool:
        return epoch % self.save_last_every == 0 or epoch == final_epoch

    def _save(self, path: Path, state: dict[str, Any]) -> None:
        if self.writes:
            state = {"model": self.model.state_dict(), **state, **self.extras}
            save_checkpoint(state, path)

    def restore(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """Load ``last.pt``, if any, into the live objects; return its progress and the
        position inside an unfinished epoch (None, None: start from scratch)."""
        remove_stale_temp_files(self.run.checkpoints)
        if not self.run.last.is_file():
            return None, None
        state = load_checkpoint(self.run.last)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng"]["torch"])
        self.last_epoch = int(state["progress"]["epoch"])
        return state["progress"], state.get("partial")

    def kept(self, epoch: int) -> str:
        """What a run stopped in ``epoch`` can be resumed from, for error messages."""
        if self.last_epoch:
            return f"checkpoints/last.pt holds epoch {self.last_epoch}, the last one saved."
        if epoch == 1:
            return "No checkpoint was written: the first epoch had not finished."
        every = self.save_last_every
        return f"No checkpoints/last.pt was written yet (trainer.save_last_every={every})."
