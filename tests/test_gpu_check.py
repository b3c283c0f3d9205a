"""scripts/gpu_check.py: its CPU smoke run as a user runs it, and its verdicts on run folders.

The GPU-only judgements (each sweep job's own peak memory, DDP against one process) are
checked on hand-made run folders through ``--recheck``, so a GPU session finds them working.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "gpu_check.py"


def _gpu_check(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def _checks(out: Path) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads((out / "gpu_check.json").read_text())["checks"]}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """One `--device cpu --smoke` run (about a minute on 2 cores), shared by the tests below."""
    out = tmp_path_factory.mktemp("gpu_check") / "out"
    return out, _gpu_check("--device", "cpu", "--smoke", "--out", str(out))


@pytest.mark.slow
def test_smoke_run_passes_and_records_every_check(smoke):
    out, result = smoke
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (out / "gpu_check.md").read_text().startswith("# GPU check: PASS")
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["passed"] and report["device"]["requested_device"] == "cpu"
    checks = _checks(out)
    # 2 models × {32, bf16-mixed}, each finished and learning; the 2-job sweep; the bench
    assert checks["grid: all 4 jobs (models × precisions × channels_last)"]["passed"]
    learned = [name for name in checks if "learns" in name]
    assert len(learned) == 4 + 2 and all(checks[name]["passed"] for name in learned)
    assert checks["sweep: all 2 jobs in one process"]["passed"]
    assert checks["bench unet: images/s measured"]["passed"]
    assert checks["sweep: peak_cuda_bytes per job"]["passed"] is None  # n/a on a CPU
    assert {r["variant"] for r in report["throughput"]} == {"32", "bf16-mixed+cl"}
    assert all((Path(r["dir"]) / "checkpoints" / "best.pt").is_file() for r in report["runs"])
    assert all(Path(r["dir"]).is_relative_to(out) for r in report["runs"] + report["sweep"])


@pytest.mark.slow
def test_an_impossible_threshold_fails_the_script(smoke, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(smoke[0], out)
    result = _gpu_check("--recheck", str(out), "--min-dice-gain", "2")
    assert result.returncode == 1
    assert (out / "gpu_check.md").read_text().startswith("# GPU check: FAIL")
    failed = json.loads((out / "gpu_check.json").read_text())["failed"]
    assert failed and all("learns (val Dice gain > 2.0)" in name for name in failed)


@pytest.mark.slow
def test_a_failed_run_fails_the_script(smoke, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(smoke[0], out)
    summary = out / "runs" / "sweep" / "1" / "summary.json"
    data = json.loads(summary.read_text()) | {"status": "failed", "error": "loss is nan"}
    summary.write_text(json.dumps(data))
    result = _gpu_check("--recheck", str(out))
    assert result.returncode == 1
    assert json.loads((out / "gpu_check.json").read_text())["failed"] == [
        "sweep seed 1: finished, finite loss"
    ]


def _load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- GPU verdicts on fake folders


def _fake_run(run_dir: Path, seed: int = 0, peak: int | None = None, dice: str = "") -> None:
    """A finished run folder as pet_seg leaves it, with only what gpu_check reads."""
    run_dir.mkdir(parents=True)
    trainer = {"precision": "bf16-mixed", "channels_last": True, "compile": False, "seed": seed}
    config = {"model": {"_target_": "pet_seg.models.UNet"}, "trainer": trainer}
    (run_dir / "config.yaml").write_text(json.dumps(config))  # JSON is YAML
    epochs = [{"kind": "epoch", "epoch": e, "val/dice": d, "train/loss": 0.4}
              for e, d in [(1, 0.5), (2, 0.7)]]  # fmt: skip
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in epochs))
    summary = {"status": "finished", "test/dice_mean": 0.7} | (
        {} if peak is None else {"peak_cuda_bytes": peak})  # fmt: skip
    (run_dir / "summary.json").write_text(json.dumps(summary))
    if dice:
        (run_dir / "test_results.csv").write_text("name,dice\n" + dice)


def _fake_gpu_out(out: Path, peaks: list[int], ddp_dice: str) -> Path:
    plan = {
        "profile": {"device": "cuda", "smoke": False, "image_size": 256, "epochs": 2,
                    "batch_size": 16, "precisions": [], "channels_last": [], "compile": False,
                    "sweep_jobs": len(peaks), "util_epochs": 0, "extra": []},
        "ddp_procs": 2, "overrides": [], "budget_s": 480,
    }  # fmt: skip
    out.mkdir()
    (out / "plan.json").write_text(json.dumps(plan))
    (out / "device.json").write_text(json.dumps({"device_name": "fake GPU", "gpu_count": 2}))
    for job, peak in enumerate(peaks):
        _fake_run(out / "runs" / "sweep" / str(job), seed=job, peak=peak)
    _fake_run(out / "runs" / "single", dice="a,0.9\nb,0.7\n")
    _fake_run(out / "runs" / "ddp", dice=ddp_dice)
    (out / "runs" / "ddp_rescore").mkdir()
    (out / "runs" / "ddp_rescore" / "per_image.csv").write_text("name,dice\na,0.9\nb,0.75\n")
    return out


def test_sweep_peaks_and_ddp_are_judged_from_the_run_folders(tmp_path):
    out = _fake_gpu_out(tmp_path / "ok", [1000, 1050, 990, 1020], "a,0.9\nb,0.75\n")
    _load_script().main(["--recheck", str(out)])  # fails: no grid, no bench in this folder
    checks = _checks(out)
    assert checks["sweep: 2nd job's peak within 10 % of the 1st's"]["passed"]
    assert checks["sweep: memory released (no job's peak grows > 10 %)"]["passed"]
    ddp = {name: c["passed"] for name, c in checks.items() if name.startswith("DDP")}
    assert len(ddp) == 4 and all(ddp.values()), ddp

    # a job that kept the previous job's tensors peaks higher; DDP lost or changed an image
    bad = _fake_gpu_out(tmp_path / "bad", [1000, 1050, 1400, 2000], "b,0.75\na,0.8\n")
    assert _load_script().main(["--recheck", str(bad)]) == 1
    checks = _checks(bad)
    assert checks["sweep: 2nd job's peak within 10 % of the 1st's"]["passed"]
    assert not checks["sweep: memory released (no job's peak grows > 10 %)"]["passed"]
    assert not checks["DDP (2 processes): test images = one process's, once each"]["passed"]
    rescore = "DDP (2 processes): per-image Dice = 1-process re-score of its best.pt (1e-3)"
    assert not checks[rescore]["passed"]

    # a run told to skip non-finite steps can finish with a NaN epoch loss: still a failure
    metrics = bad / "runs" / "sweep" / "0" / "metrics.jsonl"
    metrics.write_text(metrics.read_text().replace("0.4", "NaN", 1))
    _load_script().main(["--recheck", str(bad)])
    assert not _checks(bad)["sweep seed 0: finished, finite loss"]["passed"]


def test_utilisation_monitor_reads_nvidia_smi(tmp_path, monkeypatch):
    """The background sampler parses `nvidia-smi ... -lms 200` lines (a fake one here)."""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nwhile true; do echo '97, 1234'; sleep 0.05; done\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monitor = _load_script().UtilisationMonitor()
    deadline = time.monotonic() + 60  # a hang guard: a loaded machine may start sh late
    while len(monitor.samples) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    samples = monitor.stop()
    assert samples and all(s[1:] == (97.0, 1234.0) for s in samples)
