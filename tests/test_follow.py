"""Following a run from its log: the epoch lines, the sweep's job i/n and end line, the device
choice, and the settings that stop before anything is created."""

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from tiny import CONF, tiny_overrides

from pet_seg import device as device_module
from pet_seg.device import describe_device, resolve_device
from pet_seg.models import PretrainedResNet34UNet, ResNet34UNet, UNet
from pet_seg.preflight import ConfigError, check_precision, input_size_problem
from pet_seg.run import quiet_dependency_warnings, run
from pet_seg.run_log import EpochLines, epoch_line
from pet_seg.sweep_progress import sweep_left
from pet_seg.training.schedule import drops_last_batch

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
# the line, whatever the numbers: epoch k/N, loss, the convention's Dice, lr, s, images/s, left
EPOCH = (
    r"\[pet_seg\] epoch (\d+)/(\d+): train loss \d+\.\d{4}, val/dice \d\.\d{4}, "
    r"lr \d\.\d\de[-+]\d\d, \d+\.\d s, \d+\.\d images/s, run left ≈ \d+ (s|min \d\d s)"
)
DEVICE = r"on (cpu|cuda:0|mps) \(trainer\.device=auto: [^)]+\)"


def _pet_seg_run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """``python -m pet_seg.run ARGS`` with stdout a pipe (not a terminal), as in a log file."""
    command = [sys.executable, "-m", "pet_seg.run", *args]
    return subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)


def _tiny(root: Path, epochs: int = 2) -> list[str]:
    return [*tiny_overrides(root, epochs), "logger=none", "trainer.num_threads=1"]


def test_a_piped_run_says_a_line_per_epoch_and_keeps_them_in_run_log(tmp_path):
    """trainer.progress=false (tiny_overrides) silences the bar, not the epoch lines."""
    run_dir = tmp_path / "run"
    result = _pet_seg_run(
        *_tiny(tmp_path / "data"), "~hydra.callbacks.report", f"hydra.run.dir={run_dir}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout.splitlines()
    assert re.fullmatch(rf"\[pet_seg\] run .+ {DEVICE}(; precision .+)?", out[0]), out[0]
    epochs = [re.fullmatch(EPOCH, line) for line in out if "] epoch " in line]
    assert [(m.group(1), m.group(2)) for m in epochs if m] == [("1", "2"), ("2", "2")], out
    logged = (run_dir / "run.log").read_text().splitlines()
    stamped = [re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", "", line) for line in logged]
    assert [line for line in out if line.startswith("[pet_seg]")] == stamped


def test_epoch_lines_name_the_conventions_dice_and_can_be_silenced(tmp_path, capsys):
    record = {
        "epoch": 3, "lr": 1e-3, "train/loss": 0.41234, "val/dice": 0.7, "val/dice_per_batch": 0.5,
        "time/epoch_s": 12.34, "time/train_images_per_s": 26.06,
    }  # fmt: skip
    line = epoch_line(record, 8, "val/dice_per_batch", left_s=62)
    assert line == (
        "epoch 3/8: train loss 0.4123, val/dice_per_batch 0.5000, lr 1.00e-03, 12.3 s, "
        "26.1 images/s, run left ≈ 1 min 02 s"
    )
    quiet = EpochLines(tmp_path / "run.log", 8, "val/dice", echo=False)  # epoch_lines=false
    quiet.epoch(record)
    assert capsys.readouterr().out == ""
    assert "epoch 3/8" in (tmp_path / "run.log").read_text()  # run.log keeps them


def test_a_sweep_says_job_i_of_n_with_time_left_and_its_wall_time_beside_the_plan(tmp_path):
    sweep = tmp_path / "sweep"
    result = _pet_seg_run(
        "-m", "trainer.seed=0,1", *_tiny(tmp_path / "data", epochs=1), "~hydra.callbacks.report",
        f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert re.search(rf"\[pet_seg\] job 1/2 trainer\.seed=0 {DEVICE}; sweep left ≈ .+ \(plan", out)
    second = rf"\[pet_seg\] job 2/2 trainer\.seed=1 {DEVICE}; sweep left ≈ .+ \(plan × \d+\.\d\d "
    assert re.search(second + r"from 1 finished job\)", out), out
    end = re.search(r"\[pet_seg\] sweep done in .+ wall time, 2 finished jobs; the plan estim", out)
    assert end, out
    plan = json.loads((sweep / "plan.json").read_text())
    assert plan["measured_wall_s"] > 0 and plan["total_minutes"] > 0
    assert all(run["measured_s"] > 0 for run in plan["runs"])
    assert "job 2/2" in (sweep / "1" / "run.log").read_text()


def test_sweep_time_left_follows_the_plan_corrected_by_finished_jobs():
    planned = [100.0, 100.0, 200.0]
    assert sweep_left(3, set(), {}, planned) == (400.0, "plan's measured speed")
    # job 0 took 150 s for a planned 100: the jobs left take 1.5 x their plan
    assert sweep_left(3, {0}, {0: 150.0}, planned) == (450.0, "plan × 1.50 from 1 finished job")
    assert sweep_left(3, {0, 1}, {0: 60.0, 1: 40.0}, None) == (50.0, "mean of 2 finished jobs")
    assert sweep_left(3, set(), {}, None) == (None, "")


@pytest.mark.parametrize(
    ("cuda", "mps", "expected", "why"),
    [
        (True, True, "cuda:1", "CUDA found"),
        (False, True, "mps", "no CUDA, Apple MPS found"),
        (False, False, "cpu", "no CUDA, no MPS"),
    ],
)
def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected, why):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    device = resolve_device("auto", local_rank=1)
    assert str(device) == expected
    assert describe_device("auto", device) == f"{expected} (trainer.device=auto: {why})"
    assert str(resolve_device("cpu")) == "cpu" and device_module.mps_available() == mps


@pytest.mark.parametrize("device", ["cpu", "mps"])
def test_fp16_off_cuda_stops_naming_what_to_use(device):
    with pytest.raises(
        ConfigError, match="use trainer.precision=bf16-mixed or trainer.precision=32"
    ):
        check_precision(torch.device(device), "16-mixed")
    check_precision(torch.device(device), "32")


def test_bf16_on_a_gpu_without_it_stops_naming_fp16(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    with pytest.raises(ConfigError, match="Tesla V100 has no bfloat16; use trainer.precision=16"):
        check_precision(torch.device("cuda:0"), "bf16-mixed")
    check_precision(torch.device("cuda:0"), "16-mixed")


def _cfg(data_root: Path, *extra: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=[*tiny_overrides(data_root), "logger=none", *extra])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model=resnet34_unet", "data.image_size=32"], "data.image_size=32 is too small for "
         "ResNet34UNet, which needs an even size of at least 34 px a side; the smallest size "
         "that works is data.image_size=34"),
        (["trainer.device=cpu", "trainer.precision=16-mixed"], "needs a CUDA GPU"),
    ],
)  # fmt: skip
def test_a_job_that_cannot_run_stops_before_its_run_folder_exists(tmp_path, overrides, message):
    cfg = _cfg(tmp_path / "data", *overrides)
    with pytest.raises(ConfigError, match=re.escape(message)):
        run(cfg, tmp_path / "run", "run")
    assert not (tmp_path / "run").exists()


def test_the_command_line_stops_before_hydra_makes_a_folder(tmp_path):
    """One sentence on stderr, no traceback, no run or sweep folder."""
    single = _pet_seg_run(
        "model=resnet34_unet", "data.image_size=32", f"hydra.run.dir={tmp_path}/r"
    )
    sweep = _pet_seg_run(
        "-m", "model=unet,resnet34_unet", "data.image_size=32", f"hydra.sweep.dir={tmp_path}/s"
    )
    for result in (single, sweep):
        assert result.returncode != 0
        assert "Traceback" not in result.stderr, result.stderr
        assert "data.image_size=32 is too small for ResNet34UNet" in result.stderr
    assert "job model=resnet34_unet: data.image_size=32" in sweep.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("model", "sizes"),
    [
        (lambda: UNet(base_channels=2), [15, 16, 17]),
        (lambda: ResNet34UNet(base_channels=2), [32, 33, 34, 35, 36]),
        (lambda: PretrainedResNet34UNet(weights=None), [32, 33, 34]),
    ],
    ids=["unet", "resnet34_unet", "pretrained_resnet34_unet"],
)
def test_each_models_input_rule_is_what_its_network_does(model, sizes):
    """The rule the check reads agrees with a real forward pass on both sides of its edge."""
    net = model().train()  # batch 2: training-mode BatchNorm takes the 1×1 bridge
    for size in sizes:
        try:
            with torch.no_grad():
                runs = net(torch.zeros(2, 3, size, size)).shape[-2:] == (size, size)
        except RuntimeError:  # "Output size is too small" and the like
            runs = False
        assert type(net).fits_input(size) == runs, size
        problem = input_size_problem(f"pet_seg.models.{type(net).__name__}", size)
        assert (problem is None) == runs


def test_dependency_deprecations_are_hidden_and_pet_seg_warnings_kept(monkeypatch):
    monkeypatch.setattr(sys, "warnoptions", [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        quiet_dependency_warnings()
        for _ in range(2):  # a filter change between epochs resets Python's once-per-line memory
            warnings.warn_explicit("old", DeprecationWarning, "x.py", 1, module="wandb.sdk")
            warnings.warn_explicit("later", FutureWarning, "y.py", 1, module="torch.nn")
            warnings.warn_explicit("do X", FutureWarning, "z.py", 1, module="pet_seg.training")
            warnings.filterwarnings("ignore", message="unrelated")
    assert [str(w.message) for w in caught] == ["do X", "do X"]


def test_a_dropped_lone_image_warning_names_a_batch_size_that_keeps_it():
    with pytest.warns(UserWarning, match=r"use trainer.batch_size=(\d+)") as record:
        assert drops_last_batch(33, 8)
    size = int(re.search(r"trainer.batch_size=(\d+)", str(record[0].message)).group(1))
    assert 33 % size != 1
