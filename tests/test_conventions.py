"""pet_seg's and the report's conventions: hand-computed evaluation numbers, the config group,
and a tiny run with ``conventions=reference`` and the report's augmentation."""

import json
import warnings
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from tiny import CONF, tiny_overrides
from torch import nn
from torch.utils.data import DataLoader

import pet_seg.training.loop
from pet_seg.augmentation import ReferenceBatchAugment
from pet_seg.run import run
from pet_seg.scoring import score_loader, score_split
from pet_seg.training.conventions import PET_SEG, REFERENCE, Conventions


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides))


class AllPet(nn.Module):
    """Predicts pet everywhere: logit +1 for every pixel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones(x.shape[0], 1, *x.shape[2:])


class MaskMean(nn.Module):
    """A 'loss' equal to the mean of the target, so batch means are easy to compute by hand."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return target.mean()


def test_evaluate_gives_both_averages_by_hand():
    # three 2x2 images: truth all pet (G=4), no pet (G=0), one pixel (G=1); prediction: all pet
    masks = [torch.ones(1, 2, 2), torch.zeros(1, 2, 2), torch.tensor([[[1.0, 0], [0, 0]]])]
    data = [(torch.zeros(3, 2, 2, dtype=torch.uint8), m.to(torch.uint8)) for m in masks]
    loader = DataLoader(data, batch_size=2)  # batches [A, B] and [C]
    result = score_loader(AllPet(), MaskMean(), loader, torch.device("cpu"))
    # per image: Dice 2·4/8 = 1, 0/4 = 0, 2·1/5 = 0.4; loss (pixel mean) (4 + 0 + 1) / 12
    assert result.dice.tolist() == pytest.approx([1.0, 0.0, 0.4])
    assert result.loss == pytest.approx(5 / 12)
    # per batch: [A, B] pools 2·4/(8 + 4) = 2/3, [C] 0.4; losses 0.5 and 0.25
    assert result.dice_per_batch.tolist() == pytest.approx([2 / 3, 0.4])
    assert result.loss_per_batch == pytest.approx((0.5 + 0.25) / 2)
    # the report's ε changes nothing here (no image has empty truth *and* prediction) ...
    eps = score_loader(AllPet(), MaskMean(), loader, torch.device("cpu"), dice_epsilon=1e-8)
    assert eps.dice.tolist() == pytest.approx([1.0, 0.0, 0.4])


def test_report_epsilon_reaches_an_all_empty_evaluation():
    class NoPet(AllPet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return -super().forward(x)

    data = [(torch.zeros(3, 2, 2, dtype=torch.uint8), torch.zeros(1, 2, 2, dtype=torch.uint8))]
    loader = DataLoader(data * 2, batch_size=2)
    ours = score_loader(NoPet(), MaskMean(), loader, torch.device("cpu"))
    report = score_loader(NoPet(), MaskMean(), loader, torch.device("cpu"), dice_epsilon=1e-8)
    assert ours.dice.tolist() == [1.0, 1.0] and ours.dice_per_batch.tolist() == [1.0]
    assert report.dice.tolist() == [0.0, 0.0] and report.dice_per_batch.tolist() == [0.0]


def test_rescoring_applies_the_runs_dice_epsilon():
    """``pet_seg.evaluate`` passes the checkpoint's ``conventions.dice_epsilon`` to this."""

    class NoPet(AllPet):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return -super().forward(x)

    data = [(torch.zeros(3, 2, 2, dtype=torch.uint8), torch.zeros(1, 2, 2, dtype=torch.uint8))]
    cpu = torch.device("cpu")
    assert score_split(NoPet(), data, cpu, 1, progress=False).dice.tolist() == [1.0]
    report = score_split(NoPet(), data, cpu, 1, progress=False, dice_epsilon=1e-8)
    assert report.dice.tolist() == [0.0]


def test_config_group_selects_each_convention_and_names_a_bad_key():
    assert instantiate(_compose().conventions) == PET_SEG
    cfg = _compose(
        "conventions=reference", "augmentation=flip_jitter_reference", "scheduler=plateau"
    )
    assert instantiate(cfg.conventions) == REFERENCE
    assert cfg.scheduler.monitor == "val/loss_per_batch"
    assert isinstance(instantiate(cfg.augmentation), ReferenceBatchAugment)
    with pytest.raises(ValueError, match="conventions.val_dice"):
        Conventions(val_dice="val/dice_pooled")
    with pytest.raises(ValueError, match="conventions.val_loss"):
        Conventions(val_loss="loss")
    with pytest.raises(ValueError, match="conventions.dice_epsilon"):
        Conventions(dice_epsilon=0.0)


def test_report_conventions_run_logs_both_averages_and_picks_by_batch(tmp_path: Path):
    # 36 training images in batches of 5 leave one image: dropped, 7 steps an epoch;
    # 4 validation images in batches of 3: a partial last batch, counted as a whole one.
    cfg = _compose(
        *tiny_overrides(tmp_path / "data", epochs=3),
        "logger=none",
        "conventions=reference",
        "augmentation=flip_jitter_reference",
        "trainer.batch_size=5",
        "trainer.eval_batch_size=3",
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run(cfg, tmp_path / "run", "run")
    assert any("last batch of one image" in str(w.message) for w in caught)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    epochs = [r for r in map(json.loads, lines) if r["kind"] == "epoch"]
    assert [r["step"] for r in epochs] == [7, 14, 21]  # one-cycle spans 21 steps, no error
    for split in ("train", "val"):
        for name in ("loss", "dice", "loss_per_batch", "dice_per_batch"):
            assert all(0 <= r[f"{split}/{name}"] < 10 for r in epochs), f"{split}/{name}"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["conventions"] == {
        "val_dice": "val/dice_per_batch",
        "val_loss": "val/loss_per_batch",
        "dice_epsilon": 1e-8,
        "jitter_masks": True,
    }
    best = max(epochs, key=lambda r: r["val/dice_per_batch"])
    assert summary["best/selected_by"] == "val/dice_per_batch"
    assert summary["best/epoch"] == best["epoch"]
    assert summary["best/val_dice_per_batch"] == best["val/dice_per_batch"]
    assert summary["best/val_dice"] == best["val/dice"]  # per image, at the chosen epoch


# Validation counts per epoch (4 images, batches of 3 and 1), made so that the two averages
# disagree on the best epoch: epoch 1 per image (0.5 + 1 + 0 + 1) / 4 = 0.625, per batch
# (2·7/20 + 1) / 2 = 0.85; epoch 2 per image (1 + 1 + 1 + 0.5) / 4 = 0.875, per batch
# (1 + 0.5) / 2 = 0.75.
VAL_COUNTS = {
    1: [[1, 2, 2], [6, 6, 6], [0, 0, 4], [100, 100, 100]],
    2: [[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 2, 2]],
}


@pytest.mark.parametrize(("conventions", "best_epoch"), [("pet_seg", 2), ("reference", 1)])
def test_the_conventions_choose_which_dice_picks_the_best_epoch(
    conventions, best_epoch, tmp_path, monkeypatch
):
    real, calls = pet_seg.training.loop.score_loader, []

    def scripted(*args, **kwargs):
        result = real(*args, **kwargs)
        if kwargs.get("desc", "eval") == "eval":  # validation, not the final test
            calls.append(1)
            result.counts = torch.tensor(VAL_COUNTS[len(calls)])
        return result

    monkeypatch.setattr(pet_seg.training.loop, "score_loader", scripted)
    cfg = _compose(
        *tiny_overrides(tmp_path / "data", epochs=2),
        "logger=none",
        f"conventions={conventions}",
        "trainer.eval_batch_size=3",
    )
    run(cfg, tmp_path / "run", "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["best/epoch"] == best_epoch
    assert summary["best/val_dice"] == pytest.approx([0.625, 0.875][best_epoch - 1])
    assert summary["best/val_dice_per_batch"] == pytest.approx([0.85, 0.75][best_epoch - 1])
