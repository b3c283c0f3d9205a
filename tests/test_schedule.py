"""Schedulers step exactly when the report says: one-cycle per batch, cosine per epoch,
plateau per epoch on the validation loss."""

import math
import warnings
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from pet_seg.training.machinery import build_machinery
from pet_seg.training.schedule import SchedulerSpec, drops_last_batch, trained_per_epoch
from pet_seg.training.settings import TrainerSettings

# The spec is stepped without an optimizer step in between; PyTorch warns about that order.
pytestmark = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")


CONF = Path(__file__).resolve().parents[1] / "conf"


def _spec(
    name: str, epochs: int = 4, lr: float = 1e-3, conventions: str = "pet_seg"
) -> SchedulerSpec:
    cfg = OmegaConf.load(CONF / "scheduler" / f"{name}.yaml")
    root = OmegaConf.create(
        {
            "scheduler": cfg,
            "trainer": {"epochs": epochs},
            "optimizer": {"lr": lr},
            "conventions": OmegaConf.load(CONF / "conventions" / f"{conventions}.yaml"),
        }
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


def test_plateau_watches_the_loss_the_conventions_name():
    assert _spec("plateau").monitor == "val/loss"
    assert _spec("plateau", conventions="reference").monitor == "val/loss_per_batch"


@pytest.mark.parametrize(
    ("images", "batch", "drop", "steps"),
    [
        (3312, 128, False, 26),  # the report's ResNet34-UNet: 25 full + 112 kept = 1300 in 50
        (3312, 32, False, 104),  # UNet: 103 full + 16 kept
        (36, 4, False, 9),  # nothing left over
        (37, 4, True, 9),  # a last batch of one image is dropped
        (36, 5, True, 7),  # 7·5 + 1: dropped again
        (36, 1, False, 36),  # batch 1 leaves no remainder
    ],
)
def test_an_epoch_keeps_the_last_batch_unless_it_holds_one_image(images, batch, drop, steps):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert drops_last_batch(images, batch) is drop
    assert bool(caught) is drop and all("BatchNorm" in str(w.message) for w in caught)
    assert trained_per_epoch(images, batch) == (steps, images - drop)
    loader = DataLoader(range(images), batch_size=batch, drop_last=drop)
    assert len(loader) == steps  # the same count as the loader the run iterates


@pytest.mark.parametrize(("images", "batch", "steps"), [(38, 4, 10), (37, 4, 9)])
def test_onecycle_total_steps_follow_the_training_loader(images, batch, steps):
    data = [(torch.zeros(3, 2, 2, dtype=torch.uint8), torch.zeros(1, 2, 2))] * images
    settings = TrainerSettings(epochs=3, batch_size=batch, device="cpu", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the one-image warning is checked above
        m = build_machinery(
            torch.nn.Conv2d(3, 1, 1),
            lambda params: torch.optim.AdamW(params, lr=1e-3),
            _spec("onecycle", epochs=3),
            {"train": data, "val": data[:2]},
            settings,
            torch.device("cpu"),
        )
    assert len(m.train_loader) == steps
    assert m.scheduler.total_steps == 3 * steps
