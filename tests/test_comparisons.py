"""The report's verdicts: about configurations (seeds and images counted), Holm across the
report, one seed → no verdict, and how many seeds a question needs; on fabricated run folders
with known answers, and one A/A sweep on the shipped real pets."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from statsmodels.stats.multitest import multipletests
from tiny import tiny_overrides

from pet_seg.report import write_report
from pet_seg.report.statistics.verdicts import ONE_MODEL

REPO = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(0)
BASE = RNG.uniform(0.5, 0.95, size=60)  # per-image difficulty shared by every run


def _fake_run(
    folder: Path, dice: np.ndarray, seed: int, minutes: float = 2.0, **choices: str
) -> None:
    """A finished run folder: overrides, config, summary and per-image test results."""
    overrides = [f"{k}={v}" for k, v in choices.items()] + [f"trainer.seed={seed}"]
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    runtime = {"choices": dict(choices)}
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": runtime}}))
    (folder / "config.yaml").write_text(yaml.safe_dump({"name": "t", "trainer": {"seed": seed}}))
    summary = {"status": "finished", "train_time_s": 60 * minutes}
    (folder / "summary.json").write_text(json.dumps(summary))
    lines = ["name,dice,iou,intersection,predicted,true"]
    lines += [f"img{i},{d:.6f},{d:.6f},1,1,1" for i, d in enumerate(dice)]
    (folder / "test_results.csv").write_text("\n".join(lines) + "\n")


def _seeded(folder: Path, shift: float, seeds: int, seed_sd: float, **choices: str) -> None:
    """``seeds`` runs of one configuration: BASE + shift + a seed effect + per-image noise."""
    for s in range(seeds):
        dice = BASE + shift + RNG.normal(0, seed_sd) + RNG.normal(0, 0.02, size=BASE.size)
        _fake_run(folder / f"{choices['scheduler']}{s}", dice, s, **choices)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_one_seed_per_arm_is_never_a_verdict_and_says_what_one_would_take(tmp_path):
    """Two trained models 0.1 apart on every image: image level only, never "real"."""
    _fake_run(tmp_path / "0", BASE, 0, scheduler="cosine")
    _fake_run(tmp_path / "1", BASE + 0.1, 0, scheduler="onecycle")
    report = write_report([tmp_path], samples=0)
    [c] = report.comparisons
    assert c.result.kind == "image-level" and not c.result.real and c.verdict == ONE_MODEL
    markdown = report.markdown.read_text()
    assert (
        "- **Not testable: one seed per arm**" in markdown and "1 pair(s) have one seed" in markdown
    )
    assert "real:" not in markdown
    # a verdict needs 3 seeds per arm: 2 more runs each, 2 min per run measured → 8 min
    assert (
        "trainer.seed=1,2`" in markdown and "(4 more runs, about 8.0 minutes at the 2.0" in markdown
    )
    [row] = _rows(tmp_path / "report" / "comparisons.csv")
    assert row["kind"] == "image-level" and row["real"] == "False" and row["p_holm"] == ""


def test_seed_noise_larger_than_the_gap_is_within_noise(tmp_path):
    """A gap of 0.01 under a seed SD of 0.03 with 3 seeds: no verdict of "real", although
    the image-level test on seed means would call it (the bug the verdicts fix)."""
    _seeded(tmp_path, 0.0, 3, 0.03, scheduler="cosine")
    _seeded(tmp_path, 0.01, 3, 0.03, scheduler="onecycle")
    report = write_report([tmp_path], samples=0)
    [c] = report.comparisons
    assert c.result.kind == "configuration" and c.result.seeds == (3, 3)
    assert c.verdict == "within noise"
    assert c.result.low < 0 < c.result.high


def test_a_real_shift_is_found_and_holm_adjusts_the_family(tmp_path):
    """2 models x 2 schedulers with 3 seeds: model shifts Dice by 0.05 (seed SD 0.005), the
    scheduler by nothing; four comparisons, Holm over all four."""
    for model, shift in (("unet", 0.0), ("resnet34_unet", 0.05)):
        for scheduler in ("cosine", "onecycle"):
            _seeded(tmp_path / model, shift, 3, 0.005, model=model, scheduler=scheduler)
    report = write_report([tmp_path], samples=0)
    found = {(c.changed, c.shared): c for c in report.comparisons}
    assert len(found) == 4
    for scheduler in ("cosine", "onecycle"):
        c = found[("model", f"scheduler={scheduler}")]
        assert c.verdict == "real: model=resnet34_unet better"
        expected = 0.05 if c.second == "resnet34_unet" else -0.05  # Δ = second − first
        assert c.result.mean == pytest.approx(expected, abs=0.02)
    raw = [c.result.p_value for c in report.comparisons]
    holm = multipletests(raw, method="holm")[1]
    assert [c.result.p_adjusted for c in report.comparisons] == pytest.approx(list(holm))
    markdown = report.markdown.read_text()
    assert "| p (Holm) |" in markdown and "adjusts the 4 configuration-level" in markdown
    assert "## How many seeds a question needs" in markdown
    [advice] = [a for a in report.advice if a.comparison.changed == "model"][:1]
    assert advice.seeds == 3 and advice.detectable is not None and advice.detectable > 0
    rows = _rows(tmp_path / "report" / "comparisons.csv")
    assert {r["kind"] for r in rows} == {"configuration"}
    assert all(float(r["p_holm"]) >= float(r["p_value"]) for r in rows)


def test_seed_sweeps_draw_one_band_per_configuration(tmp_path):
    """Curves of a seed sweep: one legend entry per configuration, not per seed."""
    from pet_seg.report.render.plots import _curve_groups
    from pet_seg.report.runs.folder import discover_runs
    from pet_seg.report.runs.labels import assign_labels

    _seeded(tmp_path, 0.0, 3, 0.01, scheduler="cosine")
    _seeded(tmp_path, 0.0, 3, 0.01, scheduler="onecycle")
    runs = discover_runs([tmp_path])
    assign_labels(runs)
    assert sorted(len(g) for g in _curve_groups(runs)) == [3, 3]


@pytest.mark.slow
def test_aa_sweep_on_the_shipped_pets_is_within_noise(tmp_path):
    """The same configuration twice, told apart by a key that changes nothing (``+arm``) and
    trained with different seeds: the verdict must be "within noise"."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    tiny = [*tiny_overrides(tmp_path / "data", epochs=2), "logger=none", "~hydra.callbacks.report"]
    for arm, seeds in (("a", "0,1"), ("b", "2,3")):
        command = [
            sys.executable, "-m", "pet_seg.run", "-m", f"+arm={arm}", f"trainer.seed={seeds}",
            *tiny, f"hydra.sweep.dir={tmp_path / arm}",
        ]  # fmt: skip
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "report"
    command = [sys.executable, "-m", "pet_seg.report", str(tmp_path / "a"), str(tmp_path / "b")]
    done = subprocess.run([*command, "--out", str(out), "--samples", "0"], cwd=REPO, env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    [row] = _rows(out / "comparisons.csv")
    assert (row["key"], row["kind"], row["seeds_first"], row["seeds_second"]) == (
        "arm", "configuration", "2", "2",
    )  # fmt: skip
    assert row["verdict"] == "within noise", row
