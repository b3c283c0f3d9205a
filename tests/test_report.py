"""pet_seg.report: tables equal the per-image results, every run is listed, figures are drawn.

One real tiny sweep (``experiment=quickstart``, 4 jobs) is shared by the slow tests; the rest
use fabricated run folders, which is also how the three comparison experiments' table layouts
are checked (their job overrides come from Hydra's own sweeper expansion).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, JobStatus
from matplotlib.image import imread
from omegaconf import OmegaConf, open_dict
from tiny import real_subset

from pet_seg.report import write_report
from pet_seg.report.__main__ import main as report_main
from pet_seg.report.build import convention_lines
from pet_seg.report.callback import ReportCallback
from pet_seg.report.render.summary import Summary, summarize, summary_markdown, sweep_overrides
from pet_seg.report.runs.folder import discover_runs, load_run, read_metrics
from pet_seg.report.runs.labels import assign_labels, group_runs
from pet_seg.report.statistics.comparisons import (
    TARGET_DIFFERENCE,
    SeedAdvice,
    comparisons,
    seed_advice,
)
from pet_seg.run_label import parse_override
from pet_seg.training.conventions import PET_SEG, REFERENCE

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC = ["data=synthetic", "data.num_trainval=20", "data.num_test=8"]
TINY = [
    "model.base_channels=4",
    "trainer.epochs=2",
    "trainer.batch_size=4",
    "trainer.progress=false",
    "trainer.num_threads=1",  # tiny models: threads only contend on a small shared runner
    "logger=none",
]
QUICKSTART_LABELS = {
    f"model={m}, scheduler={s}" for m in ("unet", "resnet34_unet") for s in ("cosine", "onecycle")
}


def _sweep(out: Path, *overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pet_seg.run", "-m", *overrides, f"hydra.sweep.dir={out}"]
    return subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WANDB_MODE": "offline"},
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart experiment at tiny settings; its callback writes ``<sweep>/report``."""
    base = tmp_path_factory.mktemp("report_sweep")
    real = real_subset(base / "real")
    done = _sweep(base / "sweep", "experiment=quickstart", f"data.root={real}", *TINY)
    assert done.returncode == 0, done.stderr[-3000:]
    return base / "sweep"


@pytest.mark.slow
def test_quickstart_ends_with_a_report_labelled_by_overrides(sweep: Path) -> None:
    report = sweep / "report"
    assert {"report.md", "report.csv", "runs.csv"} <= {p.name for p in report.iterdir()}
    rows = _rows(report / "report.csv")
    assert {r["label"] for r in rows} == QUICKSTART_LABELS
    assert all(r["status"] == "finished" and r["runs"] == "1" for r in rows)
    markdown = (report / "report.md").read_text()
    assert "picked by the mean of per-image validation Dice" in markdown
    assert "empty truth and prediction scores **1** (no epsilon)" in markdown
    assert all(f"| {label} | finished |" in markdown for label in QUICKSTART_LABELS)
    assert not (report / "wandb").exists()  # logger=none: no W&B report run


@pytest.mark.slow
def test_quickstart_report_carries_the_paired_comparisons(sweep: Path) -> None:
    """2 × 2: each scheduler pair at a fixed model, each model pair at a fixed scheduler."""
    markdown = (sweep / "report" / "report.md").read_text()
    assert "## Which differences hold up" in markdown
    comparisons = _rows(sweep / "report" / "comparisons.csv")
    assert {(r["key"], r["second"], r["first"], r["shared"]) for r in comparisons} == {
        ("scheduler", "onecycle", "cosine", "model=unet"),
        ("scheduler", "onecycle", "cosine", "model=resnet34_unet"),
        ("model", "resnet34_unet", "unet", "scheduler=cosine"),
        ("model", "resnet34_unet", "unet", "scheduler=onecycle"),
    }
    tests = {
        r["label"]: Path(r["folders"]) / "test_results.csv"
        for r in _rows(sweep / "report" / "report.csv")
    }
    for row in comparisons:
        fixed = row["shared"]
        first, second = (
            f"{row['key']}={row[side]}, {fixed}"
            if row["key"] == "model"
            else f"{fixed}, {row['key']}={row[side]}"
            for side in ("first", "second")
        )
        diff = [
            float(b["dice"]) - float(a["dice"])
            for a, b in zip(_rows(tests[first]), _rows(tests[second]), strict=True)
        ]
        assert float(row["diff_mean"]) == pytest.approx(np.mean(diff), abs=1e-9)
        assert float(row["ci_low"]) <= float(row["diff_mean"]) <= float(row["ci_high"])
        # one seed per configuration: two trained models compared, never a verdict
        assert row["kind"] == "image-level" and row["real"] == "False"
        line = f"`{row['key']}` {row['second']} vs {row['first']} ({fixed}): Δ "
        assert line in markdown and f"{float(row['diff_mean']):+.4f}" in markdown
    assert "real:" not in markdown and "trainer.seed=1,2`" in markdown
    assert "- **Not testable: one seed per arm** (Δ between two trained models" in markdown


@pytest.mark.slow
def test_table_equals_numbers_recomputed_from_per_image_results(sweep: Path) -> None:
    markdown = (sweep / "report" / "report.md").read_text()
    for row in _rows(sweep / "report" / "report.csv"):
        run_dir = Path(row["folders"])
        dice = np.array([float(r["dice"]) for r in _rows(run_dir / "test_results.csv")])
        expected = {
            "mean": dice.mean(),
            "median": np.median(dice),
            "std": dice.std(),
            "min": dice.min(),
            "max": dice.max(),
        }
        for stat, value in expected.items():
            assert float(row[f"test_dice_{stat}"]) == pytest.approx(value, abs=1e-12)
        summary = json.loads((run_dir / "summary.json").read_text())
        assert float(row["params"]) == summary["params"]
        assert float(row["best_val_dice"]) == pytest.approx(summary["best/val_dice"])
        assert f"| {row['label']} | finished | 1 | {expected['mean']:.4f} |" in markdown


@pytest.mark.slow
def test_figures_are_drawn(sweep: Path) -> None:
    report = sweep / "report"
    names = [f"curves_{q}.png" for q in ("train_loss", "train_dice", "val_loss", "val_dice", "lr")]
    samples = sorted(report.glob("samples_*.png"))
    assert len(samples) == 4
    for path in [*(report / n for n in names), report / "test_dice_distribution.png", *samples]:
        image = imread(path)
        assert path.stat().st_size > 10_000 and min(image.shape[:2]) > 300, path
        assert image[..., :3].std() > 0.05, f"{path} looks blank"


def _copy(sweep: Path, dest: Path) -> Path:
    shutil.copytree(sweep, dest, ignore=shutil.ignore_patterns("report", "checkpoints"))
    return dest


@pytest.mark.slow
def test_broken_runs_are_listed_not_dropped(sweep: Path, tmp_path: Path) -> None:
    broken = _copy(sweep, tmp_path / "broken")
    (broken / "1" / "summary.json").unlink()
    summary = json.loads((broken / "2" / "summary.json").read_text())
    (broken / "2" / "summary.json").write_text(
        json.dumps(summary | {"status": "failed", "error": "Boom: test"})
    )
    (broken / "3" / "test_results.csv").unlink()
    assert report_main([str(broken), "--samples", "0"]) == 0
    status = {
        Path(r["folder"]).name: (r["status"], r["note"])
        for r in _rows(broken / "report" / "runs.csv")
    }
    assert [status[j][0] for j in "0123"] == ["finished", "unfinished", "failed", "unfinished"]
    assert status["2"][1] == "Boom: test" and "test_results.csv" in status["3"][1]
    markdown = (broken / "report" / "report.md").read_text()
    assert "4 (1 finished, 1 failed, 2 unfinished)" in markdown
    assert "| model=resnet34_unet, scheduler=cosine | failed |" in markdown


@pytest.mark.slow
def test_seeds_of_one_config_are_shown_as_mean_and_std(sweep: Path, tmp_path: Path) -> None:
    runs = tmp_path / "seeds"
    for seed, scale in ((1, 1.0), (2, 0.5)):
        run = runs / f"seed{seed}"
        shutil.copytree(sweep / "0", run, ignore=shutil.ignore_patterns("checkpoints"))
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        (run / ".hydra" / "overrides.yaml").write_text(
            yaml.safe_dump([*overrides, f"trainer.seed={seed}"])
        )
        config = yaml.safe_load((run / "config.yaml").read_text())
        config["trainer"]["seed"] = seed
        (run / "config.yaml").write_text(yaml.safe_dump(config))
        rows = _rows(run / "test_results.csv")
        with (run / "test_results.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({**r, "dice": f"{float(r['dice']) * scale:.6f}"} for r in rows)
    shutil.copytree(sweep / "1", runs / "other", ignore=shutil.ignore_patterns("checkpoints"))
    report = write_report([runs], samples=0)
    means = [
        np.mean([float(r["dice"]) for r in _rows(runs / s / "test_results.csv")])
        for s in ("seed1", "seed2")
    ]
    row = next(r for r in _rows(report.csv) if r["label"] == "scheduler=cosine")
    assert row["runs"] == "2" and row["seeds"] == "1;2"
    assert float(row["test_dice_mean"]) == pytest.approx(np.mean(means), abs=1e-12)
    assert float(row["test_dice_mean_seed_std"]) == pytest.approx(np.std(means, ddof=1), abs=1e-12)
    assert f"{np.mean(means):.4f} ± {np.std(means, ddof=1):.4f}" in report.table


@pytest.mark.slow
def test_sweep_with_a_failed_job_still_ends_with_a_report(sweep: Path, tmp_path: Path) -> None:
    """Hydra skips on_multirun_end when a job fails; the callback's on_job_end covers it."""
    done = _sweep(
        tmp_path / "failing",
        "model=unet",
        "trainer.batch_size=1000,4",
        "data=oxford_pet_mini",
        f"data.root={sweep.parent / 'real'}",
        *(o for o in TINY if not o.startswith(("trainer.epochs", "trainer.batch_size"))),
        "trainer.epochs=1",
        "+hydra.callbacks.report.samples=1",  # the base config's callback, no experiment
    )
    assert done.returncode != 0  # Hydra re-raises the failed job's error after the sweep
    rows = _rows(tmp_path / "failing" / "report" / "runs.csv")
    assert [(r["label"], r["status"]) for r in rows] == [
        ("trainer.batch_size=1000", "failed"),
        ("trainer.batch_size=4", "finished"),
    ]
    assert "larger than the training split" in rows[0]["note"]


# ---- fabricated run folders: fast ------------------------------------------------------------


def _fake_run(
    folder: Path,
    overrides: list[str],
    config: dict,
    choices: dict,
    dice: list[float],
    status: str | None = "finished",
) -> Path:
    """A run folder with the files pet_seg.run writes (no checkpoints)."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    runtime = {"choices": choices, "cwd": str(REPO)}
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": runtime}}))
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    if status is not None:
        summary = {"status": status, "params": 1000, "epochs": 1, "best/val_dice": 0.5}
        (folder / "summary.json").write_text(json.dumps(summary))
    epoch = {
        "kind": "epoch",
        "epoch": 1,
        "lr": 1e-3,
        "train/loss": 0.5,
        "train/dice": 0.5,
        "val/loss": 0.6,
        "val/dice": 0.5,
    }
    (folder / "metrics.jsonl").write_text(json.dumps(epoch) + "\n")
    lines = ["name,dice,iou,intersection,predicted,true"]
    lines += [f"img{i},{d:.6f},{d:.6f},1,1,1" for i, d in enumerate(dice)]
    (folder / "test_results.csv").write_text("\n".join(lines) + "\n")
    return folder


def _experiment_jobs(experiment: str) -> list[list[str]]:
    """The job override lists Hydra's basic sweeper makes for ``-m experiment=<experiment>``."""
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"experiment={experiment}"], return_hydra_config=True)
    params = [f"{key}={value}" for key, value in cfg.hydra.sweeper.params.items()]
    extra = [f"experiment={experiment}", *SYNTHETIC, *TINY]
    parsed = OverridesParser.create().parse_overrides([*params, *extra])
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


@pytest.mark.parametrize(
    ("experiment", "labels"),
    [
        (
            "augmentation_ablation",
            {
                f"model={m}, augmentation={a}"
                for m in ("unet", "resnet34_unet")
                for a in ("none", "flip_jitter")
            },
        ),
        ("scheduler_ablation", QUICKSTART_LABELS),
        ("architecture", {"model=unet", "model=resnet34_unet"}),
    ],
)
def test_comparison_experiments_give_the_reports_table_layout(experiment, labels, tmp_path):
    jobs = _experiment_jobs(experiment)
    for number, overrides in enumerate(jobs):
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            cfg = compose("config", overrides=overrides, return_hydra_config=True)
        choices = OmegaConf.to_container(cfg.hydra.runtime.choices)
        with open_dict(cfg):
            del cfg["hydra"]
        config = OmegaConf.to_container(cfg, resolve=True)
        _fake_run(tmp_path / str(number), overrides, config, choices, [0.5 + 0.1 * number])
    report = write_report([tmp_path], samples=0)
    assert [r.label for r in report.runs] == [
        ", ".join(j[: len(j) - 1 - len(SYNTHETIC) - len(TINY)]) for j in jobs
    ]
    assert {r["label"] for r in _rows(report.csv)} == labels
    assert all(f"| {label} | finished | 1 |" in report.table for label in labels)


def test_run_status_from_whatever_files_exist(tmp_path: Path) -> None:
    config, choices = {"name": "t", "trainer": {"seed": 0}}, {}
    none = _fake_run(tmp_path / "none", ["a=1"], config, choices, [1.0], status=None)
    running = _fake_run(tmp_path / "running", ["a=2"], config, choices, [1.0], status="running")
    early = _fake_run(tmp_path / "early", ["a=3"], config, choices, [1.0], status=None)
    job = JobReturn(
        hydra_cfg=OmegaConf.create({"hydra": {"runtime": {"output_dir": str(early)}}}),
        status=JobStatus.FAILED,
        _return_value=ValueError("no data"),
    )
    sweep_cfg = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}}})
    callback = ReportCallback(samples=0)
    callback.on_multirun_start(sweep_cfg)
    callback.on_job_end(sweep_cfg, job)  # records the failure in job_status.json
    callback.write_pending()  # what the exit hook does when on_multirun_end never comes
    assert [load_run(p).status for p in (none, running, early)] == ["unfinished"] * 2 + ["failed"]
    assert "ValueError: no data" in load_run(early).note
    statuses = [r["status"] for r in _rows(tmp_path / "report" / "runs.csv")]
    assert sorted(statuses) == ["failed", "unfinished", "unfinished"]


def test_metrics_later_epoch_line_wins_and_cut_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    lines = [
        {"kind": "epoch", "epoch": 1, "val/dice": 0.1},
        {"kind": "step", "epoch": 1, "step": 1},
        {"kind": "epoch", "epoch": 1, "val/dice": 0.2},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"kind": "ep')
    epochs, steps = read_metrics(path)
    assert [e["val/dice"] for e in epochs] == [0.2] and len(steps) == 1


def test_parse_override_forms() -> None:
    assert parse_override("model=unet") == ("model", "unet")
    assert parse_override("++trainer.seed=3") == ("trainer.seed", "3")
    assert parse_override("~logger") == ("logger", "<deleted>")


def test_cli_errors_clearly(tmp_path: Path) -> None:
    assert report_main([str(tmp_path)]) == 2  # no run folders
    assert report_main([str(tmp_path), str(tmp_path)]) == 2  # several folders, no --out


def test_report_states_each_convention_its_runs_used() -> None:
    ours = SimpleNamespace(summary={"conventions": asdict(PET_SEG)})
    old = SimpleNamespace(summary={})  # a run from before the conventions group: pet_seg's
    reports = SimpleNamespace(summary={"conventions": asdict(REFERENCE)})
    assert convention_lines([ours, old]) == [
        "- Convention: `best.pt` picked by the mean of per-image validation Dice (pet_seg's "
        "convention); Dice = 2|P∩G| / (|P|+|G|), an image with empty truth and prediction "
        "scores **1** (no epsilon)."
    ]
    mixed = convention_lines([ours, reports])
    assert len(mixed) == 3 and "different conventions" in mixed[-1]
    assert any("pooled per batch" in line and "**0** (epsilon 1e-08)" in line for line in mixed)


# ---- the summary and what report.md leaves out: a quickstart-like fabricated sweep -----------

BREEDS = (
    [("cat", "Abyssinian")] * 20 + [("cat", "Bengal")] * 20 + [("dog", "american_bulldog")] * 20
)
EXTRA_COLUMNS = ["species", "breed", "pet_share", "original_height", "original_width",
                 "dice_trimap", "boundary_iou", "boundary_width_px"]  # fmt: skip


def _quickstart_like(
    sweep: Path, seeds: int = 1, hd95: bool = False, model_shift: float = 0.01,
    scheduler_shift: float = 0.003, seed_sd: float = 0.01, image_sd: float = 0.02,
) -> Path:  # fmt: skip
    """``experiment=quickstart`` as its runs leave it (2 models × 2 schedulers × ``seeds``):
    per-image extras, calibration.json and Hydra's ``multirun.yaml``; no checkpoints."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 0.9, size=len(BREEDS))
    sweep.mkdir(parents=True)
    task = {"hydra": {"overrides": {"task": ["experiment=quickstart"]}}}
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(task))
    jobs = [(m, s, seed) for m in range(2) for s in range(2) for seed in range(seeds)]
    for number, (m, s, seed) in enumerate(jobs):
        model, scheduler = ("unet", "resnet34_unet")[m], ("cosine", "onecycle")[s]
        overrides = [f"model={model}", f"scheduler={scheduler}"]
        overrides += [f"trainer.seed={seed}"] if seeds > 1 else []
        config = {"name": "quickstart", "trainer": {"seed": seed}}
        folder = _fake_run(sweep / str(number), overrides, config,
                           {"model": model, "scheduler": scheduler}, [])  # fmt: skip
        summary = json.loads((folder / "summary.json").read_text()) | {"train_time_s": 90.0}
        (folder / "summary.json").write_text(json.dumps(summary))
        shift = model_shift * m + scheduler_shift * s + rng.normal(0, seed_sd)
        dice = np.clip(base + shift + rng.normal(0, image_sd, base.size), 0, 1)
        with (folder / "test_results.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", "dice", "iou", "intersection", "predicted", "true",
                             *EXTRA_COLUMNS, *(["hd95_px"] if hd95 else [])])  # fmt: skip
            for i, d in enumerate(dice):
                species, breed = BREEDS[i]
                writer.writerow([f"{breed}_{i}", f"{d:.6f}", f"{d:.6f}", 1, 1, 1, species, breed,
                                 i / len(dice), 100 + i, 120, d - 0.05, d / 2, 4,
                                 *([3.0 + i] if hd95 else [])])  # fmt: skip
        calibration = {"test": {"ece": 0.05}, "threshold": 0.45,
                       "test_dice_at_threshold": 0.75, "tuning_gain": 0.002}  # fmt: skip
        (folder / "calibration.json").write_text(json.dumps(calibration))
    return sweep


def _tables(markdown: str) -> list[list[list[str]]]:
    """Every Markdown table as rows of cells (header first, separator dropped)."""
    tables, current = [], []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            if not set(line) <= {"|", "-"}:
                current.append([cell.strip() for cell in line.strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


def _is_a_verdict(cell: str) -> bool:
    return cell.startswith("real") or cell == "within noise"


def test_one_seed_quickstart_report_opens_with_its_summary_and_prints_no_wall_of_non_verdicts(
    tmp_path: Path,
) -> None:
    sweep = _quickstart_like(tmp_path / "sweep")
    report = write_report([sweep], samples=0)
    markdown = report.markdown.read_text()
    lines = markdown.splitlines()
    assert lines[0] == "# pet_seg report" and lines[2].startswith("Sources: ")
    assert lines[4] == "## Summary"
    summary = markdown[: markdown.index("## Table 1")]
    assert "- **Real**: none" in summary and "- **Within noise** (undecided): none" in summary
    assert summary.count("\n  - `") == 4  # the four comparisons, one line each, not testable
    assert "`scheduler` onecycle vs cosine (model=unet): Δ " in summary
    # the sweep's own command with the two seeds it lacks: 4 configurations × 2 seeds × 1.5 min
    assert "`python -m pet_seg.run -m experiment=quickstart trainer.seed=1,2`" in summary
    assert "(8 more runs, about 12 minutes at the 1.5 min per run measured here)" in summary
    for table in _tables(markdown):  # no column of verdict cells that all say the same non-verdict
        for i, header in enumerate(table[0]):
            cells = {row[i] for row in table[1:]}
            if "verdict" in header and len(cells) == 1:
                assert _is_a_verdict(cells.pop()), table
    assert "HD95" not in markdown.replace("HD95 was not computed", "")
    assert "Not shown: HD95 was not computed (`test_scores.hd95=true`" in markdown
    assert len(lines[: lines.index("## Figures")]) <= 110  # two screens
    assert "| species | cat |" not in markdown  # per-group differences: one sentence instead
    assert "**Test Dice by breed**" in markdown  # the per-group scores stay
    assert len(_rows(report.out_dir / "group_differences.csv")) == 4 * 11
    assert "hd95_px" not in report.breakdowns.tables["scores"][0]


def test_hd95_is_shown_when_the_runs_computed_it(tmp_path: Path) -> None:
    report = write_report([_quickstart_like(tmp_path / "sweep", hd95=True)], samples=0)
    assert "| HD95 (px) |" in report.markdown.read_text()
    assert "hd95_px" in report.breakdowns.tables["scores"][0]


def _summary(sweep: Path) -> tuple[Summary, list[SeedAdvice]]:
    """The summary ``write_report`` would open with, without its figures."""
    runs = discover_runs([sweep])
    keys = assign_labels(runs)
    found = comparisons(group_runs(runs), keys)
    advice = seed_advice(found, TARGET_DIFFERENCE)
    overrides = sweep_overrides([sweep], runs, keys)
    return summarize(found, advice, runs, overrides, TARGET_DIFFERENCE), advice


def test_summary_sorts_real_equivalent_and_within_noise_and_prices_the_undecided(tmp_path):
    """3 seeds: the model's 0.05 is real; schedulers 0.0 apart with tiny noise are equivalent;
    with seed noise they are within noise, and the command asks for the seeds advice needs."""
    quiet = _quickstart_like(tmp_path / "quiet", seeds=3, model_shift=0.05, scheduler_shift=0.0,
                             seed_sd=0.0005, image_sd=0.001)  # fmt: skip
    summary, _ = _summary(quiet)
    classes = {k: len(v) for k, v in summary.classes.items()}
    assert classes == {"real": 2, "equivalent": 2, "within noise": 0, "not testable": 0}
    assert summary.next_step is None
    assert "Every comparison is decided." in summary_markdown(summary)
    noisy = _quickstart_like(tmp_path / "noisy", seeds=3, model_shift=0.05, scheduler_shift=0.0,
                             seed_sd=0.004, image_sd=0.001)  # fmt: skip
    summary, advice = _summary(noisy)
    within = summary.classes["within noise"]
    assert len(within) == 2 and len(summary.classes["real"]) == 2
    needed = [a.needed for a in advice if a.comparison in within]
    step = summary.next_step
    assert step.new_seeds == list(range(3, max(needed))) and step.extra_runs == 4 * len(
        step.new_seeds
    )
    seeds = ",".join(map(str, step.new_seeds))
    assert f"`python -m pet_seg.run -m experiment=quickstart trainer.seed={seeds}`" in "\n".join(
        summary_markdown(summary)
    )
