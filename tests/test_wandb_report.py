"""The sweep's comparison in W&B: the report run (read back with W&B's own reader, ``wandb leet
inspect``) and the saved W&B Report's spec (wandb-workspaces), built offline from sweep folders.

Only ``Report.save`` (the network call) is replaced; everything else is the real library.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny import real_subset
from wandb_workspaces import expr
from wandb_workspaces.reports import v2 as wr

from pet_seg.report import write_report
from pet_seg.report.__main__ import main as report_main
from pet_seg.report.callback import to_wandb
from pet_seg.report.publish.wandb_run import RUN_FILE, log_report_run
from pet_seg.tracking import no_wandb, start_wandb

REPO = Path(__file__).resolve().parents[1]
WANDB = Path(sys.executable).with_name("wandb")
DICE = np.linspace(0.6, 0.9, 10)


def _fake_run(folder: Path, overrides: dict, config: dict, dice: np.ndarray, choices=None) -> None:
    """A finished run folder as pet_seg.run leaves it (metrics for two epochs, no checkpoint)."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump([f"{k}={v}" for k, v in overrides.items()])
    )
    runtime = {"choices": {**overrides, **(choices or {})}}
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": runtime}}))
    logger = {"_target_": "pet_seg.tracking.start_wandb", "_partial_": True, "project": "pets"}
    logger |= {"entity": None, "mode": "offline", "group": None, "tags": ["demo"]}
    (folder / "config.yaml").write_text(
        yaml.safe_dump({"name": "demo", "logger": logger, **config})
    )
    summary = {"status": "finished", "best/val_dice": float(dice.mean())}
    (folder / "summary.json").write_text(json.dumps(summary))
    epochs = [
        {"kind": "epoch", "epoch": e, "lr": 1e-3 / e, "train/loss": 0.5 / e, "val/loss": 0.6 / e}
        | {"train/dice": 0.5, "val/dice": 0.5 + 0.1 * e}
        for e in (1, 2)
    ]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in epochs))
    lines = ["name,dice,iou,intersection,predicted,true"]
    lines += [f"img{i},{d:.6f},{d:.6f},1,1,1" for i, d in enumerate(dice)]
    (folder / "test_results.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """A 2 × 2 model × scheduler sweep folder; resnet34_unet scores 0.05 more on every image."""
    folder = tmp_path / "2026-01-01_00-00-00"
    for number, (model, scheduler) in enumerate(
        (m, s) for m in ("unet", "resnet34_unet") for s in ("cosine", "onecycle")
    ):
        config = {"model": {"_target_": model}, "scheduler": {"_target_": scheduler}}
        dice = DICE + (0.05 if model == "resnet34_unet" else 0.0)
        _fake_run(folder / str(number), {"model": model, "scheduler": scheduler}, config, dice)
    return folder


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> list[wr.Report]:
    """Replaces only the network call: ``Report.save`` records the report instead."""
    reports: list[wr.Report] = []

    def save(self: wr.Report, draft: bool = False, clone: bool = False) -> wr.Report:
        reports.append(self)
        self.id = "fake-id"
        return self

    monkeypatch.setattr(wr.Report, "save", save)
    return reports


def _panels(spec: wr.Report) -> list:
    return [p for block in spec.blocks if isinstance(block, wr.PanelGrid) for p in block.panels]


def test_wandb_report_spec_has_the_sweeps_panels_and_filters(sweep, saved, capsys) -> None:
    assert report_main([str(sweep), "--samples", "0", "--wandb-report", "--entity", "lab"]) == 0
    [spec] = saved
    assert (spec.entity, spec.project) == ("lab", "pets")  # the project from the runs' config
    grids = [b for b in spec.blocks if isinstance(b, wr.PanelGrid)]
    assert len(grids) == 1  # not a search: no parallel coordinates
    [runset] = grids[0].runsets
    assert (runset.entity, runset.project) == ("lab", "pets")
    # the sweep's group (name-<sweep folder>, as pet_seg.run names it), training runs only
    group = "demo-2026-01-01_00-00-00"
    filters = expr.expr_to_filters(runset.filters)
    assert filters.op == "AND"
    assert [(f.key.section, f.key.name, f.op, f.value) for f in filters.filters] == [
        ("run", "group", "=", group),
        ("run", "jobType", "=", "train"),
    ]
    lines = [p for p in _panels(spec) if isinstance(p, wr.LinePlot)]
    assert [(p.x, p.y) for p in lines] == [
        ("epoch", ["val/dice"]),
        ("epoch", ["val/loss"]),
        ("epoch", ["train/loss"]),
        ("epoch", ["lr"]),
    ]
    [bar] = [p for p in _panels(spec) if isinstance(p, wr.BarPlot)]
    assert bar.metrics == ["test/dice_mean"]
    assert not any(isinstance(p, wr.ParallelCoordinatesPlot) for p in _panels(spec))
    text = "\n".join(b.text for b in spec.blocks if isinstance(b, wr.MarkdownBlock))
    assert "Not testable: one seed per arm" in text and "real:" not in text
    first = spec.blocks[0]  # the report's summary opens the W&B Report too
    assert isinstance(first, wr.MarkdownBlock) and first.text.startswith("## Summary")
    assert first.text.count("1 vs 1 seeds") == 4 and "trainer.seed=1,2`" in first.text
    assert "W&B Report saved" in capsys.readouterr().out


def test_given_group_and_recorded_report_run_win(sweep, saved) -> None:
    (sweep / "report").mkdir()
    record = {"project": "other", "entity": "team", "group": "recorded-group", "id": "x"}
    (sweep / "report" / RUN_FILE).write_text(json.dumps(record))
    assert report_main([str(sweep), "--samples", "0", "--wandb-report"]) == 0
    assert report_main([str(sweep), "--samples", "0", "--wandb-report", "--group", "mine"]) == 0
    groups = [expr.expr_to_filters(_grid(s).runsets[0].filters).filters[0].value for s in saved]
    assert groups == ["recorded-group", "mine"]
    assert [(s.entity, s.project) for s in saved] == [("team", "other")] * 2


def test_a_failed_save_is_a_clear_error(sweep, monkeypatch, capsys) -> None:
    def refuse(self: wr.Report, draft: bool = False, clone: bool = False) -> None:
        raise ConnectionError("no network")

    monkeypatch.setattr(wr.Report, "save", refuse)
    assert report_main([str(sweep), "--samples", "0", "--wandb-report", "--entity", "e"]) == 2
    error = capsys.readouterr().err
    assert "ConnectionError: no network" in error and "wandb sync" in error
    assert (sweep / "report" / "report.md").is_file()  # the local report is written first


def _grid(spec: wr.Report) -> wr.PanelGrid:
    return next(b for b in spec.blocks if isinstance(b, wr.PanelGrid))


def test_search_gets_a_parallel_coordinates_panel(tmp_path, saved) -> None:
    """One axis per searched key (a config group via a field that differs), then the scores."""
    trials = [(3e-4, 1e-3, "none", 0.0), (2e-3, 1e-2, "flip_jitter", 0.5), (1e-3, 1e-4, "none", 0)]
    for number, (lr, wd, augmentation, hflip) in enumerate(trials):
        config = {
            "optimizer": {"lr": lr, "weight_decay": wd},
            "augmentation": {"_target_": "BatchAugment", "hflip": hflip, "vflip": hflip},
        }
        overrides = {"optimizer.lr": lr, "optimizer.weight_decay": wd, "augmentation": augmentation}
        choices = {"experiment": "search", "hydra/sweeper": "optuna"}
        _fake_run(tmp_path / str(number), overrides, config, DICE + number / 100, choices)
    assert report_main([str(tmp_path), "--samples", "0", "--wandb-report", "--entity", "e"]) == 0
    [plot] = [p for p in _panels(saved[0]) if isinstance(p, wr.ParallelCoordinatesPlot)]
    assert [(type(c.metric).__name__, c.metric.name) for c in plot.columns] == [
        ("Config", "optimizer.lr"),
        ("Config", "optimizer.weight_decay"),
        ("Config", "augmentation.hflip"),
        ("SummaryMetric", "best/val_dice"),
        ("SummaryMetric", "test/dice_mean"),
    ]


def _records(run_dir: Path) -> list[dict]:
    """The run's .wandb transaction log, as W&B's own reader prints it."""
    done = subprocess.run(
        [str(WANDB), "leet", "inspect", "--json", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _leet_summary(run_dir: Path) -> dict:
    done = subprocess.run(
        [str(WANDB), "leet", "inspect", "--summary", "--json", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_report_run_logs_table1_statistics_and_figures_offline(sweep, monkeypatch) -> None:
    monkeypatch.setenv("WANDB_SILENT", "true")
    report = write_report([sweep], samples=0)
    start = functools.partial(start_wandb, project="pets", mode="offline")
    info = log_report_run(report, start, name="demo", group="demo-group")
    run_dir = Path(info["dir"])
    assert info["mode"] == "offline" and run_dir.parent == sweep / "report" / "wandb"
    assert json.loads((sweep / "report" / RUN_FILE).read_text())["group"] == "demo-group"
    summary = _leet_summary(run_dir)
    assert summary["state"] == "finished" and summary["name"] == "demo report"
    values = summary["summary"]
    assert values["report/comparisons"] == 4
    # one seed per configuration: four image-level rows, no verdict called "real"
    assert (values["report/real_differences"], values["report/one_model_comparisons"]) == (0, 4)
    assert values["report/table1"]["_type"] == "table-file"
    assert (values["report/table1"]["nrows"], values["report/comparisons"]) == (4, 4)
    figures = sorted(k for k in values if k.startswith("figures/"))
    assert figures == sorted(f"figures/{p.stem}" for p in report.figures) and len(figures) == 6
    [run] = [r["run"] for r in _records(run_dir) if r["type"] == "run"]
    assert (run["job_type"], run["run_group"], run["project"]) == ("report", "demo-group", "pets")
    table = json.loads((run_dir / "files" / values["report/table1"]["path"]).read_text())
    assert table["columns"][:3] == ["label", "model", "scheduler"]
    row = dict(zip(table["columns"], table["data"][2], strict=True))
    assert row["model"] == "resnet34_unet" and row["test_dice_mean"] == pytest.approx(0.8)
    # the summary: a table of classified comparisons, the command deciding them in the summary
    summary_table = json.loads((run_dir / "files" / values["report/summary"]["path"]).read_text())
    assert summary_table["columns"][:2] == ["class", "key"] and len(summary_table["data"]) == 4
    assert {r[0] for r in summary_table["data"]} == {"not testable"}
    assert values["report/next_command"] == (  # no multirun.yaml: rebuilt from the swept values
        "python -m pet_seg.run -m model=unet,resnet34_unet scheduler=cosine,onecycle "
        "trainer.seed=1,2"
    )
    assert (values["report/next_runs"], values["report/undecided"]) == (8, 4)


def test_report_command_logs_the_report_run_like_the_sweep(sweep, monkeypatch) -> None:
    """``--wandb-run``: the runs' own logger config (offline here) and group."""
    monkeypatch.setenv("WANDB_SILENT", "true")
    assert report_main([str(sweep), "--samples", "0", "--wandb-run"]) == 0
    [run_dir] = (sweep / "report" / "wandb").glob("offline-run-*")
    [run] = [r["run"] for r in _records(run_dir) if r["type"] == "run"]
    assert (run["job_type"], run["run_group"]) == ("report", "demo-2026-01-01_00-00-00")
    assert _leet_summary(run_dir)["summary"]["report/one_model_comparisons"] == 4


def test_logger_none_starts_no_report_run(sweep) -> None:
    report = write_report([sweep], samples=0)
    assert log_report_run(report, no_wandb, name="demo", group="g") is None
    assert not (sweep / "report" / "wandb").exists() and not (sweep / "report" / RUN_FILE).exists()


def test_online_sweep_end_saves_the_wandb_report(sweep, saved, monkeypatch) -> None:
    """The callback's trigger: an online report run is followed by the saved W&B Report."""
    report = write_report([sweep], samples=0)
    online = {"project": "pets", "entity": "lab", "group": "g", "mode": "online", "dir": "x"}
    monkeypatch.setattr("pet_seg.report.publish.wandb_run.log_report_run", lambda *a, **k: online)
    (sweep / "report" / RUN_FILE).write_text(json.dumps(online))
    config = {
        "name": "demo",
        "logger": {"_target_": "pet_seg.tracking.no_wandb", "_partial_": True},
    }
    config["hydra"] = {"sweep": {"dir": str(sweep)}}
    from omegaconf import OmegaConf

    to_wandb(report, OmegaConf.create(config))
    assert [(s.entity, _grid(s).runsets[0].name) for s in saved] == [("lab", "g")]
    monkeypatch.setattr(
        "pet_seg.report.publish.wandb_run.log_report_run",
        lambda *a, **k: online | {"mode": "offline"},
    )
    to_wandb(report, OmegaConf.create(config))
    assert len(saved) == 1  # offline: nothing to save to


# ---- the headline command, end to end ---------------------------------------------------------


@pytest.mark.slow
def test_headline_sweep_ends_with_report_and_a_report_run_in_its_group(tmp_path) -> None:
    """``python -m pet_seg.run -m model=unet,resnet34_unet scheduler=cosine,onecycle``, tiny."""
    real = real_subset(tmp_path / "real")
    out = tmp_path / "sweep"
    command = [sys.executable, "-m", "pet_seg.run", "-m", "model=unet,resnet34_unet"]
    command += ["scheduler=cosine,onecycle", "data=oxford_pet_mini", f"data.root={real}"]
    command += ["model.base_channels=4", "trainer.epochs=1", "trainer.batch_size=4"]
    command += ["trainer.progress=false", "trainer.num_threads=1", f"hydra.sweep.dir={out}"]
    command += ["+hydra.callbacks.report.samples=1"]
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    markdown = (out / "report" / "report.md").read_text()
    # one seed per configuration: four image-level comparisons, none of them a verdict
    summary = markdown[markdown.index("## Summary") : markdown.index("## Table 1")]
    assert summary.count("1 vs 1 seeds") == 4 and "- **Real**: none" in summary
    assert "no verdict: one trained model each" not in markdown
    [report_run] = (out / "report" / "wandb").glob("offline-run-*")
    [job_run] = (out / "0" / "wandb").glob("offline-run-*")
    report_record = next(r["run"] for r in _records(report_run) if r["type"] == "run")
    job_record = next(r["run"] for r in _records(job_run) if r["type"] == "run")
    assert report_record["run_group"] == job_record["run_group"] == "default-sweep"
    assert (report_record["job_type"], job_record["job_type"]) == ("report", "train")
    assert _leet_summary(report_run)["summary"]["report/comparisons"] == 4
