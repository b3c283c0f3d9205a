"""Killed runs resume to the same numbers; faults lose nothing; finished jobs are skipped.

Kills are real signals sent by tests/interrupt.py at chosen points of a real training run.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny import tiny_overrides

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}


def _run(
    args: list[str], interrupt: tuple[str, int, str] | None = None
) -> subprocess.CompletedProcess:
    if interrupt is None:
        command = [sys.executable, "-m", "pet_seg.run", *args]
    else:
        command = [
            sys.executable,
            str(REPO / "tests" / "interrupt.py"),
            *map(str, interrupt),
            "--",
            *args,
        ]
    return subprocess.run(command, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)


def _numbers(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [
        {k: v for k, v in json.loads(line).items() if not k.startswith("time/")} for line in lines
    ]


def _summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("resume-data")


@pytest.fixture(scope="module")
def reference(data_root, tmp_path_factory) -> Path:
    """An uninterrupted 3-epoch run: what every resumed run must end with."""
    run_dir = tmp_path_factory.mktemp("reference")
    result = _run([*tiny_overrides(data_root, epochs=3), "logger=none", f"hydra.run.dir={run_dir}"])
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


# 36 training images / batch 4 = 9 batches an epoch; each epoch saves best.pt (if better), then
# last.pt (every trainer.save_last_every epochs and after the last)
EVERY_2 = ("trainer.save_last_every=2",)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("interrupt", "extra"),
    [
        (("batch", 5, "SIGKILL"), ()),  # mid-epoch 1, before any checkpoint exists
        (("batch", 14, "SIGKILL"), ()),  # mid-epoch 2: back to the end of epoch 1
        (("batch", 14, "SIGINT"), ()),  # Ctrl-C mid-epoch 2: saves the position inside the epoch
        (("save", 2, "SIGKILL"), ()),  # right after a checkpoint landed
        (("mid-save", 3, "SIGKILL"), ()),  # a checkpoint half written: the old one must survive
        # last.pt every 2 epochs: killed in epoch 2 there is none yet (but a best.pt), so the
        # run starts over; killed in epoch 3 it goes back to epoch 2
        (("batch", 14, "SIGKILL"), EVERY_2),
        (("batch", 23, "SIGKILL"), EVERY_2),
        (("batch", 14, "SIGINT"), EVERY_2),  # Ctrl-C still saves, whatever save_last_every says
    ],
    ids=lambda i: "-".join(map(str, i)) or "every-epoch",
)
def test_killed_run_resumes_to_the_same_metrics(interrupt, extra, data_root, reference, tmp_path):
    args = [
        *tiny_overrides(data_root, epochs=3),
        "logger=none",
        *extra,
        f"hydra.run.dir={tmp_path}",
    ]
    killed = _run(args, interrupt)
    assert killed.returncode != 0
    if interrupt[2] == "SIGINT":
        assert _summary(tmp_path)["status"] == "interrupted"
    resumed = _run([*args, "trainer.resume=true"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _numbers(tmp_path) == _numbers(reference)  # no lost and no duplicated records
    assert (tmp_path / "test_results.csv").read_text() == (
        reference / "test_results.csv"
    ).read_text()
    assert _summary(tmp_path)["status"] == "finished"
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))
    assert not (tmp_path / "checkpoints" / "last.pt").exists()  # finished: nothing to resume


@pytest.mark.slow
def test_resumed_sweep_skips_finished_jobs_and_continues_the_same_wandb_run(data_root, tmp_path):
    args = [
        "-m",
        "scheduler=cosine,onecycle",
        *tiny_overrides(data_root, epochs=2),
        "hydra.callbacks.plan.measure=false",  # its speed probe would count as training batches
        f"hydra.sweep.dir={tmp_path}",
    ]
    killed = _run(
        args, ("batch", 18 + 12, "SIGKILL")
    )  # job 0 has 18 batches; die in job 1's 2nd epoch
    assert killed.returncode != 0
    assert _summary(tmp_path / "0")["status"] == "finished"
    assert _summary(tmp_path / "1")["status"] == "running"
    finished_metrics = (tmp_path / "0" / "metrics.jsonl").read_bytes()

    resumed = _run([*args, "trainer.resume=true"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "already finished; skipping" in resumed.stdout
    assert (tmp_path / "0" / "metrics.jsonl").read_bytes() == finished_metrics
    assert _summary(tmp_path / "1")["status"] == "finished"
    epochs = [r["epoch"] for r in _numbers(tmp_path / "1") if r["kind"] == "epoch"]
    assert epochs == [1, 2]
    run_ids = {p.name.rsplit("-", 1)[1] for p in (tmp_path / "1" / "wandb").glob("offline-run-*")}
    assert len(run_ids) == 1, f"the resumed job started a new W&B run: {run_ids}"


@pytest.mark.slow
def test_one_failing_job_keeps_the_others(data_root, tmp_path):
    args = [
        "-m",
        "trainer.batch_size=4,1000",
        *tiny_overrides(data_root, epochs=1),
        "logger=none",
        f"hydra.sweep.dir={tmp_path}",
    ]
    result = _run([a for a in args if a != "trainer.batch_size=4"])
    assert result.returncode != 0
    assert _summary(tmp_path / "0")["status"] == "finished"
    assert (tmp_path / "0" / "test_results.csv").is_file()
    failed = _summary(tmp_path / "1")
    assert failed["status"] == "failed" and "trainer.batch_size=1000" in failed["error"]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model=unte", "Could not find 'model/unte'"),  # Hydra lists the available options
        ("trainer.epoch=3", "Key 'epoch' is not in struct"),
        ("trainer.precision=fp8", "trainer.precision='fp8'"),
        ("scheduler.interval=batch", "scheduler.interval must be 'epoch' or 'step'"),
    ],
)
def test_config_mistakes_name_the_key(override, expected, data_root, tmp_path):
    result = _run(
        [*tiny_overrides(data_root, epochs=1), "logger=none", override, f"hydra.run.dir={tmp_path}"]
    )
    assert result.returncode != 0
    assert expected in result.stderr


def test_missing_dataset_says_where_it_looked_and_how_to_fix_it(tmp_path):
    result = _run(
        [f"data.root={tmp_path / 'nowhere'}", "logger=none", f"hydra.run.dir={tmp_path / 'run'}"]
    )
    assert result.returncode != 0
    assert str(tmp_path / "nowhere") in result.stderr and "download" in result.stderr
