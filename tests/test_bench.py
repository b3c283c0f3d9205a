"""The benchmark script runs end to end, and every precision mode really trains.

The script is run as a user would (a subprocess) with tiny settings; one thread keeps it fast
and steady when other test processes share the CPU.
"""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from pet_seg.augmentation import BatchAugment
from pet_seg.bench.steps import Variant, random_batch
from pet_seg.models import UNet
from pet_seg.tracking import Tracker
from pet_seg.training.loop import EpochState, train_one_epoch
from pet_seg.training.machinery import build_machinery
from pet_seg.training.schedule import SchedulerSpec
from pet_seg.training.settings import TrainerSettings

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


def _positive_rows(rows: dict) -> None:
    for name, row in rows.items():
        assert row["images_per_s"] > 0 and row["vs_baseline"] > 0, name
        assert row["cpu_vs_baseline"] > 0 and len(row["wall_s"]) == 2, name


def test_bench_script_writes_the_json_schema(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = "--image-size 64 --images 16 --loader-batch-size 4 --passes 1 --batch-size 2 "
    args += "--steps 2 --models unet --base-channels 4 --threads 1 --variants 32,bf16-mixed+cl"
    subprocess.run(
        [sys.executable, str(SCRIPT), *args.split(), "--data-root", str(tmp_path / "data"),
         "--json", str(out)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    result = json.loads(out.read_text())
    machine = result["machine"]
    assert machine["cpu_count"] >= 1 and machine["torch"] == torch.__version__
    assert machine["torch_threads"] == 1 and machine["device_name"]
    pipeline = result["pipeline"]
    assert pipeline["images"] == 16 and pipeline["cache_build_s"] > 0
    assert pipeline["seed_style"]["images_per_s"] > 0 and pipeline["cached"]["images_per_s"] > 0
    assert pipeline["speedup"] > 0 and pipeline["peak_rss_mb"] > 0
    for section in ("train", "infer"):
        unet = result[section]["unet"]
        assert list(unet["variants"]) == ["32", "bf16-mixed+cl"]
        assert unet["variants"]["32"]["vs_baseline"] == 1.0
        _positive_rows(unet["variants"])
        assert unet["default"] == "32" and unet["params"] > 0 and unet["peak_rss_mb"] > 0


def test_variant_names_round_trip() -> None:
    for name in ("32", "bf16-mixed+cl", "16-mixed+cl+fused", "32+compile"):
        assert Variant.parse(name).name == name
    with pytest.raises(ValueError, match="variant"):
        Variant.parse("fp8+cl")


def _fp16_autocast_on_cpu() -> bool:
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            out = torch.nn.functional.conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 1, 1))
    except RuntimeError:
        return False
    return out.dtype == torch.float16


PRECISIONS = [
    ("32", torch.float32),
    ("bf16-mixed", torch.bfloat16),
    pytest.param(
        "16-mixed",
        torch.float16,
        marks=pytest.mark.skipif(
            not _fp16_autocast_on_cpu(), reason="this torch has no float16 autocast on CPU"
        ),
    ),
]


@pytest.mark.parametrize(("precision", "compute_dtype"), PRECISIONS)
def test_each_precision_trains_one_step(precision: str, compute_dtype: torch.dtype) -> None:
    """The real loop (build_machinery + train_one_epoch): finite loss, new weights, and the
    convolutions really ran in the autocast dtype."""
    batch: TensorDataset = random_batch(batch_size=2, image_size=32)
    settings = TrainerSettings(precision=precision, device="cpu", batch_size=2, progress=False)
    torch.manual_seed(0)
    model = UNet(base_channels=4)
    # No weight decay: a weight can then only move through its gradient.
    optimizer = functools.partial(torch.optim.AdamW, lr=1e-2, weight_decay=0.0)
    data = {"train": batch, "val": batch}
    m = build_machinery(model, optimizer, SchedulerSpec(), data, settings, torch.device("cpu"))
    seen: list[torch.dtype] = []
    model.inc[0].register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    before = [p.detach().clone() for p in model.parameters()]
    state = EpochState()
    train_one_epoch(
        m.net, torch.nn.BCEWithLogitsLoss(), m.optimizer, m.train_loader, m.device, epoch=1,
        state=state, schedule=SchedulerSpec(), scheduler=None, scaler=m.scaler,
        augment=BatchAugment(), tracker=Tracker(None), settings=settings,
    )  # fmt: skip
    assert state.steps == 1 and state.skipped == 0
    assert math.isfinite(state.loss_sum) and state.loss_sum > 0
    assert seen == [compute_dtype]
    for p in model.parameters():  # master weights stay fp32 and finite
        assert p.dtype == torch.float32 and torch.isfinite(p).all()
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)]
    assert all(changed)
