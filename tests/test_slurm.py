"""hydra/launcher=submitit_slurm against a real one-node SLURM (tests/slurm_cluster.py).

Each sweep runs `python -m pet_seg.run -m ... hydra/launcher=submitit_slurm` in a subprocess,
as a user does on a login node, on tiny real data. A job that SLURM requeues, by hand
(`scontrol requeue`, as a preemption does) or after its time limit (submitit requeues itself on
SLURM's warning signal), continues from checkpoints/last.pt with trainer.resume=true and ends
with the same per-image test scores as an uninterrupted run with the basic launcher. Skipped
where no SLURM can be started here (see the skip reason).
"""

import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from slurm_cluster import SlurmCluster, local_slurm
from tiny import CONF, tiny_overrides

REPO = Path(__file__).resolve().parents[1]
ENV = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "1"}
# one thread per run: the SLURM job and its reference run side by side on 2 cores, and the
# reference must compute exactly what the job computes
ONE_THREAD = ["trainer.num_threads=1", "logger=none"]
SLURM = ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug"]
SLURM += ["hydra.launcher.cpus_per_task=1"]
# the job must still be training when SLURM kills it, some seconds after the requeue (KillWait)
TRAIN_SECONDS_AFTER_REQUEUE = 25
TIMEOUT = [
    "hydra.launcher.timeout_min=1",  # SLURM's smallest time limit
    # USR2 10 s before the limit: time to requeue. SLURM may send it up to 60 s early (man
    # sbatch; 30 s seen here), so the first seconds of a 1-minute job are at risk.
    "hydra.launcher.signal_delay_s=10",
    "hydra.launcher.max_num_timeout=3",
    "trainer.resume=true",
]
# Epochs for the time-limit test: training must outlast the first 1-minute job (the warning
# comes ~50 s in) yet end within max_num_timeout=3 requeues (~40 s of training each). Idle
# here an epoch took 0.3-0.8 s (60 epochs ended inside the first minute; 400 needed more than
# four jobs), so 160 sits in the window; a first-epoch calibration misjudged it by up to 5x.
TIMEOUT_EPOCHS = 160


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> SlurmCluster:
    with local_slurm(tmp_path_factory.mktemp("slurm")) as running:
        yield running


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """The tiny dataset, cached before any job starts (as in tests/test_scale.py)."""
    root = tmp_path_factory.mktemp("slurm-data")
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        instantiate(compose("config", overrides=tiny_overrides(root)).data)
    return root


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_leftovers():
    """A failed test leaves no sweep waiting (the cluster's teardown cancels its jobs)."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def _start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """``command`` in the background, its output in ``log`` (submitit warns on every poll)."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, cwd=REPO, env={**env, **ENV}, stdout=out, stderr=subprocess.STDOUT
        )
    STARTED.append(process)
    return process


def _finish(
    process: subprocess.Popen, folder: Path, timeout: float, cluster: SlurmCluster | None = None
) -> None:
    """Wait for the sweep (or run) writing ``folder``; it must succeed.

    Without accounting submitit learns that a job ended only from its result file, so a job
    that died without one (killed by a signal before submitit's handler was installed, or at
    its time limit) leaves the sweep waiting forever: with ``cluster``, a sweep still waiting
    20 s after SLURM holds no job fails here.
    """
    log = folder.parent / f"{folder.name}.log"
    deadline, idle_since = time.monotonic() + timeout, None
    while process.poll() is None and time.monotonic() < deadline:
        submitted = cluster is not None and any((folder / ".submitit").glob("*/*_submitted.pkl"))
        if submitted and not cluster.command("squeue", "-h", "-o", "%i").strip():
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 20:
                break
        else:
            idle_since = None
        time.sleep(1)
    if process.poll() is None:
        process.kill()
        process.wait()
    lines = log.read_text(errors="replace").splitlines()
    quiet = [line for line in lines if "sacct" not in line and "accounting storage" not in line]
    jobs = sorted((folder / ".submitit").glob("*/*_0_log.*")) if cluster else []
    logs = [f"== {path}\n{path.read_text(errors='replace')[-3000:]}" for path in jobs]
    assert process.returncode == 0, "\n".join(quiet[-40:] + logs)


def _slurm_sweep(cluster: SlurmCluster, sweep: Path, *args: str) -> subprocess.Popen:
    """`python -m pet_seg.run -m <args> hydra/launcher=submitit_slurm ...` into ``sweep``."""
    command = [sys.executable, "-m", "pet_seg.run", "-m", *args, *SLURM]
    command += [f"hydra.sweep.dir={sweep}"]
    sweep.mkdir(parents=True)
    return _start(command, sweep.parent / f"{sweep.name}.log", cluster.env)


def _reference(run_dir: Path, *args: str) -> subprocess.Popen:
    """The same run, uninterrupted, with the basic launcher."""
    command = [sys.executable, "-m", "pet_seg.run", *args, f"hydra.run.dir={run_dir}"]
    return _start(command, run_dir.parent / f"{run_dir.name}.log", dict(os.environ))


def _array_tasks(sweep: Path) -> dict[int, str]:
    """Job number -> SLURM job id (``<array job>_<task>``), from submitit's log folders."""
    ids = [p.name for p in (sweep / ".submitit").iterdir() if re.fullmatch(r"\d+_\d+", p.name)]
    return {int(i.split("_")[1]): i for i in ids}


def _job_id(job: Path) -> str:
    """The SLURM job id a job folder was written by (submitit's: ``<array job>_<task>``, or
    a plain job id for a one-job sweep, which submitit submits as a plain job)."""
    return yaml.safe_load((job / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["id"]


def _job_log(sweep: Path, job_id: str) -> list[str]:
    """submitit's own lines in the job's log (all attempts: sbatch --open-mode=append); the
    same messages also come through Hydra's logging, in another format, and on stderr."""
    log = sweep / ".submitit" / job_id / f"{job_id}_0_log.out"
    return [
        line
        for line in log.read_text(errors="replace").splitlines()
        if line.startswith("submitit ")
    ]


def _count(lines: list[str], pattern: str) -> list[re.Match]:
    return [m for line in lines if (m := re.search(pattern, line))]


def _epochs(run_dir: Path) -> dict[int, str]:
    """Epoch -> its line in metrics.jsonl (wall times included: each line is one attempt's)."""
    path = run_dir / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    records = [(json.loads(line), line) for line in lines if '"kind": "epoch"' in line]
    return {record["epoch"]: line for record, line in records if record.get("kind") == "epoch"}


def _finished(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished", summary
    return summary


def _slurm_job(cluster: SlurmCluster, job_id: str) -> dict[str, str]:
    """`scontrol show job` as a dict (SLURM keeps finished jobs for MinJobAge = 10 min)."""
    text = cluster.command("scontrol", "show", "job", "--oneliner", job_id)
    return dict(field.split("=", 1) for field in text.split() if "=" in field)


@pytest.fixture(scope="module")
def two_job_sweep(cluster, data_root, tmp_path_factory) -> Path:
    sweep = tmp_path_factory.mktemp("slurm-sweep") / "sweep"
    args = ["trainer.seed=0,1", *tiny_overrides(data_root, epochs=1), *ONE_THREAD]
    _finish(
        _slurm_sweep(cluster, sweep, *args, "hydra.launcher.timeout_min=10"), sweep, 300, cluster
    )
    return sweep


@pytest.mark.slow
def test_a_sweep_runs_each_job_as_a_slurm_array_task_with_its_folder(cluster, two_job_sweep):
    sweep = two_job_sweep
    tasks = _array_tasks(sweep)
    assert sorted(tasks) == [0, 1]
    assert len({job_id.split("_")[0] for job_id in tasks.values()}) == 1  # one job array
    for num, job_id in tasks.items():
        job = sweep / str(num)
        _finished(job)
        assert (job / "test_results.csv").is_file() and (job / "checkpoints" / "best.pt").is_file()
        hydra = yaml.safe_load((job / ".hydra" / "hydra.yaml").read_text())["hydra"]
        assert hydra["launcher"]["_target_"].endswith("SlurmLauncher")
        assert hydra["job"]["id"] == job_id  # the job ran as that array task
        assert _count(_job_log(sweep, job_id), "Job completed successfully")
        slurm = _slurm_job(cluster, job_id)
        assert (slurm["JobState"], slurm["Partition"], slurm["ExitCode"]) == (
            "COMPLETED",
            "debug",
            "0:0",
        )
    assert (sweep / "report" / "report.md").is_file()


def _epoch_seconds(sweep: Path) -> float:
    """Seconds per epoch of the 1-epoch sweep's jobs (one thread each, side by side)."""
    records = [json.loads(line) for job in ["0", "1"] for line in _epochs(sweep / job).values()]
    return max(record["time/epoch_s"] for record in records)


def _epochs_for(seconds: float, sweep: Path) -> int:
    """About ``seconds`` of training here, measured on the 1-epoch sweep (4 .. 60 epochs)."""
    return max(4, min(60, math.ceil(seconds / _epoch_seconds(sweep))))


@pytest.mark.slow
def test_a_requeued_job_resumes_from_last_pt_to_the_same_test_scores(
    cluster, data_root, two_job_sweep, tmp_path
):
    epochs = 2 + _epochs_for(TRAIN_SECONDS_AFTER_REQUEUE, two_job_sweep)
    args = [*tiny_overrides(data_root, epochs=epochs), *ONE_THREAD]
    sweep = tmp_path / "preempted"
    preempt = ["trainer.resume=true", "hydra.launcher.timeout_min=10", "~hydra.callbacks.report"]
    running = _slurm_sweep(cluster, sweep, *args, *preempt)
    reference = _reference(tmp_path / "reference", *args)
    job = sweep / "0"
    deadline = time.monotonic() + 300
    while not (max(_epochs(job), default=0) >= 2 and (job / "checkpoints" / "last.pt").is_file()):
        assert running.poll() is None and time.monotonic() < deadline, "no epoch 2 in SLURM"
        time.sleep(0.2)
    before = _epochs(job)
    assert max(before) < epochs
    job_id = _job_id(job)
    cluster.command("scontrol", "requeue", job_id)  # what a preemption with requeue does

    _finish(running, sweep, 400, cluster)
    _finish(reference, tmp_path / "reference", 300)
    _finished(job)
    log = _job_log(sweep, job_id)
    assert _count(log, "Bypassing signal SIGTERM")  # submitit ignores it; SIGKILL follows
    assert len(_count(log, rf"Starting with JobEnvironment\(job_id={job_id},")) == 2
    assert _slurm_job(cluster, job_id)["Restarts"] == "1"
    assert _epochs(job)[1] == before[1]  # epoch 1 was not trained again: resumed from last.pt
    expected = (tmp_path / "reference" / "test_results.csv").read_text()
    assert (job / "test_results.csv").read_text() == expected


@pytest.mark.slow
def test_a_job_past_its_time_limit_is_requeued_and_resumes_to_the_same_test_scores(
    cluster, data_root, two_job_sweep, tmp_path
):
    # enough epochs to outlast one 1-minute job here, few enough for max_num_timeout=3
    args = [*tiny_overrides(data_root, epochs=TIMEOUT_EPOCHS), *ONE_THREAD]
    sweep = tmp_path / "timed-out"
    running = _slurm_sweep(cluster, sweep, *args, *TIMEOUT, "~hydra.callbacks.report")
    reference = _reference(tmp_path / "reference", *args)
    job, first_attempt, deadline = sweep / "0", {}, time.monotonic() + 300
    logs = sweep / ".submitit"
    while running.poll() is None and time.monotonic() < deadline:  # until the first requeue
        if any("Requeued job" in path.read_text() for path in logs.glob("*/*_0_log.out")):
            break
        first_attempt = _epochs(job) or first_attempt
        time.sleep(0.5)
    _finish(running, sweep, 500, cluster)
    _finish(reference, tmp_path / "reference", 300)

    _finished(job)
    if len(first_attempt) >= 2:  # epochs 1, 2 done before the time limit: 1 not trained again
        assert _epochs(job)[1] == first_attempt[1]
    job_id = _job_id(job)
    log = _job_log(sweep, job_id)
    timed_out = _count(log, "Caught signal SIGUSR2 on .*: this job is timed-out")
    requeues = [int(m[1]) for m in _count(log, r"Requeued job \S+ \((\d) remaining timeouts\)")]
    # max_num_timeout=3: 2 requeues left after the first, 1 after the second, ...
    assert requeues == list(range(2, 2 - len(requeues), -1)) and len(timed_out) == len(requeues)
    restarts = int(_slurm_job(cluster, job_id)["Restarts"])
    assert restarts == len(requeues) >= 1, "\n".join(log)
    assert len(_count(log, rf"Starting with JobEnvironment\(job_id={job_id},")) == restarts + 1
    expected = (tmp_path / "reference" / "test_results.csv").read_text()
    assert (job / "test_results.csv").read_text() == expected
