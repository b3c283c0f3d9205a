"""hydra/launcher=submitit_slurm against a real one-node SLURM (tests/slurm_cluster.py).

Each sweep runs `python -m pet_seg.run -m ... hydra/launcher=submitit_slurm` in a subprocess,
as a user does on a login node, on tiny real data. A job that SLURM requeues, by hand
(`scontrol requeue`, as a preemption does) or after its time limit (submitit requeues itself on
SLURM's warning signal), continues from checkpoints/last.pt with trainer.resume=true and ends
with the same per-image test scores as an uninterrupted run with the basic launcher. Skipped
where no SLURM can be started here (see the skip reason).
"""

import json
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

pytestmark = [pytest.mark.slow, pytest.mark.service]

REPO = Path(__file__).resolve().parents[1]
# tests/ on the path of the sweep and (SLURM exports the environment) of its jobs: job_hooks.py
TESTS = str(Path(__file__).resolve().parent)
ENV = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "HYDRA_FULL_ERROR": "1"}
# one thread per run: the SLURM job and its reference run side by side on 2 cores, and the
# reference must compute exactly what the job computes
ONE_THREAD = ["trainer.num_threads=1", "logger=none"]
SLURM = ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug"]
SLURM += ["hydra.launcher.cpus_per_task=1"]
TIMEOUT = [
    "hydra.launcher.timeout_min=1",  # SLURM's smallest time limit
    # USR2 10 s before the limit: time to requeue. SLURM may send it up to 60 s early (man
    # sbatch), so an attempt can end before it reaches the stall: each such attempt uses one
    # of the timeouts, hence a margin of four.
    "hydra.launcher.signal_delay_s=10",
    "hydra.launcher.max_num_timeout=5",
    "trainer.resume=true",
]
EPOCHS = 4
STALL_AFTER = 2  # epochs 1-2 before the interruption, 3-4 after it


def _stall(marker: Path) -> list[str]:
    """Overrides that hold the first attempt after epoch STALL_AFTER until a signal ends it
    (tests/job_hooks.py): the interruption falls mid-training whatever the machine's speed."""
    return [
        "+hydra.callbacks.stall._target_=job_hooks.StallOnce",
        f"+hydra.callbacks.stall.after_epoch={STALL_AFTER}",
        f"+hydra.callbacks.stall.marker={marker}",
    ]


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
    its time limit) leaves the sweep waiting forever: with ``cluster``, a sweep that still
    lacks a job's result file 20 s after SLURM holds no job fails here. (A sweep whose jobs all
    left their result is writing its report, however long that takes on this machine.)
    """
    log = folder.parent / f"{folder.name}.log"
    deadline, idle_since = time.monotonic() + timeout, None
    while process.poll() is None and time.monotonic() < deadline:
        if cluster is not None and _lost_jobs(folder) and not _queued(cluster):
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


def _lost_jobs(folder: Path) -> list[Path]:
    """Submitted jobs without a result file (``<job>_submitted.pkl`` → ``<job>_0_result.pkl``)."""
    submitted = (folder / ".submitit").glob("*/*_submitted.pkl")
    return [p for p in submitted if not p.with_name(f"{p.parent.name}_0_result.pkl").exists()]


def _queued(cluster: SlurmCluster) -> bool:
    return bool(cluster.command("squeue", "-h", "-o", "%i").strip())


def _slurm_sweep(cluster: SlurmCluster, sweep: Path, *args: str) -> subprocess.Popen:
    """`python -m pet_seg.run -m <args> hydra/launcher=submitit_slurm ...` into ``sweep``."""
    command = [sys.executable, "-m", "pet_seg.run", "-m", *args, *SLURM]
    command += [f"hydra.sweep.dir={sweep}"]
    sweep.mkdir(parents=True)
    path = os.pathsep.join(p for p in [TESTS, cluster.env.get("PYTHONPATH")] if p)
    return _start(command, sweep.parent / f"{sweep.name}.log", {**cluster.env, "PYTHONPATH": path})


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
        _slurm_sweep(cluster, sweep, *args, "hydra.launcher.timeout_min=10"), sweep, 600, cluster
    )
    return sweep


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


def _wait_for_stall(marker: Path, running: subprocess.Popen, job: Path) -> dict[int, str]:
    """Wait until the job stalls after epoch STALL_AFTER; its epochs then. The deadline only
    guards against a hang: the stall waits for the test, not the test for a speed."""
    deadline = time.monotonic() + 600
    while not marker.is_file():
        assert running.poll() is None, "the sweep ended before the job stalled"
        assert time.monotonic() < deadline, f"no stall after epoch {STALL_AFTER} in 10 minutes"
        time.sleep(0.2)
    return _epochs(job)


def test_a_requeued_job_resumes_from_last_pt_to_the_same_test_scores(cluster, data_root, tmp_path):
    args = [*tiny_overrides(data_root, epochs=EPOCHS), *ONE_THREAD]
    sweep, marker = tmp_path / "preempted", tmp_path / "stalled"
    preempt = ["trainer.resume=true", "hydra.launcher.timeout_min=10", "~hydra.callbacks.report"]
    running = _slurm_sweep(cluster, sweep, *args, *preempt, *_stall(marker))
    reference = _reference(tmp_path / "reference", *args)
    job = sweep / "0"
    before = _wait_for_stall(marker, running, job)
    assert sorted(before) == list(range(1, STALL_AFTER + 1))
    assert (job / "checkpoints" / "last.pt").is_file()
    job_id = _job_id(job)
    cluster.command("scontrol", "requeue", job_id)  # what a preemption with requeue does

    _finish(running, sweep, 600, cluster)
    _finish(reference, tmp_path / "reference", 600)
    _finished(job)
    log = _job_log(sweep, job_id)
    assert _count(log, "Bypassing signal SIGTERM")  # submitit ignores it; SIGKILL follows
    assert len(_count(log, rf"Starting with JobEnvironment\(job_id={job_id},")) == 2
    assert _slurm_job(cluster, job_id)["Restarts"] == "1"
    after = _epochs(job)
    assert sorted(after) == list(range(1, EPOCHS + 1))
    assert all(after[e] == before[e] for e in before)  # not trained again: resumed from last.pt
    expected = (tmp_path / "reference" / "test_results.csv").read_text()
    assert (job / "test_results.csv").read_text() == expected


def test_a_job_past_its_time_limit_is_requeued_and_resumes_to_the_same_test_scores(
    cluster, data_root, tmp_path
):
    args = [*tiny_overrides(data_root, epochs=EPOCHS), *ONE_THREAD]
    sweep, marker = tmp_path / "timed-out", tmp_path / "stalled"
    running = _slurm_sweep(
        cluster, sweep, *args, *TIMEOUT, "~hydra.callbacks.report", *_stall(marker)
    )
    reference = _reference(tmp_path / "reference", *args)
    job = sweep / "0"
    before = _wait_for_stall(marker, running, job)  # held there until the time limit
    _finish(running, sweep, 900, cluster)
    _finish(reference, tmp_path / "reference", 600)

    _finished(job)
    after = _epochs(job)
    assert sorted(after) == list(range(1, EPOCHS + 1))
    assert all(after[e] == before[e] for e in before)  # not trained again: resumed from last.pt
    job_id = _job_id(job)
    log = _job_log(sweep, job_id)
    timed_out = _count(log, "Caught signal SIGUSR2 on .*: this job is timed-out")
    requeues = [int(m[1]) for m in _count(log, r"Requeued job \S+ \((\d) remaining timeouts\)")]
    # max_num_timeout=5: 4 requeues left after the first timeout, 3 after the second, ...
    assert requeues == list(range(4, 4 - len(requeues), -1)) and len(timed_out) == len(requeues)
    restarts = int(_slurm_job(cluster, job_id)["Restarts"])
    assert restarts == len(requeues) >= 1, "\n".join(log)
    assert len(_count(log, rf"Starting with JobEnvironment\(job_id={job_id},")) == restarts + 1
    expected = (tmp_path / "reference" / "test_results.csv").read_text()
    assert (job / "test_results.csv").read_text() == expected
