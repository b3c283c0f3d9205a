"""Checkpoints that survive kills and refuse to execute code.

Writes go to a temporary file in the same folder and are renamed over the old one, so a kill
mid-write leaves the previous checkpoint intact. Loads use ``weights_only=True``: a checkpoint
holds only tensors, numbers, strings and containers, never pickled objects.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, truncated or not a pet_seg checkpoint."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Atomically write ``state`` to ``path`` (temp file + fsync + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save({**state, "format_version": FORMAT_VERSION}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
