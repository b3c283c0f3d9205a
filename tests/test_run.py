"""The headline command as a user runs it, and what a run leaves on disk."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from tiny import CONF, tiny_overrides

from pet_seg.checkpoint import load_checkpoint
from pet_seg.run import run
from pet_seg.tracking import start_wandb
from pet_seg.training.loop import NonFiniteLossError

REPO = Path(__file__).resolve().parents[1]
EPOCH_KEYS = {"epoch", "step", "lr", "train/loss", "train/dice", "val/loss", "val/dice"}
STEP_KEYS = {"epoch", "step", "step/train_loss", "step/train_dice", "step/lr"}


def _records(run_dir: Path, kind: str) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


@pytest.fixture(scope="module")
def headline_sweep(tmp_path_factory) -> Path:
    """`python -m pet_seg.run -m model=unet,resnet34_unet scheduler=cosine,onecycle` + tiny data."""
    tmp = tmp_path_factory.mktemp("headline")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    command = [
        sys.executable,
        "-m",
        "pet_seg.run",
        "-m",
        "model=unet,resnet34_unet",
        "scheduler=cosine,onecycle",
        *tiny_overrides(tmp / "data"),
        f"hydra.sweep.dir={tmp / 'sweep'}",
    ]
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return tmp / "sweep"


@pytest.mark.slow
def test_headline_sweep_makes_four_complete_runs(headline_sweep):
    jobs = sorted(p for p in headline_sweep.iterdir() if p.is_dir() and p.name != "report")
    assert [j.name for j in jobs] == ["0", "1", "2", "3"]
    assert (headline_sweep / "report" / "report.md").is_file()  # the base config's callback
    names = set()
    for job in jobs:
        for file in [
            "config.yaml",
            ".hydra/overrides.yaml",
            "checkpoints/best.pt",
        ]:
            assert (job / file).is_file(), f"{job / file} missing"
        assert not (job / "checkpoints" / "last.pt").exists()  # a finished run needs no resume
        summary = json.loads((job / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["epochs"] == 2
        names.add(summary["name"])
        epochs = _records(job, "epoch")
        assert [r["epoch"] for r in epochs] == [1, 2]
        assert all(set(r) >= EPOCH_KEYS for r in epochs)
        steps = _records(job, "step")
        assert len(steps) == 2 * (36 // 4) and all(set(r) >= STEP_KEYS for r in steps)
        with (job / "test_results.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 12 and all(0 <= float(r["dice"]) <= 1 for r in rows)
    assert names == {
        f"model={m}, scheduler={s}"
        for m in ("unet", "resnet34_unet")
        for s in ("cosine", "onecycle")
    }


@pytest.mark.slow
def test_headline_sweep_is_one_wandb_group_of_four_offline_runs(headline_sweep):
    group = f"default-{headline_sweep.name}"
    for job in sorted(p for p in headline_sweep.iterdir() if p.is_dir() and p.name.isdigit()):
        (offline_run,) = (job / "wandb").glob("offline-run-*")
        (log,) = offline_run.glob("run-*.wandb")
        data = log.read_bytes()
        assert group.encode() in data, f"{log} is not in W&B group {group}"
        # the run name is the swept overrides, the id is stored in the checkpoint for resuming
        assert json.loads((job / "summary.json").read_text())["name"].encode() in data
        # per-image test table and validation images with truth/prediction mask overlays
        assert list(offline_run.glob("files/media/table/test/per_image_*.table.json"))
        assert len(list(offline_run.glob("files/media/images/val/samples_*.png"))) == 4  # 4 val
        assert list(offline_run.glob("files/media/images/mask/val/samples_*.mask.png"))


def _tiny_cfg(data_root: Path, *extra: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[*tiny_overrides(data_root), "logger=none", *extra])


def _numbers(run_dir: Path) -> list[dict]:
    """Every metric record without the wall-clock ones."""
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [
        {k: v for k, v in json.loads(line).items() if not k.startswith("time/")} for line in lines
    ]


def test_same_seed_gives_the_same_metrics_and_another_seed_does_not(tmp_path):
    for name, seed in [("a", 0), ("b", 0), ("c", 1)]:
        run(_tiny_cfg(tmp_path / "data", f"trainer.seed={seed}"), tmp_path / name, name)
    assert _numbers(tmp_path / "a") == _numbers(tmp_path / "b")
    assert _numbers(tmp_path / "a") != _numbers(tmp_path / "c")
    assert (tmp_path / "a" / "test_results.csv").read_text() == (
        tmp_path / "b" / "test_results.csv"
    ).read_text()


def test_best_checkpoint_is_the_best_validation_epoch(tmp_path):
    run(_tiny_cfg(tmp_path / "data", "trainer.epochs=3"), tmp_path / "run", "run")
    epochs = _records(tmp_path / "run", "epoch")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    best = max(epochs, key=lambda r: r["val/dice"])
    assert summary["best/epoch"] == best["epoch"] and summary["best/val_dice"] == best["val/dice"]
    with (tmp_path / "run" / "test_results.csv").open() as handle:
        dice = [float(r["dice"]) for r in csv.DictReader(handle)]
    assert summary["test/dice_mean"] == pytest.approx(sum(dice) / len(dice), abs=1e-6)


class NanOnTrainingCall(torch.nn.BCEWithLogitsLoss):
    """BCE that returns NaN on the 12th training batch (epoch 2, batch 3 of 9)."""

    calls = 0

    def forward(self, logits, target):
        if logits.requires_grad:
            type(self).calls += 1
            if type(self).calls == 12:
                return logits.sum() * float("nan")
        return super().forward(logits, target)


@pytest.mark.parametrize("mode", ["stop", "skip"])
def test_non_finite_loss_stops_naming_the_step_or_skips_the_batch(mode, tmp_path):
    NanOnTrainingCall.calls = 0
    cfg = _tiny_cfg(
        tmp_path / "data", f"trainer.nonfinite={mode}", "loss._target_=test_run.NanOnTrainingCall"
    )
    if mode == "stop":
        with pytest.raises(NonFiniteLossError, match="epoch 2, step 12"):
            run(cfg, tmp_path / "run", "run")
        summary = json.loads((tmp_path / "run" / "summary.json").read_text())
        assert summary["status"] == "failed" and "step 12" in summary["error"]
        last = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
        assert last["progress"]["epoch"] == 1  # the last good epoch is kept
    else:
        run(cfg, tmp_path / "run", "run")
        warnings = _records(tmp_path / "run", "warning")
        assert len(warnings) == 1 and "step 12" in warnings[0]["message"]
        assert len(_records(tmp_path / "run", "step")) == 17


def test_wandb_online_without_credentials_falls_back_to_offline(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))  # no saved login
    monkeypatch.setenv("WANDB_SILENT", "true")
    with pytest.warns(UserWarning, match="W&B init failed in mode='online'"):
        wandb_run = start_wandb(
            tmp_path, "name", {"a": 1}, project="pet_seg", mode="online", group="g"
        )
    try:
        assert wandb_run.settings.mode == "offline" and wandb_run.group == "g"
    finally:
        wandb_run.finish()
    assert list((tmp_path / "wandb").glob("offline-run-*"))
