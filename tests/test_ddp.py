"""`torchrun --nproc_per_node=2 -m pet_seg.run` on CPU (gloo) against one process."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny import tiny_overrides

REPO = Path(__file__).resolve().parents[1]


def _per_image(path: Path) -> list[tuple[str, str]]:
    with path.open() as handle:
        return [(row["name"], row["dice"]) for row in csv.DictReader(handle)]


def _run(*command: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _epochs(run_dir: Path) -> list[dict]:
    records = map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
    return [r for r in records if r["kind"] == "epoch"]


@pytest.mark.slow
def test_two_process_gloo_run_matches_single_process(tmp_path):
    # no augmentation: per-sample random draws are per rank, so they cannot match one process
    args = [
        *tiny_overrides(tmp_path / "data"),
        "logger=none",
        "augmentation=none",
        "trainer.device=cpu",
    ]
    _run("-m", "pet_seg.run", *args, f"hydra.run.dir={tmp_path / 'single'}")
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    _run(*torchrun, "-m", "pet_seg.run", *args, f"hydra.run.dir={tmp_path / 'ddp'}")

    # rank 0 alone logged: the same number of optimizer steps and epochs, no duplicates
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines if '"step/train_loss"' in line] == list(
        range(1, 19)
    )
    single_epochs, ddp_epochs = _epochs(tmp_path / "single"), _epochs(tmp_path / "ddp")
    assert [e["epoch"] for e in ddp_epochs] == [1, 2]
    # same global batches and averaged gradients; BatchNorm sees half batches per rank
    for a, b in zip(single_epochs, ddp_epochs, strict=True):
        assert b["train/loss"] == pytest.approx(a["train/loss"], abs=0.03)
        assert b["lr"] == pytest.approx(a["lr"])
    single_summary = json.loads((tmp_path / "single" / "summary.json").read_text())
    ddp_summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert ddp_summary["status"] == "finished"
    assert ddp_summary["test/dice_mean"] == pytest.approx(
        single_summary["test/dice_mean"], abs=0.05
    )

    # the sharded test evaluation, gathered across ranks, equals one process scoring best.pt
    names = [n for n, _ in _per_image(tmp_path / "single" / "test_results.csv")]
    assert [n for n, _ in _per_image(tmp_path / "ddp" / "test_results.csv")] == names
    best = tmp_path / "ddp" / "checkpoints" / "best.pt"
    _run("-m", "pet_seg.evaluate", f"ckpt={best}", f"output={tmp_path / 'rescored'}")
    assert _per_image(tmp_path / "rescored" / "per_image.csv") == _per_image(
        tmp_path / "ddp" / "test_results.csv"
    )
