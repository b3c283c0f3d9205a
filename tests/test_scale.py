"""The scale-out engines as a user runs them: joblib, submitit (local) and an Optuna search.

Each sweep runs `python -m pet_seg.run -m ...` in a subprocess on tiny data and must leave one
complete run folder per job, exactly as the basic launcher does.
"""

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
from joblib import Parallel, delayed
from tiny import CONF, tiny_overrides
from torch.utils.data import TensorDataset

from pet_seg.training.machinery import make_loader, worker_context
from pet_seg.training.settings import TrainerSettings

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "1"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """Generate and cache the tiny dataset once, before any sweep.

    Parallel jobs that find no dataset all generate it at the same time, and each one swaps its
    copy into place under the others (pet_seg.data.synthetic._move_into_place); these tests are
    about the launchers, so the data is ready before they start.
    """
    root = tmp_path_factory.mktemp("scale-data")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        instantiate(compose("config", overrides=tiny_overrides(root)).data)
    return root


def _sweep(sweep_dir: Path, data_root: Path, *args: str) -> None:
    """`python -m pet_seg.run -m <args>` on tiny 1-epoch runs, writing to ``sweep_dir``."""
    command = [
        sys.executable,
        "-m",
        "pet_seg.run",
        "-m",
        *args,
        *tiny_overrides(data_root, epochs=1),
        f"hydra.sweep.dir={sweep_dir}",
    ]
    result = subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    # Hydra logs a failed job (e.g. a failed Optuna trial) on stdout, the traceback on stderr
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _complete_jobs(sweep_dir: Path, count: int) -> list[Path]:
    """The job folders ``0 .. count-1``, each holding a finished run."""
    jobs = sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=str)
    assert [j.name for j in jobs] == [str(i) for i in range(count)]
    for job in jobs:
        for file in ["test_results.csv", "checkpoints/best.pt", "metrics.jsonl"]:
            assert (job / file).is_file(), f"{job / file} missing"
        summary = json.loads((job / "summary.json").read_text())
        assert summary["status"] == "finished", summary
    return jobs


def _launcher(job: Path) -> str:
    return yaml.safe_load((job / ".hydra" / "hydra.yaml").read_text())["hydra"]["launcher"]


def test_search_and_parallel_presets_compose_with_the_plugins():
    overrides = ["experiment=search", "hydra/launcher=parallel"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    sweeper, launcher = cfg.hydra.sweeper, cfg.hydra.launcher
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert set(sweeper.params) == {"optimizer.lr", "optimizer.weight_decay", "augmentation"}
    assert launcher._target_.endswith("JoblibLauncher") and launcher.n_jobs == 2
    assert cfg.trainer.num_threads is None  # loky's OMP_NUM_THREADS split applies


@pytest.mark.slow
def test_joblib_runs_two_jobs_at_once_each_with_its_folder_and_wandb_run(data_root, tmp_path):
    sweep = tmp_path / "joblib"
    _sweep(sweep, data_root, "model=unet,resnet34_unet", "hydra/launcher=parallel")
    jobs = _complete_jobs(sweep, 2)
    launcher = _launcher(jobs[0])
    assert launcher["_target_"].endswith("JoblibLauncher") and launcher["n_jobs"] == 2
    # in parallel: each job wrote its config (start) before the other wrote its summary (end)
    started = [(job / "config.yaml").stat().st_mtime for job in jobs]
    ended = [(job / "summary.json").stat().st_mtime for job in jobs]
    assert max(started) < min(ended), "the two jobs did not overlap"
    names = {json.loads((job / "summary.json").read_text())["name"] for job in jobs}
    assert names == {"model=unet", "model=resnet34_unet"}
    logs = [next((job / "wandb").glob("offline-run-*/run-*.wandb")) for job in jobs]
    assert len({log.parent.name for log in logs}) == 2  # one W&B run per job
    assert all(f"default-{sweep.name}".encode() in log.read_bytes() for log in logs)


def _sum_through_a_loader_worker() -> tuple[str | None, float]:
    """Run in a joblib (loky) worker, as a job of hydra/launcher=parallel is."""
    settings = TrainerSettings(num_workers=1)
    loader = make_loader(TensorDataset(torch.arange(8.0)), 4, shuffle=False, settings=settings)
    return worker_context(1), sum(float(batch.sum()) for (batch,) in loader)


def test_loader_workers_start_inside_a_joblib_worker():
    assert worker_context(1) is None  # outside joblib: Python's own default
    results = Parallel(n_jobs=2, backend="loky")(
        delayed(_sum_through_a_loader_worker)() for _ in range(2)
    )  # n_jobs=1 would run in this process
    assert results == [("fork", sum(range(8)))] * 2


@pytest.mark.slow
def test_parallel_sweep_with_loader_workers_finishes(data_root, tmp_path):
    sweep = tmp_path / "workers"
    overrides = ["trainer.seed=0,1", "trainer.num_workers=1", "data.cache=false", "logger=none"]
    _sweep(sweep, data_root, *overrides, "hydra/launcher=parallel")
    jobs = _complete_jobs(sweep, 2)
    assert all(_launcher(job)["_target_"].endswith("JoblibLauncher") for job in jobs)


@pytest.mark.slow
def test_submitit_local_runs_each_job_in_its_own_process_and_folder(data_root, tmp_path):
    sweep = tmp_path / "submitit"
    _sweep(
        sweep,
        data_root,
        "model=unet,resnet34_unet",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=60",  # a hang guard, never reached
        "trainer.num_threads=1",  # submitit_local starts all jobs at once on our 2 cores
        "logger=none",
    )
    jobs = _complete_jobs(sweep, 2)
    assert _launcher(jobs[0])["_target_"].endswith("LocalLauncher")
    results = list((sweep / ".submitit").glob("*/*_result.pkl"))
    assert len(results) == 2, "submitit did not record both jobs"


@pytest.mark.slow
def test_optuna_search_maximizes_validation_dice_over_its_search_space(data_root, tmp_path):
    sweep = tmp_path / "search"
    search = ["experiment=search", "hydra.sweeper.n_trials=2", "logger=none"]
    # the report callback has its own tests; here it would only add half a minute of plotting
    _sweep(sweep, data_root, *search, "~hydra.callbacks.report")
    jobs = _complete_jobs(sweep, 2)
    result = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(result["best_params"]) == {
        "optimizer.lr",
        "optimizer.weight_decay",
        "augmentation",
    }
    dice = [json.loads((job / "summary.json").read_text())["best/val_dice"] for job in jobs]
    assert result["best_value"] == pytest.approx(max(dice))
    for job in jobs:
        config = yaml.safe_load((job / "config.yaml").read_text())
        assert 1e-4 <= config["optimizer"]["lr"] <= 1e-2
        assert 1e-5 <= config["optimizer"]["weight_decay"] <= 1e-1
