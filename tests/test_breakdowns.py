"""Breakdowns on constructed results tables whose group means and differences are known."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from pet_seg.report.render.breakdowns import write_breakdowns
from pet_seg.report.runs.folder import load_run
from pet_seg.report.runs.labels import assign_labels, group_runs
from pet_seg.report.statistics.groups import (
    breakdowns,
    group_means,
    image_groups,
    tercile_labels,
)

# 30 images: 20 cats of two breeds (10 Abyssinian, 10 Bengal), 6 dogs, 4 not in a split file
SPECIES = ["cat"] * 20 + ["dog"] * 6 + ["unknown"] * 4
BREEDS = ["Abyssinian"] * 10 + ["Bengal"] * 10 + ["beagle"] * 6 + ["unknown"] * 4
SHARES = np.linspace(0.1, 0.9, 30)  # terciles: 10 small, 10 medium, 10 large


def _run(folder: Path, scheduler: str, seed: int, dice: np.ndarray) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    overrides = [f"scheduler={scheduler}", f"trainer.seed={seed}"]
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    config = {"name": "t", "trainer": {"seed": seed}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "summary.json").write_text(json.dumps({"status": "finished"}))
    with (folder / "test_results.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "dice", "iou", "intersection", "predicted", "true", "species",
                         "breed", "pet_share", "original_height", "original_width",
                         "dice_trimap", "boundary_iou", "boundary_width_px"])  # fmt: skip
        for i, d in enumerate(dice):
            writer.writerow([f"img_{i}", d, d, 1, 1, 1, SPECIES[i], BREEDS[i], SHARES[i],
                             100, 100 + i, d - 0.1, d / 2, 2.0])  # fmt: skip
    calibration = {"test": {"ece": 0.1 + seed / 100}, "threshold": 0.4,
                   "test_dice_at_threshold": 0.8, "tuning_gain": 0.05}  # fmt: skip
    (folder / "calibration.json").write_text(json.dumps(calibration))
    return folder


@pytest.fixture
def sweep(tmp_path: Path):
    """Cosine vs one-cycle, 2 seeds each: one-cycle is 0.1 better on cats only."""
    rng = np.random.default_rng(0)
    base = 0.7 + 0.05 * rng.standard_normal(30)
    lift = np.where(np.array(SPECIES) == "cat", 0.1, 0.0)
    folders = [
        _run(tmp_path / "0", "cosine", 0, base + 0.001),
        _run(tmp_path / "1", "cosine", 1, base - 0.001),
        _run(tmp_path / "2", "onecycle", 0, base + lift + 0.002),
        _run(tmp_path / "3", "onecycle", 1, base + lift - 0.002),
    ]
    runs = [load_run(f) for f in folders]
    keys = assign_labels(runs)
    return runs, group_runs(runs), keys, base


def test_terciles_split_evenly_and_name_their_cuts():
    labels = tercile_labels(SHARES, "share")
    assert [labels.count(x) for x in sorted(set(labels))] == [10, 10, 10]
    assert labels[0].startswith("small (≤ ") and labels[-1].startswith("large (> ")
    assert tercile_labels(np.array([np.nan, 0.1]), "share") == ["unknown", "unknown"]


def test_groups_of_a_table_without_attribute_columns_are_unknown():
    groups = image_groups({"name": ["a", "b"], "dice": ["0.5", "0.6"]})
    assert set(groups) == {"species", "breed", "pet size", "picture size"}
    assert all(labels == ["unknown", "unknown"] for labels in groups.values())


def test_group_means_are_the_seed_averaged_means_and_small_groups_get_none(sweep):
    _, groups, keys, base = sweep
    arms, _ = breakdowns(groups, keys)
    cosine = next(a for a in arms if a.label == "scheduler=cosine")
    means = group_means(cosine, "species")
    assert means["cat"] == (20, pytest.approx(base[:20].mean()))
    assert means["dog"][0] == 6 and np.isnan(means["dog"][1])  # under 10 images: no number
    assert list(group_means(cosine, "breed")) == ["Abyssinian", "beagle", "Bengal", "unknown"]
    sizes = list(group_means(cosine, "pet size"))
    assert [s.split()[0] for s in sizes] == ["small", "medium", "large"]


def test_per_group_differences_find_the_group_that_moved(sweep):
    _, groups, keys, _ = sweep
    _, pairs = breakdowns(groups, keys)
    (pair,) = pairs
    assert pair.changed == "scheduler" and pair.values == ("cosine", "onecycle")
    found = {(g.dimension, g.group): g for g in pair.differences}
    cat = found[("species", "cat")].result
    assert cat.kind == "configuration" and cat.mean == pytest.approx(0.1)
    assert cat.real and cat.low < 0.1 < cat.high and cat.p_adjusted is not None
    assert found[("species", "dog")].result is None  # 6 images: too few
    bengal = found[("breed", "Bengal")].result
    assert bengal.mean == pytest.approx(0.1)
    # the gallery's order: the biggest per-image gains are cats
    top = np.argsort(pair.image_difference)[::-1][:3]
    assert all(SPECIES[i] == "cat" for i in top)


def test_section_markdown_and_tables(sweep, tmp_path):
    runs, groups, keys, _ = sweep
    section = write_breakdowns(groups, keys, runs, tmp_path / "out")
    text = "\n".join(section.markdown)
    assert "## Where a difference comes from" in text
    assert "| scheduler=cosine | 2 |" in text
    assert "too few" in text  # the dogs
    assert "**`scheduler=onecycle` vs `scheduler=cosine`**" in text
    assert "| species | cat | 20 | +0.1000 |" in text
    columns, rows = section.tables["scores"]
    row = dict(zip(columns, rows[0], strict=True))
    assert row["ece"] == pytest.approx(0.105) and row["gain"] == pytest.approx(0.05)
    assert {"by species", "by breed", "by pet size", "by picture size"} <= set(section.tables)
    # calibration figures drawn from calibration.json without bins are skipped, not an error;
    # the gallery needs checkpoints, so it is skipped with a note
    assert "gallery skipped" in text


@pytest.mark.slow
def test_tiny_run_records_the_extras_and_the_report_shows_them(tmp_path):
    import os
    import subprocess
    import sys

    from tiny import tiny_overrides

    from pet_seg.extra_scores import COLUMNS
    from pet_seg.report import write_report

    run = tmp_path / "run"
    command = [sys.executable, "-m", "pet_seg.run", *tiny_overrides(tmp_path / "data", epochs=1),
               "logger=none", f"hydra.run.dir={run}"]  # fmt: skip
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(repo)})  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with (run / "test_results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert set(COLUMNS) <= set(rows[0]) and len(rows) == 12
    assert {row["species"] for row in rows} == {"cat", "dog"}
    record = json.loads((run / "calibration.json").read_text())
    assert record["picked_by"] == "val" and len(record["test"]["dice"]) == 19
    assert record["test_dice_at_0.5"] == pytest.approx(np.mean([float(r["dice"]) for r in rows]))
    report = write_report([run], tmp_path / "report", samples=0)
    text = report.markdown.read_text()
    assert "## Where a difference comes from" in text and "too few" in text  # 12 images
    assert {"reliability.png", "threshold_dice.png"} <= {p.name for p in report.figures}
