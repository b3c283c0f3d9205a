"""``scripts/bench.py --check-numbers``: arms of seeds → the verdicts module, and the quickstart's
default launcher that the check stands behind."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from tiny import CONF, real_subset

from pet_seg.bench.numbers import QUIET, Arm, ArmResult, arm_command, parse_arm

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "bench.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _arm(name: str, scores: list[list[float]]) -> ArmResult:
    matrix = np.array(scores)
    names = [f"img{i}" for i in range(matrix.shape[1])]
    return ArmResult(Arm(name), list(range(len(matrix))), names, matrix, 1.0)


def test_the_verdict_is_the_verdicts_modules_configuration_difference() -> None:
    bench = _bench_module()
    a = _arm("A", [[0.70, 0.80, 0.90], [0.72, 0.81, 0.88], [0.69, 0.79, 0.91]])
    shifted = _arm("B", (a.scores + 0.05).tolist())
    v = bench.number_verdict(a, shifted, margin=0.01)
    assert v["kind"] == "configuration" and v["seeds"] == [3, 3] and v["images"] == 3
    assert v["delta"] == pytest.approx(0.05)  # B - A, not A - B
    assert v["ci95"][0] < v["delta"] < v["ci95"][1]
    assert v["verdict"] == "real" and not v["equivalent"]


def test_identical_arms_are_within_noise_and_equivalent() -> None:
    bench = _bench_module()
    rng = np.random.default_rng(0)
    base = 0.75 + 0.1 * rng.standard_normal(40)
    seeds = np.array([0.0, 0.002, -0.002])[:, None]  # small seed effects, no config effect
    a = _arm("A", (base + seeds + 0.001 * rng.standard_normal((3, 40))).tolist())
    b = _arm("B", (base + seeds[::-1] + 0.001 * rng.standard_normal((3, 40))).tolist())
    v = bench.number_verdict(a, b, margin=0.01)
    assert v["verdict"] == "within noise" and v["equivalent"]
    assert -0.01 < v["ci95"][0] <= v["delta"] <= v["ci95"][1] < 0.01


def test_one_seed_per_arm_gives_no_configuration_verdict() -> None:
    bench = _bench_module()
    v = bench.number_verdict(_arm("A", [[0.7, 0.8, 0.9]]), _arm("B", [[0.7, 0.8, 0.9]]), 0.01)
    assert v["kind"] == "image-level" and not v["equivalent"]


def test_arms_on_different_images_are_refused() -> None:
    bench = _bench_module()
    a, b = _arm("A", [[0.7, 0.8]] * 2), _arm("B", [[0.7, 0.8]] * 2)
    b.names = ["x", "y"]
    with pytest.raises(ValueError, match="different test images"):
        bench.number_verdict(a, b, 0.01)


def test_an_arm_is_one_seed_sweep_of_the_check_configuration(tmp_path: Path) -> None:
    arm = parse_arm("hydra/launcher=parallel trainer.channels_last=true", "B")
    command = arm_command(arm, [0, 1, 2], tmp_path / "B", ("experiment=quickstart",), 4)
    assert command[1:4] == ["-m", "pet_seg.run", "-m"]
    assert "trainer.seed=0,1,2" in command and "trainer.epochs=4" in command
    assert command[-3:] == [
        "hydra/launcher=parallel", "trainer.channels_last=true", f"hydra.sweep.dir={tmp_path / 'B'}"
    ]  # fmt: skip
    assert set(QUIET) <= set(command)


def _hydra(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


def test_the_quickstart_runs_two_jobs_side_by_side_and_basic_restores_one_at_a_time() -> None:
    cfg = _hydra("experiment=quickstart")
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 2
    assert cfg.trainer.num_threads is None  # loky's OMP_NUM_THREADS = cores // n_jobs decides
    assert str(cfg.trainer.precision) == "32" and cfg.trainer.channels_last is False
    basic = _hydra("experiment=quickstart", "hydra/launcher=basic")  # the check's arm A
    assert basic.hydra.launcher._target_.endswith("BasicLauncher")


@pytest.mark.slow
def test_check_numbers_trains_both_arms_and_writes_the_verdict(tmp_path: Path) -> None:
    """The whole mode on a tiny real-pets configuration: 2 seeds x 2 arms, JSON out."""
    root = real_subset(tmp_path / "data")
    config = (
        f"experiment=quickstart data.root={root} model=unet model.base_channels=4 "
        "trainer.batch_size=4 logger=none"
    )
    out = tmp_path / "check.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--check-numbers", "--seeds", "0,1", "--check-epochs", "1",
         "--check-config", config, "--candidate", "hydra/launcher=parallel",
         "--out-dir", str(tmp_path / "arms"), "--json", str(out)],
        check=True, cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "WANDB_MODE": "offline"},
    )  # fmt: skip
    result = json.loads(out.read_text())
    assert result["A"]["overrides"] == ["hydra/launcher=basic"]
    assert result["B"]["overrides"] == ["hydra/launcher=parallel"]
    for arm in ("A", "B"):
        assert [r["seed"] for r in result[arm]["runs"]] == [0, 1]
        assert all(0.0 <= r["test_dice_mean"] <= 1.0 for r in result[arm]["runs"])
    verdict = result["B_minus_A"]
    assert verdict["kind"] == "configuration" and verdict["seeds"] == [2, 2]
    assert verdict["verdict"] in ("within noise", "real") and verdict["images"] == 12
    means = [[r["test_dice_mean"] for r in result[arm]["runs"]] for arm in ("A", "B")]
    assert verdict["delta"] == pytest.approx(np.mean(means[1]) - np.mean(means[0]))
    same_seed = np.subtract(means[1], means[0])
    assert result["same_seed_B_minus_A"] == pytest.approx(same_seed.tolist())
    first_b = (tmp_path / "arms" / "B_candidate" / "0" / "run.log").read_text().splitlines()[0]
    assert "1 CPU thread (OMP_NUM_THREADS=1" in first_b  # the parallel arm ran one thread a job
