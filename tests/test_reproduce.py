"""experiment=reproduce (issues 16, 22): the report's six runs, its plan, its numbers beside ours.

The sweep's jobs are expanded as Hydra's basic sweeper does and each is composed with the real
conf/ and checked against the report's recipe and conventions; the deviations are read from
composed configs, one changed setting at a time; the claims' verdicts, Table 1 and the
learning-rate sampling are checked on hand-made numbers; demo-scale sweeps on the shipped real
pets run end to end and must leave the plan and the side-by-side report on disk.
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
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf
from test_config import AUGMENT_OFF, AUGMENT_ON, COSINE, ONECYCLE, assert_report_recipe
from tiny import CONF, tiny_overrides

from pet_seg.plan import PlanCallback
from pet_seg.plan_cost import Speed, estimate_minutes, split_sizes
from pet_seg.report.reference.claims import BetterTestDice, Named, check_claims, claims_table
from pet_seg.report.reference.curves import lr_after_step, uses_reference_averages
from pet_seg.report.reference.reproduce import load_reference, runs_by_name, table1
from pet_seg.report.reference.settings import deviation_lines, deviations
from pet_seg.report.reference.training_claims import FasterTraining, ValidationLossRises
from pet_seg.report.runs.folder import Run
from pet_seg.scoring import Scores, summary_of
from pet_seg.sweep_jobs import sweep_jobs

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


def _conventions_and_jitter(job, cfg) -> tuple[bool, bool, bool]:
    """(augmented run, masks jittered, reference conventions) of one composed job."""
    augmented = SIX[_name(job)][2] == AUGMENT_ON
    reference = cfg.conventions.val_dice == "val/dice_per_batch"
    return augmented, bool(cfg.augmentation.get("jitter_masks")), reference


def test_a_plain_reproduce_computes_as_the_reference_did():
    """Its averaging and epsilon, and, where it augmented, its jitter that scaled the masks."""
    jobs, configs, _ = _jobs("experiment=reproduce")
    for job, cfg in zip(jobs, configs, strict=True):
        augmented, jittered, reference = _conventions_and_jitter(job, cfg)
        assert reference and cfg.conventions.val_loss == "val/loss_per_batch", _name(job)
        assert cfg.conventions.dice_epsilon == pytest.approx(1e-8)
        assert augmented == jittered, _name(job)
        assert augmented == cfg.augmentation._target_.endswith("ReferenceBatchAugment")


def test_conventions_pet_seg_gives_ours_and_binary_masks():
    jobs, configs, _ = _jobs("experiment=reproduce", "conventions=pet_seg")
    for job, cfg in zip(jobs, configs, strict=True):
        augmented, jittered, reference = _conventions_and_jitter(job, cfg)
        assert not reference and not jittered and cfg.conventions.dice_epsilon is None
        assert augmented == cfg.augmentation._target_.endswith("ReferenceBatchAugment")


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


def _run(
    name: str,
    dice: list[float],
    seed: int = 0,
    val_loss: list[float] | None = None,
    summary: dict | None = None,
) -> Run:
    epochs = [
        {"kind": "epoch", "epoch": i + 1, "val/loss": v} for i, v in enumerate(val_loss or [])
    ]
    config = {"trainer": {"seed": seed}, "model": {"_target_": "pet_seg.models.UNet"}}
    run = Run(Path(f"{name}-{seed}"), [f"reproduce={name}"], config, {"reproduce": name}, None,
              summary or {}, "finished", "", epochs, [])  # fmt: skip
    run.test_names, run.test_dice = [f"img{i}" for i in range(len(dice))], np.array(dice)
    return run


def _seeds(name: str, base: np.ndarray, shifts: list[float]) -> list[Run]:
    """One run per seed: ``base`` shifted by that seed's offset (a seed effect)."""
    return [_run(name, list(base + shift), seed=i) for i, shift in enumerate(shifts)]


def _verdict(claim, *runs: Run) -> str:
    return claim.check(runs_by_name(runs)).verdict


IMAGES = np.random.default_rng(0).uniform(0.6, 0.9, 40)  # per-image difficulty, 40 images


def test_run_vs_run_claims_are_configuration_level_verdicts():
    claim = BetterTestDice("a beats b", better="a", worse="b", reported="0.9 vs 0.8")
    up, down = _seeds("a", IMAGES, [0.05, 0.06, 0.055]), _seeds("a", IMAGES, [-0.05, -0.06, -0.055])
    base = _seeds("b", IMAGES, [0.0, 0.005, -0.005])
    assert _verdict(claim, *up, *base) == "supported"
    assert _verdict(claim, *down, *base) == "contradicted"
    noisy = _seeds("a", IMAGES, [0.05, -0.05, 0.0])  # seeds spread wider than the mean shift
    assert _verdict(claim, *noisy, *base) == "within noise"
    assert _verdict(claim, *base) == "not tested"


def test_one_seed_is_not_testable_and_shows_image_level_numbers():
    claim = BetterTestDice("a beats b", better="a", worse="b", reported="")
    row = claim.check(runs_by_name([_run("a", list(IMAGES + 0.1)), _run("b", list(IMAGES))]))
    assert row.verdict == "not testable with one seed"  # however clear the images make it
    assert "images only" in row.ours and "1 vs 1 seeds, 40 images" in row.ours
    assert row.ours.startswith(f"{IMAGES.mean() + 0.1:.4f} vs {IMAGES.mean():.4f}: Δ +0.1000")
    assert "Wilcoxon" in row.p_raw and row.p_holm == "—"  # image level: not in the Holm family


def test_claims_are_holm_adjusted_together():
    specs = [
        {"_target_": "pet_seg.report.reference.claims.BetterTestDice", "claim": f"c{i}",
         "better": "a", "worse": "b", "reported": ""} for i in range(3)
    ]  # fmt: skip
    runs = _seeds("a", IMAGES, [0.02, 0.05, 0.03]) + _seeds("b", IMAGES, [0.0, 0.01, -0.01])
    rows = check_claims(specs, runs_by_name(runs))
    raw, holm = float(rows[0].p_raw.split()[0]), float(rows[0].p_holm)
    assert holm == pytest.approx(min(1.0, 3 * raw), rel=0.05)  # three equal p-values
    assert "| p (raw) | p (Holm) |" in claims_table(rows)


def _losses(minimum: int, length: int = 10, rise: bool = True) -> list[float]:
    """A validation loss falling to ``minimum`` (1-based epoch), then rising or flat."""
    after = 0.02 if rise else -0.001
    return [
        0.5 - 0.03 * min(e, minimum) + after * max(0, e - minimum) for e in range(1, length + 1)
    ]


def test_overfitting_claim_needs_the_rise_without_and_no_rise_with_augmentation():
    claim = ValidationLossRises("overfits", run="a", contrast="b", reported_epoch=5,
                                report_epochs=10, tolerance=2)  # fmt: skip
    rises, steady = _run("a", [1.0], val_loss=_losses(5)), _run("b", [1.0], val_loss=_losses(10))
    row = claim.check(runs_by_name([rises, steady]))
    assert row.verdict == "supported" and "needs both" in row.rule
    assert row.ours.startswith("`val/loss`: minimum at epoch 5 of 10, then +0.1000 by the end")
    both = _run("b", [1.0], val_loss=_losses(6))  # the augmented run overfits too
    assert _verdict(claim, rises, both).startswith("not supported (the augmented")
    flat = _run("a", [1.0], val_loss=_losses(10))
    assert _verdict(claim, flat, steady).startswith("contradicted")
    assert _verdict(claim, rises) == "not tested"  # one arm is not the claim
    short = ValidationLossRises("o", run="a", contrast="b", reported_epoch=5, report_epochs=50)
    assert _verdict(short, rises, steady) == "not comparable (10 epochs, the report's 50)"


def test_overfitting_claim_reads_the_loss_the_conventions_name():
    claim = ValidationLossRises("o", run="a", contrast="b", reported_epoch=2, report_epochs=4)
    runs = [_run("a", [1.0], val_loss=[0.3] * 4), _run("b", [1.0], val_loss=[0.3] * 4)]
    for run, losses in zip(runs, (_losses(2, 4), _losses(4, 4)), strict=True):
        run.config["conventions"] = {"val_loss": "val/loss_per_batch"}
        for record, loss in zip(run.epochs, losses, strict=True):
            record["val/loss_per_batch"] = loss
    row = claim.check(runs_by_name(runs))
    assert row.ours.startswith("`val/loss_per_batch`: minimum at epoch 2") and row.verdict == (
        "supported"
    )


def test_training_time_claim_compares_measured_times_on_one_device_at_the_reports_settings(
    release,
):
    claim = FasterTraining("r faster", faster="resnet-data-onecycle", slower="unet-data-onecycle",
                           reported="16 vs 30 min", reported_fraction=0.47)  # fmt: skip

    def timed(resnet_minutes: float, device: str = "NVIDIA H200", *overrides: str) -> Named:
        runs = {}
        for name, minutes in (("resnet-data-onecycle", resnet_minutes), ("unet-data-onecycle", 30)):
            run = _composed(release, name, *overrides)
            run.summary = {"train_time_s": 60 * minutes, "device": "NVIDIA H200"}
            runs[name] = [run]
        runs["resnet-data-onecycle"][0].summary["device"] = device
        return runs

    row = claim.check(timed(16))
    assert (row.verdict, row.ours) == (
        "supported", "16 vs 30 min: 47% less time (device: NVIDIA H200)"
    )  # fmt: skip
    assert claim.check(timed(25)).verdict == "faster, by 17% rather than 47%"
    assert claim.check(timed(33)).verdict == "contradicted (not faster)"
    assert "10% more time" in claim.check(timed(33)).ours
    assert claim.check(timed(16, "cpu")).verdict == "not comparable (different devices)"
    demo = claim.check(timed(16, "NVIDIA H200", "trainer.epochs=2")).verdict
    assert demo == "not comparable (settings differ from the report's: trainer.epochs)"
    assert claim.check(timed(16, "NVIDIA H200", "conventions=pet_seg")).verdict == "supported"


def test_every_claim_of_the_report_has_a_row():
    rows = check_claims(load_reference()["claims"], {})
    claims = " / ".join(row.claim for row in rows)
    for words in ("UNet beats ResNet34-UNet", "Augmentation raises", "One-cycle beats cosine for "
                  "UNet", "for ResNet34-UNet too", "47 % faster", "UNet overfits", "ResNet34-UNet "
                  "overfits"):  # fmt: skip
        assert words in claims
    assert all(row.verdict == "not tested" for row in rows)


def test_table1_puts_ours_beside_the_report_and_says_which_average():
    reference = load_reference()
    unet = _run("unet-data-onecycle", [0.9, 0.8, 1.0], summary={"test/dice_per_batch": 0.87})
    table = table1(reference, runs_by_name([unet]))
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in table.splitlines()}
    # report 0.9291 (UNet, Table 1, per image), ours 0.9000, Δ -0.0291; ResNet34-UNet: no run
    assert rows["test Dice mean, per image"][1:4] == ["0.9291", "0.9000", "-0.0291"]
    assert rows["test Dice median, per image"][1:4] == ["0.9528", "0.9000", "-0.0528"]
    assert rows["test Dice mean, per image"][4:6] == ["0.9179", "no run"]
    per_batch = rows["test Dice mean, pooled per batch (`test/dice_per_batch`)"]
    assert per_batch[1:3] == ["not in Table 1", "0.8700"]


def test_summary_logs_test_dice_pooled_per_batch_beside_per_image():
    counts = torch.tensor([[10, 10, 10], [0, 10, 10], [5, 5, 5]])  # Dice 1, 0, 1 per image
    summary = summary_of(Scores(loss=0.1, counts=counts, batch_size=2))
    assert summary["test/dice_mean"] == pytest.approx(2 / 3)
    assert summary["test/dice_per_batch"] == pytest.approx((20 / 40 + 1.0) / 2)  # 2 batches
    assert "test/dice_per_batch" not in summary_of(Scores(loss=0.1, counts=counts))


def test_learning_rate_is_sampled_after_each_epochs_scheduler_step():
    per_step = _run("a", [1.0])
    per_step.config["scheduler"] = {"interval": "step"}
    per_step.epochs = [{"epoch": 1, "lr": 0.1}, {"epoch": 2, "lr": 0.3}]
    per_step.steps = [{"epoch": e, "step/lr": lr} for e, lr in ((1, 0.2), (1, 0.3), (2, 0.4))]
    assert lr_after_step(per_step) == [0.3, 0.4]  # the last step's rate, logged after its step
    per_epoch = _run("b", [1.0])
    per_epoch.config["scheduler"] = {"interval": "epoch"}
    per_epoch.epochs = [{"epoch": 1, "lr": 1.0}, {"epoch": 2, "lr": 0.5}]
    assert lr_after_step(per_epoch) == [0.5, None]  # the next epoch's start; the last: unlogged
    per_epoch.config["conventions"] = {"val_dice": "val/dice_per_batch"}
    assert not uses_reference_averages([per_step, per_epoch])  # one run acts on per-image Dice
    per_step.config["conventions"] = {"val_dice": "val/dice_per_batch"}
    assert uses_reference_averages([per_step, per_epoch])


# ---- deviations: each run's resolved config against the report's settings ----------------------


def _split_files(root: Path) -> Path:
    """Split files of the full release's sizes (3680 trainval, 3669 test lines), no pictures."""
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    lines = [f"pet_{i} 1 1 1" for i in range(3680)]
    (root / "annotations" / "trainval.txt").write_text("\n".join(lines) + "\n")
    (root / "annotations" / "test.txt").write_text("\n".join(lines[:3669]) + "\n")
    return root


def _composed(root: Path, name: str, *overrides: str, seed: int = 0, tested: int = 3669) -> Run:
    """A finished run of the report's ``name`` as ``experiment=reproduce`` composes it."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "config", overrides=["experiment=reproduce", f"reproduce={name}", f"data.root={root}",
                                 *overrides], return_hydra_config=True,
        )  # fmt: skip
    choices = {k: str(v) for k, v in cfg.hydra.runtime.choices.items()}
    config = OmegaConf.to_container(cfg, resolve=False)
    del config["hydra"]
    config = OmegaConf.to_container(OmegaConf.create(config), resolve=True)
    run = Run(Path(f"{name}-{seed}"), [], config, choices, None, {}, "finished", "", [], [])
    run.test_names = [f"pet_{i}" for i in range(tested)]
    run.test_dice = np.ones(tested)
    return run


def _keys(*runs: Run) -> set[str]:
    return {d.key for d in deviations(load_reference(), runs_by_name(runs))}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return _split_files(tmp_path_factory.mktemp("release"))


def test_a_faithful_composition_differs_in_nothing(release):
    runs = [_composed(release, name) for name in SIX]
    assert deviations(load_reference(), runs_by_name(runs)) == []
    assert deviation_lines([], list(SIX)) == ["- none: every run has the report's settings."]


@pytest.mark.parametrize(
    ("name", "override", "listed"),
    [
        ("unet-data-onecycle", "model.base_channels=16", {"model.base_channels"}),
        ("unet-data-onecycle", "trainer.epochs=10", {"trainer.epochs"}),  # T_max, max_lr follow
        ("resnet-data-cosine", "trainer.epochs=10", {"trainer.epochs"}),
        ("resnet-data-cosine", "trainer.batch_size=32", {"trainer.batch_size"}),
        ("unet-data-cosine", "trainer.eval_batch_size=64", {"trainer.eval_batch_size"}),
        ("unet-data-onecycle", "optimizer.lr=0.01", {"optimizer.lr"}),
        ("unet-data-onecycle", "optimizer.weight_decay=0", {"optimizer.weight_decay"}),
        ("unet-data-onecycle", "+optimizer.amsgrad=true", {"optimizer.amsgrad"}),
        ("unet-data-onecycle", "loss=dice", {"loss._target_", "loss.smooth"}),
        ("unet-data-onecycle", "scheduler.factory.pct_start=0.3", {"scheduler.factory.pct_start"}),
        ("unet-data-onecycle", "scheduler.factory.anneal_strategy=linear",
         {"scheduler.factory.anneal_strategy"}),
        ("unet-data-onecycle", "scheduler.interval=epoch", {"scheduler.interval"}),
        ("unet-data-cosine", "scheduler.factory.T_max=10", {"scheduler.factory.T_max"}),
        ("unet-data-cosine", "augmentation.brightness=0.4", {"augmentation.brightness"}),
        ("unet-data-cosine", "augmentation=flip_jitter",
         {"augmentation._target_", "augmentation.jitter_masks"}),
        ("unet-cosine-1e-3", "augmentation.hflip=0.5", {"augmentation.hflip"}),
        ("unet-data-cosine", "conventions.dice_epsilon=null", {"conventions.dice_epsilon"}),
        ("unet-data-cosine", "data.image_size=128", {"data.image_size"}),
        ("unet-data-cosine", "data.val_every=5", {"data.val_every", "images"}),
        ("unet-data-cosine", "data=synthetic", {"data", "data._target_", "data.image_size"}),
    ],
)  # fmt: skip
def test_each_changed_setting_is_listed_with_both_values(release, name, override, listed):
    run = _composed(release, name, override)
    assert _keys(run) == listed
    (found, *_) = deviations(load_reference(), runs_by_name([run]))
    assert found.ours != found.report and found.runs == (name,)


def test_pet_seg_conventions_are_listed_as_conventions_and_binary_masks(release):
    runs = [_composed(release, name, "conventions=pet_seg") for name in SIX]
    found = deviations(load_reference(), runs_by_name(runs))
    assert {d.key for d in found} == {
        "conventions.val_dice", "conventions.val_loss", "conventions.dice_epsilon",
        "conventions.jitter_masks", "augmentation.jitter_masks",
    }  # fmt: skip
    jitter = next(d for d in found if d.key == "augmentation.jitter_masks")
    assert (jitter.ours, jitter.report) == ("False", "True")
    assert set(jitter.runs) == {n for n, (_, _, aug) in SIX.items() if aug == AUGMENT_ON}
    lines = "\n".join(deviation_lines(found, list(SIX)))
    assert "`conventions.val_dice` = val/dice (report: val/dice_per_batch)" in lines
    assert "`augmentation.jitter_masks` = False (report: True; in unet-data-cosine," in lines


def test_seeds_split_sizes_and_assumptions_are_listed(release):
    runs = [_composed(release, "unet-data-cosine", seed=s) for s in (0, 1)]
    found = deviations(load_reference(), runs_by_name(runs))
    assert [(d.key, d.ours, d.report) for d in found] == [("seeds", "2", "1")]
    few = _composed(release, "unet-data-cosine", tested=12)
    assert [(d.key, d.ours) for d in deviations(load_reference(), runs_by_name([few]))] == [
        ("images", "3312 / 368 / 12")
    ]
    eval_batch = _composed(release, "unet-data-cosine", "trainer.eval_batch_size=64")
    (line,) = deviation_lines(deviations(load_reference(), runs_by_name([eval_batch])), ["x"])
    assert "(report: null, assumed; in unet-data-cosine)" in line


# ---- end to end: the demo sweep on the shipped real pets --------------------------------------


def _sweep(tmp_path: Path, name: str, *extra: str) -> subprocess.CompletedProcess:
    overrides = [*tiny_overrides(tmp_path / "data", epochs=2), "logger=none", *extra]
    command = [sys.executable, "-m", "pet_seg.run", "-m", "experiment=reproduce", *overrides,
               "trainer.num_threads=1", f"hydra.sweep.dir={tmp_path / name}"]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "offline"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


def _listed(text: str) -> set[str]:
    """The keys under "Settings that differ from the report's"."""
    section = text.split("## Settings that differ")[1].split("\n## ")[0]
    return {line.split("`")[1] for line in section.splitlines() if line.startswith("- `")}


def _claim_rows(text: str) -> list[list[str]]:
    section = text.split("## The report's claims, checked")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return rows[1:]  # the header; the |---| line does not start with "| "


VERDICTS = ("supported", "contradicted", "within noise", "not testable with one seed",
            "not comparable", "not tested", "faster, by", "rises, but")  # fmt: skip
# The demo's own overrides (tests/tiny.py): data, its image size and split sizes, epochs, batch,
# model width. Nothing else may be listed: the conventions are the report's by default.
DEMO_KEYS = {"data", "data.image_size", "images", "trainer.epochs", "trainer.batch_size",
             "model.base_channels"}  # fmt: skip


@pytest.mark.slow
def test_demo_sweep_writes_the_plan_and_the_side_by_side_report(tmp_path):
    done = _sweep(tmp_path, "sweep")
    sweep = tmp_path / "sweep"
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
    assert _listed(text) == DEMO_KEYS
    assert "- `trainer.epochs` = 2 (report: 50)" in text
    assert "- `images` = 36 / 4 / 12 (report: 3312 / 368 / 3669)" in text

    per_batch = next(
        line for line in text.splitlines() if line.startswith("| test Dice mean, pooled")
    )
    assert per_batch.count("not in Table 1") == 2 and "not logged" not in per_batch
    summary = json.loads(next(sweep.glob("*/summary.json")).read_text())
    assert 0 <= summary["test/dice_per_batch"] <= 1 and summary["device"] == "cpu"

    rows = _claim_rows(text)
    assert len(rows) == len(load_reference()["claims"]) == 7
    verdicts = [row[5] for row in rows]
    assert all(v.startswith(VERDICTS) for v in verdicts), verdicts
    assert verdicts[:4] == ["not testable with one seed"] * 4  # one seed each: image level only
    assert verdicts[4].startswith("not comparable (settings differ")  # training time, demo
    assert verdicts[5:] == ["not comparable (2 epochs, the report's 50)"] * 2

    assert "Drawn in the report's averages" in text
    for key in ("train/dice_per_batch", "val/loss_per_batch", "lr/after_step"):
        assert f": `{key}`](" in text
    figures = sorted(report.glob("reproduce_*.png"))
    assert len(figures) == 18  # the report's 4 + 5 curves per model
    assert all(f"]({figure.name})" in text for figure in figures)
    assert "reproduce.md" in (report / "report.md").read_text()


@pytest.mark.slow
def test_demo_with_pet_seg_conventions_lists_them_as_deviations(tmp_path):
    _sweep(tmp_path, "ours", "reproduce=unet-data-cosine", "conventions=pet_seg")
    text = (tmp_path / "ours" / "report" / "reproduce.md").read_text()
    conventions = {f"conventions.{k}" for k in ("val_dice", "val_loss", "dice_epsilon")}
    assert _listed(text) == DEMO_KEYS | conventions | {
        "conventions.jitter_masks", "augmentation.jitter_masks",
    }  # fmt: skip
    assert "Drawn in pet_seg's averages" in text


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
