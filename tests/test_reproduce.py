"""experiment=reproduce (issue 16): the report's six runs, its plan, its numbers beside ours.

The sweep's jobs are expanded as Hydra's basic sweeper does and each is composed with the real
conf/ and checked against the report's recipe; the plan's arithmetic and the claims' verdicts
are checked on hand-made numbers; one demo-scale sweep on the shipped real pets runs end to end
and must leave the plan and the side-by-side report on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from test_config import AUGMENT_OFF, AUGMENT_ON, COSINE, ONECYCLE, assert_report_recipe
from tiny import CONF, tiny_overrides

from pet_seg.plan import PlanCallback, sweep_jobs
from pet_seg.plan_cost import Speed, estimate_minutes, split_sizes
from pet_seg.report.reference.claims import BetterTestDice, ValidationLossRises
from pet_seg.report.reference.reproduce import load_reference, runs_by_name, table1
from pet_seg.report.runs.folder import Run

REPO = Path(__file__).resolve().parents[1]
# The report's six runs, by its own names: (model, scheduler, augmentation).
SIX = {
    "unet-data-cosine": ("pet_seg.models.UNet", COSINE, AUGMENT_ON),
    "unet-cosine-1e-3": ("pet_seg.models.UNet", COSINE, AUGMENT_OFF),
    "unet-data-onecycle": ("pet_seg.models.UNet", ONECYCLE, AUGMENT_ON),
    "resnet-data-cosine": ("pet_seg.models.ResNet34UNet", COSINE, AUGMENT_ON),
    "resnet-cosine-1e-3": ("pet_seg.models.ResNet34UNet", COSINE, AUGMENT_OFF),
    "resnet-data-onecycle": ("pet_seg.models.ResNet34UNet", ONECYCLE, AUGMENT_ON),
}


def _jobs(*overrides: str) -> tuple[list[list[str]], list, Any]:
    """The sweep's jobs as the basic sweeper expands them, and each job's composed config."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration("config", list(overrides), RunMode.MULTIRUN)
        jobs = sweep_jobs(master)
        return jobs, [compose("config", overrides=job) for job in jobs], master


def _name(job: list[str]) -> str:
    return next(item.split("=", 1)[1] for item in job if item.startswith("reproduce="))


def test_the_sweep_is_the_reports_six_runs_at_its_recipe():
    jobs, configs, master = _jobs("experiment=reproduce")
    assert sorted(map(_name, jobs)) == sorted(SIX)  # each once, nothing else
    for job, cfg in zip(jobs, configs, strict=True):
        model, scheduler, augment = SIX[_name(job)]
        assert cfg.model._target_ == model
        assert_report_recipe(cfg, scheduler, augment)  # lr/wd, batch by model, 50 epochs, 256 px
    assert set(master.hydra.callbacks) == {"preflight", "plan", "report"}  # all the base config's


def test_conventions_report_is_the_exact_reproduction():
    """One switch gives the report's computation: its averaging and, where it augmented, jitter."""
    jobs, configs, _ = _jobs("experiment=reproduce", "conventions=reference")
    for job, cfg in zip(jobs, configs, strict=True):
        assert cfg.conventions.val_dice == "val/dice_per_batch"
        assert cfg.conventions.dice_epsilon == pytest.approx(1e-8)
        augmented = SIX[_name(job)][2] == AUGMENT_ON
        assert augmented == bool(cfg.augmentation.get("jitter_masks")), _name(job)
        assert augmented == cfg.augmentation._target_.endswith("ReferenceBatchAugment")
    _, configs, _ = _jobs("experiment=reproduce")  # pet_seg's conventions: binary masks
    assert not any(cfg.augmentation.get("jitter_masks") for cfg in configs)


def test_seeds_multiply_each_run_and_demo_overrides_apply_to_all():
    demo = ["data=oxford_pet_mini", "trainer.epochs=2", "trainer.batch_size=8"]
    jobs, configs, _ = _jobs("experiment=reproduce", "trainer.seed=0,1,2", *demo)
    assert sorted((_name(j), c.trainer.seed) for j, c in zip(jobs, configs, strict=True)) == sorted(
        (name, seed) for name in SIX for seed in (0, 1, 2)
    )
    for cfg in configs:
        assert (cfg.trainer.epochs, cfg.trainer.batch_size, cfg.data.image_size) == (2, 8, 64)


def test_slurm_launcher_composes_the_same_runs_and_plans_without_timing_the_login_node():
    jobs, _, master = _jobs("experiment=reproduce", "hydra/launcher=submitit_slurm")
    assert sorted(map(_name, jobs)) == sorted(SIX)
    assert "SlurmLauncher" in master.hydra.launcher._target_
    assert not PlanCallback()._should_measure(master)
    assert PlanCallback(measure=True)._should_measure(master)


def test_estimate_counts_whole_batches_every_validation_and_one_test():
    images = {"train": 10, "val": 3, "test": 5}
    speed = Speed("cpu", 2, 64, 64, train_s_per_image=0.5, eval_s_per_image=0.1)
    # train: 2 epochs x 10 images (batches of 4, 4, 2: the partial one is kept) x 0.5 s = 10 s
    # eval: (2 epochs x 3 val + 5 test) x 0.1 s = 1.1 s
    assert estimate_minutes(2, 4, images, speed) == pytest.approx(11.1 / 60)
    # 9 images in batches of 4 leave a batch of one, which sits out: 2 x 8 x 0.5 s + 1.1 s
    assert estimate_minutes(2, 4, images | {"train": 9}, speed) == pytest.approx(9.1 / 60)
    assert estimate_minutes(2, 4, None, speed) is None  # no dataset: no estimate


def test_split_sizes_from_split_files_or_synthetic_parameters(tmp_path):
    mini = compose_data("data=oxford_pet_mini")
    assert split_sizes(mini) == {"train": 270, "val": 30, "test": 298}
    synthetic = compose_data("data=synthetic", f"data.root={tmp_path / 'none'}")
    assert split_sizes(synthetic) == {"train": 270, "val": 30, "test": 100}  # 300 trainval / 10
    missing = compose_data("data=oxford_pet", f"data.root={tmp_path / 'none'}")
    assert split_sizes(missing) is None


def compose_data(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides)).data


# ---- the report's numbers beside ours, on hand-made runs ---------------------------------------


def _run(name: str, dice: list[float], seed: int = 0, val_loss: list[float] | None = None) -> Run:
    epochs = [
        {"kind": "epoch", "epoch": i + 1, "val/loss": v} for i, v in enumerate(val_loss or [])
    ]
    config = {"trainer": {"seed": seed}, "model": {"_target_": "pet_seg.models.UNet"}}
    run = Run(Path(f"{name}-{seed}"), [f"reproduce={name}"], config, {"reproduce": name}, None,
              {}, "finished", "", epochs, [])  # fmt: skip
    run.test_names, run.test_dice = [f"img{i}" for i in range(len(dice))], np.array(dice)
    return run


def _verdict(claim, *runs: Run) -> str:
    return claim.check(runs_by_name(runs)).verdict


def test_paired_claim_verdicts():
    claim = BetterTestDice("a beats b", better="a", worse="b", reported="0.9 vs 0.8")
    up = np.linspace(0.05, 0.15, 20)  # every image better by 0.05 to 0.15
    base = np.full(20, 0.7)
    assert _verdict(claim, _run("a", list(base + up)), _run("b", list(base))) == "supported"
    assert _verdict(claim, _run("a", list(base)), _run("b", list(base + up))) == "contradicted"
    mixed = base + np.where(np.arange(20) % 2 == 0, 0.1, -0.1)
    assert _verdict(claim, _run("a", list(mixed)), _run("b", list(base))) == "within noise"
    assert _verdict(claim, _run("a", list(base))) == "not tested"


def test_paired_claim_averages_seeds_per_image():
    claim = BetterTestDice("a beats b", better="a", worse="b", reported="")
    seeds = [_run("a", [0.9, 0.5], seed=0), _run("a", [0.7, 0.7], seed=1)]  # per image 0.8, 0.6
    row = claim.check(runs_by_name([*seeds, _run("b", [0.6, 0.6])]))
    assert row.ours.startswith("0.7000 vs 0.6000: Δ +0.1000")  # (0.2 + 0.0) / 2
    assert "2 images" in row.ours


def test_overfitting_claim_reads_the_epoch_of_minimum_validation_loss():
    claim = ValidationLossRises("overfits", run="a", reported_epoch=3, report_epochs=5, tolerance=1)
    rises = [0.5, 0.4, 0.3, 0.35, 0.45]  # minimum at epoch 3, then +0.15
    row = claim.check(runs_by_name([_run("a", [1.0], val_loss=rises)]))
    assert (row.verdict, row.ours) == (
        "supported",
        "minimum at epoch 3 of 5, then +0.1500 by the end",
    )
    falls = [0.5, 0.4, 0.3, 0.2, 0.1]
    assert _verdict(claim, _run("a", [1.0], val_loss=falls)).startswith("not supported")
    late = ValidationLossRises("overfits", run="a", reported_epoch=1, report_epochs=5, tolerance=1)
    assert _verdict(late, _run("a", [1.0], val_loss=rises)) == "rises, but after epoch 3"
    short = _run("a", [1.0], val_loss=rises[:4])
    assert _verdict(claim, short) == "not comparable (4 epochs, the report's 5)"


def test_table1_puts_ours_beside_the_report_with_the_difference():
    reference = load_reference()
    unet = _run("unet-data-onecycle", [0.9, 0.8, 1.0])  # mean 0.9, median 0.9
    table = table1(reference, runs_by_name([unet]))
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in table.splitlines()}
    # report 0.9291 (UNet, Table 1), ours 0.9000, Δ -0.0291; ResNet34-UNet has no run
    assert rows["test Dice mean"][1:4] == ["0.9291", "0.9000", "-0.0291"]
    assert rows["test Dice median"][1:4] == ["0.9528", "0.9000", "-0.0528"]
    assert rows["test Dice mean"][4:6] == ["0.9179", "no run"]


# ---- end to end: the demo sweep on the shipped real pets --------------------------------------


@pytest.mark.slow
def test_demo_sweep_writes_the_plan_and_the_side_by_side_report(tmp_path):
    sweep = tmp_path / "sweep"
    overrides = [*tiny_overrides(tmp_path / "data", epochs=2), "logger=none"]
    command = [sys.executable, "-m", "pet_seg.run", "-m", "experiment=reproduce", *overrides,
               "trainer.num_threads=1", f"hydra.sweep.dir={sweep}"]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "offline"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "[pet_seg] plan" in done.stdout and "**6 runs, ≈ " in done.stdout

    plan = json.loads((sweep / "plan.json").read_text())
    assert sorted(run["label"] for run in plan["runs"]) == sorted(f"reproduce={n}" for n in SIX)
    assert all(run["images"] == {"train": 36, "val": 4, "test": 12} for run in plan["runs"])
    assert all(run["epochs"] == 2 and run["minutes"] > 0 for run in plan["runs"])
    assert set(plan["speeds"]) == {"UNet, batch 4", "ResNet34UNet, batch 4"}
    assert "CPU-minutes" in (sweep / "plan.md").read_text()

    report = sweep / "report"
    text = (report / "reproduce.md").read_text()
    for heading in (
        "## Table 1",
        "## The report's claims, checked",
        "### UNet",
        "### ResNet34-UNet",
    ):
        assert heading in text
    assert "`trainer.epochs` = 2 (report: 50)" in text and "test images = 12 (report: 3669)" in text
    claims = [line for line in text.splitlines() if line.startswith("| ") and "|" in line[2:]]
    assert sum("not comparable (2 epochs, the report's 50)" in line for line in claims) == 2
    figures = sorted(report.glob("reproduce_*.png"))
    assert len(figures) == 18  # the report's 4 + 5 curves per model
    assert all(f"]({figure.name})" in text for figure in figures)
    assert "reproduce.md" in (report / "report.md").read_text()


@pytest.mark.slow
def test_plan_cli_prints_the_plan_without_running(tmp_path):
    overrides = ["experiment=reproduce", *tiny_overrides(tmp_path / "data"), "trainer.seed=0,1"]
    command = [sys.executable, "-m", "pet_seg.plan", *overrides]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    rows = [
        line for line in done.stdout.splitlines() if line.startswith("| ") and "reproduce=" in line
    ]
    assert len(rows) == 12 and all("| 36 / 4 / 12 |" in row for row in rows)
    assert "**12 runs, ≈ " in done.stdout and "CPU-minutes" in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # nothing written, no run
