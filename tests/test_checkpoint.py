"""What the checkpoints hold and cost on disk, and the faults around them: a full disk, a NaN
before any checkpoint exists, and jobs of an in-process sweep that must not outlive themselves."""

import csv
import errno
import gc
import io
import json
import os
import weakref
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from hydra import compose, initialize_config_dir
from tiny import CONF, tiny_overrides

import pet_seg.checkpoint
from pet_seg.checkpoint import (
    DiskFullError,
    RunCheckpoints,
    load_checkpoint,
    save_checkpoint,
)
from pet_seg.models import UNet
from pet_seg.report.render.tables import runs_table, write_runs_csv
from pet_seg.report.runs.folder import load_run
from pet_seg.run import run
from pet_seg.run_folder import RunFolder
from pet_seg.training.loop import NonFiniteLossError


def _tiny_cfg(data_root: Path, *extra: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[*tiny_overrides(data_root), "logger=none", *extra])


def _files_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def test_best_holds_the_weights_only_a_third_of_last(tmp_path):
    model = UNet(3, 1, base_channels=16)
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.rand(1, 3, 32, 32)).mean().backward()
    optimizer.step()  # AdamW now holds exp_avg and exp_avg_sq: two more copies of the weights
    ckpt = RunCheckpoints(
        RunFolder(tmp_path),
        model,
        optimizer,
        None,
        torch.amp.GradScaler("cpu", enabled=False),
        extras={"config": {"model": {"base_channels": 16}}, "wandb_run_id": None},
    )
    progress = {"epoch": 1, "step": 1}
    ckpt.save_best(progress)
    ckpt.save_last(progress)

    folder = RunFolder(tmp_path)
    best, last = load_checkpoint(folder.best), load_checkpoint(folder.last)
    assert set(best) == {"model", "config", "progress", "wandb_run_id", "format_version"}
    assert {"optimizer", "scheduler", "scaler", "rng"} <= set(last)
    # fp32 weights: 4 bytes a parameter, plus BatchNorm buffers, plus a little zip overhead
    best_size, last_size = (
        folder.best.stat().st_size,
        folder.last.stat().st_size,
    )
    assert best_size == pytest.approx(4 * params + buffers, rel=0.01)
    assert last_size == pytest.approx(3 * 4 * params + buffers, rel=0.01)
    assert ckpt.last_epoch == 1


def test_finished_run_drops_last_pt_and_records_its_disk_footprint(tmp_path):
    run(_tiny_cfg(tmp_path / "data", "trainer.epochs=1"), tmp_path / "run", "run")
    folder = tmp_path / "run"
    assert not (folder / "checkpoints" / "last.pt").exists()
    best = load_checkpoint(folder / "checkpoints" / "best.pt")
    assert "optimizer" not in best and best["progress"]["epoch"] == 1
    summary = json.loads((folder / "summary.json").read_text())
    # measured just before summary.json was rewritten with this one key more
    added = f',\n  "disk_bytes": {summary["disk_bytes"]}'
    assert summary["disk_bytes"] == _files_bytes(folder) - len(added)
    # and the report's list of runs shows it
    report_run = load_run(folder)
    assert f"| finished | {summary['disk_bytes'] / 1e6:.1f} MB |" in runs_table([report_run])
    write_runs_csv(tmp_path / "runs.csv", [report_run])
    with (tmp_path / "runs.csv").open() as handle:
        (row,) = csv.DictReader(handle)
    assert row["disk_bytes"] == str(summary["disk_bytes"])


def test_save_last_every_and_keep_last(tmp_path, monkeypatch):
    saved = []

    def recording(state, path):
        saved.append((path.name, state["progress"]["epoch"]))
        save_checkpoint(state, path)

    monkeypatch.setattr(pet_seg.checkpoint, "save_checkpoint", recording)
    overrides = ["trainer.epochs=3", "trainer.save_last_every=2", "trainer.keep_last=true"]
    run(_tiny_cfg(tmp_path / "data", *overrides), tmp_path / "run", "run")
    assert [epoch for name, epoch in saved if name == "last.pt"] == [2, 3]  # every 2nd + the end
    last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert last["progress"]["epoch"] == 3 and "optimizer" in last


class FullDisk(io.RawIOBase):
    """A file that takes ``room`` bytes, then fails as a full filesystem does (ENOSPC)."""

    def __init__(self, fd: int, room: int) -> None:
        self.file, self.room = io.FileIO(fd, "wb"), room

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.file.write(data)

    def fileno(self) -> int:
        return self.file.fileno()

    def close(self) -> None:
        self.file.close()
        super().close()


def _fill_disk_after(monkeypatch, good_saves: int, room: int = 64 * 1024) -> None:
    """Let ``good_saves`` checkpoint writes through, then give every later one a full disk."""
    count = {"saves": 0}

    def fdopen(fd, mode="r", *args, **kwargs):
        count["saves"] += 1
        if count["saves"] <= good_saves:
            return open(fd, mode, *args, **kwargs)
        return FullDisk(fd, room)

    monkeypatch.setattr(pet_seg.checkpoint.os, "fdopen", fdopen)


def test_full_disk_says_so_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt" / "best.pt"
    save_checkpoint({"model": {"w": torch.ones(3)}, "config": {}}, path)
    _fill_disk_after(monkeypatch, good_saves=0)
    with pytest.raises(DiskFullError) as info:
        # 1,000,000 fp32 numbers: 4.0 MB
        save_checkpoint({"model": {"w": torch.zeros(1_000_000)}, "config": {}}, path)
    message = str(info.value)
    assert f"the disk holding {path.parent} is full" in message
    assert "needs about 4.0 MB" in message and "no space left on device" in message
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]  # no temp file left


def test_full_disk_mid_run_fails_the_run_with_the_reason(tmp_path, monkeypatch):
    _fill_disk_after(monkeypatch, good_saves=2)  # epoch 1's best.pt and last.pt
    with pytest.raises(DiskFullError, match="is full"):
        run(_tiny_cfg(tmp_path / "data"), tmp_path / "run", "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "failed"
    assert summary["error"].startswith("DiskFullError: no space left on device")
    folder = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["best.pt", "last.pt"]
    assert load_checkpoint(folder / "best.pt")["progress"]["epoch"] == 1
    assert load_checkpoint(folder / "last.pt")["progress"]["epoch"] == 1


class NanOnCall(torch.nn.BCEWithLogitsLoss):
    """BCE that returns NaN on training batch number ``nan_at`` (9 batches an epoch)."""

    nan_at = 0
    calls = 0

    def forward(self, logits, target):
        if logits.requires_grad:
            type(self).calls += 1
            if type(self).calls == self.nan_at:
                return logits.sum() * float("nan")
        return super().forward(logits, target)


@pytest.mark.parametrize(
    ("nan_at", "expected"),
    [
        (3, "epoch 1, step 3; stopping. .* No checkpoint was written: the first epoch had not"),
        (12, "epoch 2, step 12; stopping. .* checkpoints/last.pt holds epoch 1, the last one"),
    ],
)
def test_nan_names_the_checkpoint_a_resume_would_use(nan_at, expected, tmp_path):
    NanOnCall.calls, NanOnCall.nan_at = 0, nan_at
    cfg = _tiny_cfg(tmp_path / "data", "loss._target_=test_checkpoint.NanOnCall")
    with pytest.raises(NonFiniteLossError, match=expected):
        run(cfg, tmp_path / "run", "run")
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file() == (nan_at > 9)


class TrackedUNet(UNet):
    """A UNet that lets the test see whether any instance is still alive."""

    alive: ClassVar[list[weakref.ref]] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        type(self).alive.append(weakref.ref(self))


class TrackedAdamW(torch.optim.AdamW):
    alive: ClassVar[list[weakref.ref]] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        type(self).alive.append(weakref.ref(self))


@pytest.mark.parametrize("outcome", ["finished", "failed"])
def test_a_job_releases_its_model_and_optimizer(outcome, tmp_path):
    """Hydra's basic launcher keeps a failed job's exception until the sweep ends (as
    ``pytest.raises`` does here); neither it nor a finished job may keep the model alive."""
    TrackedUNet.alive, TrackedAdamW.alive = [], []
    NanOnCall.calls, NanOnCall.nan_at = 0, 5 if outcome == "failed" else 0
    cfg = _tiny_cfg(
        tmp_path / "data",
        "trainer.epochs=1",
        "model._target_=test_checkpoint.TrackedUNet",
        "optimizer._target_=test_checkpoint.TrackedAdamW",
        "loss._target_=test_checkpoint.NanOnCall",
    )
    if outcome == "failed":
        with pytest.raises(NonFiniteLossError) as kept:
            run(cfg, tmp_path / "run", "run")
    else:
        run(cfg, tmp_path / "run", "run")
    gc.collect()
    assert len(TrackedUNet.alive) == 1 and len(TrackedAdamW.alive) == 1
    assert TrackedUNet.alive[0]() is None, "the finished job's model is still referenced"
    assert TrackedAdamW.alive[0]() is None, "the finished job's optimizer is still referenced"
    if outcome == "failed":
        assert "step 5" in str(kept.value)  # the exception itself is intact
