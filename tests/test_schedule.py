"""Schedulers step exactly when the report says: one-cycle per batch, cosine per epoch,
plateau per epoch on the validation loss."""

import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from pet_seg.schedule import SchedulerSpec

# The spec is stepped without an optimizer step in between; PyTorch warns about that order.
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")


def _spec(name: str, epochs: int = 4, lr: float = 1e-3) -> SchedulerSpec:
    cfg = OmegaConf.load(
        Path(__file__).resolve().parents[1] / "conf" / "scheduler" / f"{name}.yaml"
    )
    root = OmegaConf.create(
        {"scheduler": cfg, "trainer": {"epochs": epochs}, "optimizer": {"lr": lr}}
    )
    return instantiate(root.scheduler)


def _optimizer(lr: float = 1e-3) -> torch.optim.Optimizer:
    return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_cosine_steps_once_per_epoch():
    spec, optimizer = _spec("cosine"), _optimizer()
    scheduler = spec.build(optimizer, total_steps=40)
    lrs = []
    for _ in range(4):
        lrs.append(optimizer.param_groups[0]["lr"])
        for _ in range(10):
            spec.after_batch(scheduler)  # must not move a per-epoch schedule
        spec.after_epoch(scheduler, {"val/loss": 1.0})
    expected = [1e-3 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert lrs == pytest.approx(expected)


def test_onecycle_steps_per_batch_and_peaks_at_lr():
    spec, optimizer = _spec("onecycle"), _optimizer()
    scheduler = spec.build(optimizer, total_steps=20)
    lrs = []
    for _ in range(20):
        lrs.append(optimizer.param_groups[0]["lr"])
        spec.after_batch(scheduler)
    spec.after_epoch(scheduler, {})  # a no-op for per-step schedules
    assert lrs[0] == pytest.approx(1e-3 / 25)  # OneCycleLR's default div_factor
    assert max(lrs) == pytest.approx(1e-3)
    assert lrs.index(max(lrs)) == 1  # pct_start 0.1 of 20 steps → peak after 2 steps (index 1)
    assert lrs[-1] < 1e-5


def test_plateau_reduces_after_patience_on_val_loss():
    spec, optimizer = _spec("plateau"), _optimizer()
    scheduler = spec.build(optimizer, total_steps=0)
    for _ in range(4):  # first sets the best, then 3 epochs without improvement = patience
        spec.after_epoch(scheduler, {"val/loss": 1.0})
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    spec.after_epoch(scheduler, {"val/loss": 1.0})
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)
    with pytest.raises(KeyError, match="val/loss"):
        spec.after_epoch(scheduler, {"train/loss": 1.0})


def test_none_keeps_the_rate_and_interval_is_validated():
    assert _spec("none").build(_optimizer(), total_steps=10) is None
    with pytest.raises(ValueError, match="scheduler.interval"):
        SchedulerSpec(interval="batch")
