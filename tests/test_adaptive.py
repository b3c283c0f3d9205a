"""The seed-adaptive sweeper end to end (hydra/sweeper=verdict), as a user runs it: a sweep on
tiny real pets, killed (SIGKILL) as round 2 starts, rerun with the same command, finishing
without retraining a finished run, with a settled comparison in adaptive.json and report.md;
the ledger and report section on a hand-made ledger; and the plan's price.

The sweep is a 2 x 2 grid: learning rate 1e-6 or 1e-2, and ``trainer.epoch_lines`` on or off,
which only prints, so configurations that differ in it train identically. At lr 1e-6 every
seed's model stays almost where it started, so those two arms score the same with a tiny seed
SD: that comparison settles as equivalent within the test's ±0.02, a known answer. The
comparisons at lr 1e-2 (seed SD ~0.07 after one epoch) stay open, so there is a round 2.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from tiny import tiny_overrides

from pet_seg.adaptive.ledger import ComparisonRecord, Ledger, read_ledger, write_ledger
from pet_seg.adaptive.sweeper import grid, job_folder
from pet_seg.report.render.adaptive import adaptive_counts, adaptive_markdown

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "1"}


def _command(sweep: Path, data_root: Path) -> list[str]:
    return [
        sys.executable, "-m", "pet_seg.run", "-m", "hydra/sweeper=verdict", "logger=none",
        *tiny_overrides(data_root, epochs=1),
        "optimizer.lr=1e-6,1e-2", "trainer.epoch_lines=true,false",
        "hydra.sweeper.cap=3", "hydra.sweeper.delta=0.02", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip


def _wait_for_round_2(sweep: Path, process: subprocess.Popen, timeout: float = 1800) -> None:
    """Until round 2's first job folder (a third seed) exists: its job has started."""
    deadline = time.monotonic() + timeout
    while not any(sweep.glob("c*_seed2")):
        assert process.poll() is None, "the sweep ended before round 2"
        assert time.monotonic() < deadline, "round 2 never started"
        time.sleep(0.05)


@pytest.mark.slow
def test_a_killed_sweep_resumes_without_retraining_and_settles(tmp_path):
    sweep, data_root = tmp_path / "sweep", tmp_path / "data"
    command = _command(sweep, data_root)
    process = subprocess.Popen(command, cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for_round_2(sweep, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    round_1 = [f"c{c}_seed{s}" for c in range(4) for s in (0, 1)]
    assert {p.name for p in sweep.glob("c*_seed[01]")} == set(round_1)
    kept = {name: (sweep / name / "metrics.jsonl").stat().st_mtime_ns for name in round_1}
    assert read_ledger(sweep).rounds == 1

    result = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True,
                            timeout=1800)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for name, mtime in kept.items():  # round 1's runs were not trained again
        assert (sweep / name / "metrics.jsonl").stat().st_mtime_ns == mtime, name
    ledger = read_ledger(sweep)
    folders = {p.name for p in sweep.glob("c*_seed*")}  # one per (configuration, seed) used
    assert folders == {f"c{c}_seed{s}" for c, n in enumerate(ledger.seeds) for s in range(n)}
    for name in folders:
        assert json.loads((sweep / name / "summary.json").read_text())["status"] == "finished"
    assert ledger.fixed_runs == 12 and ledger.runs == sum(ledger.seeds) == len(folders)
    (same,) = [c for c in ledger.comparisons if c.changed == "trainer.epoch_lines"
               and "optimizer.lr=1e-06" in c.shared]  # fmt: skip
    assert same.decision == "equivalent" and same.mean == 0.0
    assert -0.02 < same.low <= same.high < 0.02
    report = (sweep / "report" / "report.md").read_text()
    assert "## Seed-adaptive verdicts" in report
    assert "equivalent: the interval lies inside ±0.02" in report


def _ledger() -> Ledger:
    design = {"first": 2, "cap": 8, "alpha": 0.05, "delta": 0.005, "comparisons": 3,
              "spending": "obrien_fleming"}  # fmt: skip
    comparisons = [
        ComparisonRecord("lr", "1e-5", "2e-3", "", "real", 3, 4, 0.3, 0.2, 0.4),
        ComparisonRecord("lr", "2e-3", "4e-3", "", "undecided", 7, 8, 0.004, -0.01, 0.018),
        ComparisonRecord("lr", "1e-5", "4e-3", "", "equivalent", 5, 6, 0.001, -0.004, 0.004),
    ]
    return Ledger(design, [["lr=1e-5"], ["lr=2e-3"], ["lr=4e-3"]], comparisons, 7, 20, 24,
                  [6, 8, 8])  # fmt: skip


def test_the_ledger_round_trips_and_the_report_says_when_and_why(tmp_path):
    write_ledger(tmp_path, _ledger())
    ledger = read_ledger(tmp_path)
    assert ledger == _ledger()
    text = "\n".join(adaptive_markdown(ledger))
    assert "| lr | 2e-3 vs 1e-5 | — | 3 | 4 | +0.3000 | [+0.2000, +0.4000] | real" in text
    assert "lr=2e-3 better" in text
    assert "cap of 8 seeds reached: it could still hide a difference of 0.0180" in text
    assert "equivalent: the interval lies inside ±0.005" in text
    assert "Runs: **20** in 7 rounds" in text and "**24**" in text and "**4 saved**" in text
    counts = adaptive_counts(tmp_path)
    assert counts["adaptive/real"] == 1 and counts["adaptive/saved"] == 4
    assert (
        adaptive_markdown(read_ledger(tmp_path / "none"))
        == []
        == list(adaptive_counts(tmp_path / "none"))
    )


@pytest.mark.slow
def test_the_plan_prices_the_worst_and_the_expected_case():
    result = subprocess.run(
        [sys.executable, "-m", "pet_seg.plan", "experiment=verdict_demo", "trainer.epochs=1"],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("Seed-adaptive"))
    assert "3 configurations, 3 comparisons" in line
    assert (
        "First batch 6 runs" in line
        and "worst case (every configuration at the cap) 15 runs" in line
    )
    assert "if no configuration differs" in line and "changes test Dice by 0.02" in line


def test_the_demo_selects_the_verdict_sweeper_on_a_stable_folder():
    from hydra import compose, initialize_config_dir
    from tiny import CONF

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", ["experiment=verdict_demo"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.pet_seg_verdict.PetSegVerdictSweeper"
    assert (sweeper.first, sweeper.cap, sweeper.delta) == (2, 5, 0.005)
    assert dict(sweeper.params) == {"model.base_channels": "4,8,12"}
    assert "${now:" not in OmegaConf.to_yaml(cfg.hydra.sweep)  # a rerun finds the same folder


def test_the_grid_expands_like_the_basic_sweeper_and_leaves_seeds_to_the_sweeper():
    jobs = grid({"model": "unet,resnet34_unet"}, ["scheduler=cosine,onecycle", "trainer.epochs=2"])
    assert len(jobs) == 4 and all("trainer.epochs=2" in job for job in jobs)
    assert {tuple(sorted(j for j in job if j.startswith(("model", "sched")))) for job in jobs} == {
        (f"model={m}", f"scheduler={s}") for m in ("unet", "resnet34_unet")
        for s in ("cosine", "onecycle")
    }  # fmt: skip
    with pytest.raises(ValueError, match="chooses the seeds"):
        grid(None, ["model=unet,resnet34_unet", "trainer.seed=0,1"])
    assert job_folder(3, 7) == "c3_seed7"
