"""Paired statistics on per-image results whose answer is known, and the report's wording.

Constructed cases: identical runs (no difference, p = 1, CI [0, 0]); a shifted run (a clear
difference); differences symmetric around 0 (within noise); a constant shift (CI exactly the
shift). The report's verdict section is tested in tests/test_comparisons.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from pet_seg.report import write_report
from pet_seg.report.statistics.paired import PairedDifference, paired_difference, seed_interval

RNG = np.random.default_rng(7)
BASE = RNG.uniform(0.55, 0.95, size=60)  # per-image Dice of a made-up run


def test_identical_runs_differ_by_nothing() -> None:
    result = paired_difference(BASE, BASE.copy())
    assert result == PairedDifference(mean=0.0, low=0.0, high=0.0, p_value=1.0, n=60)
    assert result.within_noise


def test_a_shifted_run_is_a_clear_difference() -> None:
    noise = np.random.default_rng(1).normal(0.0, 0.02, size=BASE.size)
    shifted = BASE + 0.05 + noise
    result = paired_difference(shifted, BASE)
    assert result.mean == pytest.approx(0.05 + noise.mean(), abs=1e-12)
    assert 0.0 < result.low < result.mean < result.high
    assert result.low < 0.05 < result.high  # the true shift is inside the interval
    assert result.p_value < 1e-9 and not result.within_noise
    flipped = paired_difference(BASE, shifted)  # a − b: the sign follows
    assert flipped.mean == pytest.approx(-result.mean) and flipped.high < 0


def test_symmetric_differences_are_within_noise() -> None:
    """Half the images +0.03, the other half −0.03: mean 0, the signed ranks balance exactly."""
    shift = np.where(np.arange(BASE.size) % 2 == 0, 0.03, -0.03)
    result = paired_difference(BASE + shift, BASE)
    assert result.mean == pytest.approx(0.0, abs=1e-12)
    assert result.low < 0 < result.high and result.within_noise
    assert result.p_value == pytest.approx(1.0)


def test_a_constant_shift_has_no_spread_to_resample() -> None:
    a = np.array([0.5, 0.75, 1.0, 0.25])
    result = paired_difference(a, a - 0.125)  # exact in binary: every difference is 0.125
    assert (result.mean, result.low, result.high, result.n) == (0.125, 0.125, 0.125, 4)
    assert not result.within_noise
    assert result.p_value == pytest.approx(0.125)  # exact Wilcoxon, n = 4 all positive: 2/2⁴


def test_bootstrap_is_reproducible_and_seeded() -> None:
    noisy = BASE + np.random.default_rng(2).normal(0.01, 0.05, size=BASE.size)
    first, again = paired_difference(noisy, BASE), paired_difference(noisy, BASE)
    other = paired_difference(noisy, BASE, seed=1)
    assert first == again and (other.low, other.high) != (first.low, first.high)
    narrow = paired_difference(noisy, BASE, confidence=0.5)
    assert first.low < narrow.low < narrow.high < first.high


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        paired_difference(BASE, BASE[:-1])
    with pytest.raises(ValueError):
        paired_difference(np.array([]), np.array([]))
    single = paired_difference(np.array([0.9]), np.array([0.8]))
    assert math.isinf(single.low) and single.within_noise


def test_seed_interval_is_the_student_t_interval() -> None:
    # mean 0.82, sample std 0.02, t(0.975, df=2) = 4.302653: half-width 4.302653·0.02/√3
    summary = seed_interval(np.array([0.80, 0.82, 0.84]))
    assert summary.mean == pytest.approx(0.82) and summary.std == pytest.approx(0.02)
    assert summary.high - summary.mean == pytest.approx(0.0496828, abs=1e-6)
    assert summary.mean - summary.low == pytest.approx(0.0496828, abs=1e-6)
    assert math.isnan(seed_interval(np.array([0.8])).std)


# ---- the report's section, on fabricated run folders ------------------------------------------


def _fake_run(folder: Path, model: str, scheduler: str, dice: np.ndarray, seed: int = 0) -> None:
    overrides = [f"model={model}", f"scheduler={scheduler}"]
    if seed:
        overrides.append(f"trainer.seed={seed}")
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    runtime = {"choices": {"model": model, "scheduler": scheduler}}
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": runtime}}))
    config = {"name": "t", "trainer": {"seed": seed}}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "summary.json").write_text(json.dumps({"status": "finished"}))
    lines = ["name,dice,iou,intersection,predicted,true"]
    lines += [f"img{i},{d:.6f},{d:.6f},1,1,1" for i, d in enumerate(dice)]
    (folder / "test_results.csv").write_text("\n".join(lines) + "\n")


def test_seeds_are_averaged_per_image_and_given_a_t_interval(tmp_path: Path) -> None:
    for seed, offset in ((1, 0.0), (2, 0.02), (3, 0.04)):
        _fake_run(tmp_path / f"a{seed}", "unet", "cosine", BASE + offset, seed=seed)
        _fake_run(tmp_path / f"b{seed}", "unet", "onecycle", BASE + offset - 0.01, seed=seed)
    report = write_report([tmp_path], samples=0)
    [comparison] = report.comparisons
    # per image: mean over seeds of (base + 0.02 − 0.01) minus mean of (base + 0.02) = −0.01
    assert comparison.result.mean == pytest.approx(-0.01, abs=2e-6)
    assert [label for label, _ in report.seeds] == ["scheduler=cosine", "scheduler=onecycle"]
    summary = report.seeds[0][1]
    assert summary.n == 3 and summary.std == pytest.approx(0.02, abs=1e-6)
    markdown = report.markdown.read_text()
    assert f"| scheduler=cosine | 3 | {BASE.mean() + 0.02:.4f} ± 0.0200 | [" in markdown
