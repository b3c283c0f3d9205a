"""The study axes beyond the report (issue 12): loss, batch size + lr rule, pretrained encoder.

Each experiment runs end to end as a user types it (``python -m pet_seg.run -m experiment=X``)
on tiny synthetic data, its sweep narrowed by command-line overrides, and ends in a report whose
rows are labelled by the swept key. Nothing is downloaded: the pretrained sweep finds its
"ImageNet" file (a seeded random resnet34) already in a temporary torch hub cache.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from test_models import write_fake_imagenet_weights
from tiny import CONF, tiny_overrides

from pet_seg.report.runs.folder import Run
from pet_seg.report.runs.labels import assign_labels
from pet_seg.run import with_batch_scaled_lr
from pet_seg.training.settings import TrainerSettings, batch_scaled_lr

REPO = Path(__file__).resolve().parents[1]


def _compose(*overrides: str, hydra: bool = False):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


# ---- the learning-rate rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "batch", "lr"),
    [
        ("keep", 128, 1e-3),
        ("linear", 128, 4e-3),  # 1e-3 · 128/32
        ("linear", 16, 5e-4),  # 1e-3 · 16/32
        ("sqrt", 128, 2e-3),  # 1e-3 · √4
        ("sqrt", 8, 5e-4),  # 1e-3 · √(1/4)
    ],
)
def test_lr_rule_by_hand(rule, batch, lr):
    settings = TrainerSettings(batch_size=batch, lr_rule=rule, lr_reference_batch_size=32)
    assert batch_scaled_lr(1e-3, settings) == pytest.approx(lr, rel=1e-12)


def test_lr_rule_errors_name_the_key():
    with pytest.raises(ValueError, match=r"trainer.lr_rule='cube'.*keep"):
        TrainerSettings(lr_rule="cube")
    with pytest.raises(ValueError, match="trainer.lr_reference_batch_size"):
        TrainerSettings(lr_reference_batch_size=0)


def test_scaled_lr_reaches_optimizer_and_one_cycle_peak():
    cfg = _compose(
        "scheduler=onecycle", "trainer.batch_size=128", "trainer.lr_rule=sqrt", "trainer.epochs=2"
    )
    scaled = with_batch_scaled_lr(cfg, instantiate(cfg.trainer))
    assert cfg.optimizer.lr == 1e-3  # the composed config is left alone
    assert scaled.optimizer.lr == pytest.approx(2e-3)
    optimizer = instantiate(scaled.optimizer)([torch.nn.Parameter(torch.zeros(1))])
    instantiate(scaled.scheduler).build(optimizer, total_steps=100)  # OneCycleLR sets max_lr
    assert optimizer.param_groups[0]["max_lr"] == pytest.approx(2e-3)  # ${optimizer.lr} followed


def test_keep_is_the_default_and_changes_nothing():
    cfg = _compose("model=resnet34_unet")
    assert (cfg.trainer.lr_rule, cfg.trainer.lr_reference_batch_size) == ("keep", 32)
    assert with_batch_scaled_lr(cfg, instantiate(cfg.trainer)) is cfg


# ---- the experiments compose as ready sweeps ---------------------------------------------------


@pytest.mark.parametrize(
    ("experiment", "params"),
    [
        ("loss_ablation", {"model": "unet,resnet34_unet", "loss": "bce,dice,bce_dice"}),
        ("batch_size", {"model": "unet,resnet34_unet", "trainer.batch_size": "16,32,64,128"}),
        ("pretrained", {"model.weights": "IMAGENET1K_V1,null"}),
    ],
)
def test_experiments_sweep_their_question(experiment, params):
    cfg = _compose(f"experiment={experiment}", hydra=True)
    assert cfg.name == experiment
    assert dict(cfg.hydra.sweeper.params) == params
    assert "report" in cfg.hydra.callbacks
    assert cfg.trainer.epochs == 50  # same total epochs for every arm


def test_batch_size_sweep_overrides_the_models_batch():
    # model=resnet34_unet sets batch 128; the swept value is applied after it and wins
    cfg = _compose("experiment=batch_size", "model=resnet34_unet", "trainer.batch_size=16")
    assert cfg.trainer.batch_size == 16


def _run(overrides: list[str], choices: dict[str, str], name: str) -> Run:
    config = {"name": "loss_ablation", "trainer": {"seed": 0}}
    return Run(Path(name), overrides, config, choices, None, {}, "finished", "", [], [])


def test_loss_overrides_label_report_rows_like_any_group():
    # a run that leaves the loss at its default is labelled by the recorded group choice
    runs = [
        _run(["model=unet", "loss=dice"], {"model": "unet", "loss": "dice"}, "0"),
        _run(["model=unet", "loss=bce_dice"], {"model": "unet", "loss": "bce_dice"}, "1"),
        _run(["model=unet"], {"model": "unet", "loss": "bce"}, "2"),
    ]
    assert assign_labels(runs) == ["loss"]
    assert [r.label for r in runs] == ["loss=dice", "loss=bce_dice", "loss=bce"]


# ---- end to end: python -m pet_seg.run -m experiment=X, narrowed, ending in its report ---------


def _sweep(out: Path, overrides: list[str], env: dict[str, str] | None = None) -> Path:
    command = [sys.executable, "-m", "pet_seg.run", "-m", *overrides, f"hydra.sweep.dir={out}"]
    env = {**os.environ, "WANDB_MODE": "offline", **(env or {})}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return out


def _tiny(data_root: Path, *extra: str, narrow: bool = True) -> list[str]:
    """tiny_overrides at 1 epoch, no W&B, one thread; ``narrow`` keeps model.base_channels=4."""
    base = [o for o in tiny_overrides(data_root, epochs=1) if narrow or "base_channels" not in o]
    return [*base, "logger=none", "trainer.num_threads=1", *extra]


def _report_rows(sweep: Path) -> dict[str, dict[str, str]]:
    with (sweep / "report" / "report.csv").open(newline="") as handle:
        return {row["label"]: row for row in csv.DictReader(handle)}


def _jobs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


@pytest.mark.slow
def test_loss_ablation_end_to_end(tmp_path):
    sweep = _sweep(
        tmp_path / "sweep", ["experiment=loss_ablation", "model=unet", *_tiny(tmp_path / "data")]
    )
    rows = _report_rows(sweep)
    assert set(rows) == {"loss=bce", "loss=dice", "loss=bce_dice"}
    assert all(row["status"] == "finished" for row in rows.values())
    losses = {json.loads((job / "summary.json").read_text())["loss"] for job in _jobs(sweep)}
    assert losses == {
        "torch.nn.BCEWithLogitsLoss",
        "pet_seg.losses.SoftDiceLoss",
        "pet_seg.losses.BCEDiceLoss",
    }


@pytest.mark.slow
def test_batch_size_end_to_end_scales_lr_and_reports_steps(tmp_path):
    # 36 training images (40 trainval, every 10th is validation): 9 or 3 full batches.
    # Cosine runs epoch 1 at the full lr, so the scaled lr shows in the first step.
    overrides = [
        "experiment=batch_size",
        "model=unet",
        "scheduler=cosine",
        *_tiny(tmp_path / "data"),
        "trainer.batch_size=4,12",
        "trainer.lr_rule=linear",
        "trainer.lr_reference_batch_size=4",
    ]
    sweep = _sweep(tmp_path / "sweep", overrides)
    rows = _report_rows(sweep)
    assert {label: row["steps"] for label, row in rows.items()} == {
        "trainer.batch_size=4": "9",
        "trainer.batch_size=12": "3",
    }
    assert "| steps |" in (sweep / "report" / "report.md").read_text()
    for job in _jobs(sweep):
        config = yaml.safe_load((job / "config.yaml").read_text())
        lr = 1e-3 * config["trainer"]["batch_size"] / 4  # linear from the reference batch 4
        assert config["optimizer"]["lr"] == pytest.approx(lr)
        first = json.loads((job / "metrics.jsonl").read_text().splitlines()[0])
        assert first["step/lr"] == pytest.approx(lr)  # cosine: epoch 1 runs at the full lr
        assert json.loads((job / "summary.json").read_text())["lr"] == pytest.approx(lr)


@pytest.mark.slow
def test_pretrained_end_to_end_records_the_encoder_source(tmp_path):
    torch_home = tmp_path / "torch"
    write_fake_imagenet_weights(torch_home)
    # any download attempt would fail at once instead of reaching for the network
    no_net = {"TORCH_HOME": str(torch_home), "https_proxy": "http://127.0.0.1:9"}
    no_net["HTTPS_PROXY"] = no_net["https_proxy"]
    overrides = [
        "experiment=pretrained",
        *_tiny(tmp_path / "data", narrow=False),
        "trainer.batch_size=12",
    ]
    sweep = _sweep(tmp_path / "sweep", overrides, env=no_net)
    assert set(_report_rows(sweep)) == {"model.weights=IMAGENET1K_V1", "model.weights=null"}
    summaries = [json.loads((job / "summary.json").read_text()) for job in _jobs(sweep)]
    assert {s["encoder_weights"] for s in summaries} == {
        "torchvision ResNet34_Weights.IMAGENET1K_V1",
        "untrained",
    }
    assert all(s["status"] == "finished" and s["params"] == 38_313_889 for s in summaries)


def test_pretrained_checkpoint_reloads_without_the_weights_file(tmp_path, monkeypatch):
    """evaluate/predict rebuild the model from the checkpoint: no ImageNet fetch, no network."""
    from urllib.error import URLError

    import torchvision.models._api as tv_api

    from pet_seg.checkpoint import save_checkpoint
    from pet_seg.models import PretrainedResNet34UNet
    from pet_seg.trained_model import load_model

    def offline(url, *args, **kwargs):
        raise URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", offline)
    model = PretrainedResNet34UNet(weights=None)
    config = {"model": {"_target_": "pet_seg.models.PretrainedResNet34UNet", "weights": "DEFAULT"}}
    save_checkpoint({"model": model.state_dict(), "config": config}, tmp_path / "best.pt")
    loaded, _ = load_model(tmp_path / "best.pt")
    assert torch.equal(loaded.encoder.stem[0].weight, model.encoder.stem[0].weight)
