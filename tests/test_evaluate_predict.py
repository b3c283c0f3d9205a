"""End to end: train a tiny model, then run ``pet_seg.evaluate`` and ``pet_seg.predict`` as a
user would (subprocesses), and check files, numbers and every bad-input case."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image
from tiny import PNG_NAMED_JPG, tiny_overrides

from pet_seg.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from pet_seg.data import load_sample, read_split, trimap_to_mask
from pet_seg.evaluate import merge_section
from pet_seg.metrics import summarize
from pet_seg.predict import safe_stem
from pet_seg.trained_model import ModelMismatchError, load_model

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
SIZE = 64
MODES = [(False, "train"), (True, "train"), (False, "original"), (True, "original")]


def cli(module: str, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled"}
    command = [sys.executable, "-m", f"pet_seg.{module}", *args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise AssertionError(f"{command} failed:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def trained(tmp_path_factory, real_root) -> SimpleNamespace:
    """One 1-epoch UNet (base_channels=4) on real pets (36 train, 12 test; real JPEG sizes and
    aspect ratios, a PNG named .jpg among the test images), as `pet_seg.run` makes it."""
    base = tmp_path_factory.mktemp("eval_predict")
    run = base / "run"
    cli(
        "run", *tiny_overrides(real_root, epochs=1), "logger=none", f"hydra.run.dir={run}", cwd=base
    )
    return SimpleNamespace(base=base, root=real_root, run=run, ckpt=run / "checkpoints" / "best.pt")


@pytest.fixture(scope="module")
def evaluations(trained) -> dict:
    """Each (tta, resolution) evaluated once with masks saved, from a clean working folder."""
    cwd = trained.base / "cwd"
    cwd.mkdir()
    outs = {}
    for tta, resolution in MODES:
        cli(
            "evaluate",
            f"ckpt={trained.ckpt}",
            f"tta={tta}",
            f"eval_resolution={resolution}",
            "save_masks=true",
            "panels=2",
            "progress=false",
            cwd=cwd,
        )
        name = "test" + ("-tta" if tta else "") + ("-original" if resolution == "original" else "")
        outs[tta, resolution] = trained.run / "eval" / name
    assert list(cwd.iterdir()) == [], "Hydra littered the working folder"
    return outs


def read_rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def truth(root: Path, name: str, resolution: str) -> np.ndarray:
    if resolution == "train":
        return load_sample(root, name, SIZE)[1]
    return trimap_to_mask(np.asarray(Image.open(root / "annotations" / "trimaps" / f"{name}.png")))


@pytest.mark.parametrize(("tta", "resolution"), MODES)
def test_evaluate_scores_match_saved_masks(trained, evaluations, tta, resolution):
    out = evaluations[tta, resolution]
    rows = read_rows(out / "per_image.csv")
    assert [r["name"] for r in rows] == read_split(trained.root, "test")  # 12 images, in order
    for row in rows:
        pred = np.asarray(Image.open(out / "masks" / f"{row['name']}.png")) > 127
        true = truth(trained.root, row["name"], resolution) > 0
        assert pred.shape == true.shape
        inter, total = int((pred & true).sum()), int(pred.sum() + true.sum())
        assert (int(row["intersection"]), int(row["predicted"]) + int(row["true"])) == (
            inter,
            total,
        )
        assert float(row["dice"]) == pytest.approx(2 * inter / total if total else 1.0, abs=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    for key, value in summarize(np.array([float(r["dice"]) for r in rows])).items():
        assert summary[f"test/dice_{key}"] == pytest.approx(value, abs=1e-5)
        assert 0.0 <= summary[f"test/dice_{key}"] <= 1.0
    assert (summary["tta"], summary["eval_resolution"], summary["images"]) == (tta, resolution, 12)
    for picture in ("worst.png", "best.png"):
        assert Image.open(out / picture).size[0] > 100
    assert not (out / ".hydra").exists() and not list(out.glob("*.log"))


def test_plain_evaluation_reproduces_the_runs_test_results(trained, evaluations):
    ours = read_rows(evaluations[False, "train"] / "per_image.csv")
    runs = read_rows(trained.run / "test_results.csv")
    assert [r["name"] for r in ours] == [r["name"] for r in runs]
    for a, b in zip(ours, runs, strict=True):
        assert float(a["dice"]) == pytest.approx(float(b["dice"]), abs=1e-3)


def test_evaluate_data_overrides_apply_on_top_of_the_checkpoint(trained, tmp_path):
    cli(
        "evaluate",
        f"ckpt={trained.ckpt}",
        "split=val",
        "data.cache=false",
        f"output={tmp_path}",
        "panels=1",
        "progress=false",
        cwd=tmp_path,
    )
    assert len(read_rows(tmp_path / "per_image.csv")) == len(read_split(trained.root, "val"))
    used = (tmp_path / "config.yaml").read_text()
    assert "cache: false" in used and str(trained.root) in used and "image_size: 64" in used


def merged(stored: dict, *args: str) -> tuple[dict, bool]:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("evaluate", overrides=["ckpt=x", *args])
    return merge_section("data", stored, cfg, OverridesParser.create().parse_overrides(list(args)))


def test_merge_section_semantics():
    """No override = the checkpoint's data; `data=<group>` swaps the group but keeps the trained
    image size; `data.key=...` / `~data.key` edit the checkpoint's config."""
    stored = {"_target_": "a.b", "root": "r", "image_size": 64, "val_every": 5, "num_test": 3}
    assert merged(stored) == (stored, False)
    edited, overridden = merged(stored, "data.root=x", "~data.val_every")
    assert overridden and edited == {
        "_target_": "a.b",
        "root": "x",
        "image_size": 64,
        "num_test": 3,
    }
    group, _ = merged(stored, "data=synthetic")
    assert group["_target_"] == "pet_seg.data.load_synthetic_splits"
    assert (group["image_size"], group["num_test"]) == (64, 100)
    resized, _ = merged(stored, "data=synthetic", "data.image_size=32", "data.num_test=7")
    assert (resized["image_size"], resized["num_test"]) == (32, 7)


def make_inputs(trained, folder: Path) -> list[str]:
    """Three test images (sizes differ), a text file, a truncated JPEG and dot-only names."""
    folder.mkdir()
    names = read_split(trained.root, "test")[:3]
    for name in names:
        shutil.copy(trained.root / "images" / f"{name}.jpg", folder / f"{name}.jpg")
    shutil.copy(trained.root / "images" / f"{names[0]}.jpg", folder / "...jpg")
    (folder / "notes.txt").write_text("not a picture")
    data = (trained.root / "images" / f"{names[1]}.jpg").read_bytes()
    (folder / "broken.jpg").write_bytes(data[: len(data) // 3])
    return names


def test_predict_masks_overlays_and_bad_files(trained, evaluations, tmp_path):
    names = make_inputs(trained, tmp_path / "in")
    out = tmp_path / "out"
    done = cli(
        "predict", f"ckpt={trained.ckpt}", f"input={tmp_path / 'in'}", f"output={out}", cwd=tmp_path
    )
    log = done.stdout + done.stderr
    assert "notes.txt" in log and "not an image" in log
    assert "broken.jpg" in log and "skipped 1 unreadable" in log
    assert {p.stem for p in (out / "masks").iterdir()} == {*names, "image"}
    assert sorted(os.listdir(tmp_path)) == ["in", "out"]  # nothing written elsewhere
    for name in names:
        image = Image.open(tmp_path / "in" / f"{name}.jpg")
        mask = np.asarray(Image.open(out / "masks" / f"{name}.png"))
        assert mask.shape == (image.height, image.width)
        assert set(np.unique(mask)) <= {0, 255}
        assert Image.open(out / "overlays" / f"{name}.png").size == image.size
        # Same pipeline as evaluate at original resolution: the masks agree (batching may
        # move a logit by a rounding error, hence not bit-exact).
        scored = np.asarray(Image.open(evaluations[False, "original"] / "masks" / f"{name}.png"))
        assert (scored == mask).mean() > 0.999


def test_predict_on_the_release_images_folder_skips_only_non_pictures(trained, tmp_path):
    """The real images/ holds .mat files and a PNG and a GIF named .jpg: every picture gets a
    mask, the .mat files a warning."""
    folder = tmp_path / "images"
    folder.mkdir()
    pictures = [PNG_NAMED_JPG, "Abyssinian_34", *read_split(trained.root, "test")[1:3]]
    for file in [*(f"{stem}.jpg" for stem in pictures), "Abyssinian_100.mat"]:
        shutil.copy(trained.root / "images" / file, folder / file)
    out = tmp_path / "out"
    done = cli("predict", f"ckpt={trained.ckpt}", f"input={folder}", f"output={out}", cwd=tmp_path)
    log = done.stdout + done.stderr
    assert "Abyssinian_100.mat" in log and "not an image" in log and "unreadable" not in log
    assert sorted(p.stem for p in (out / "masks").iterdir()) == sorted(pictures)
    for stem in pictures:
        with Image.open(folder / f"{stem}.jpg") as picture:
            assert Image.open(out / "masks" / f"{stem}.png").size == picture.size


def test_predict_refuses_to_write_into_its_input(trained, tmp_path):
    make_inputs(trained, tmp_path / "in")
    before = sorted(os.listdir(tmp_path / "in"))
    done = cli(
        "predict",
        f"ckpt={trained.ckpt}",
        f"input={tmp_path / 'in'}",
        f"output={tmp_path / 'in' / 'pred'}",
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode != 0 and "inside the input folder" in done.stderr
    assert sorted(os.listdir(tmp_path / "in")) == before


def test_predict_empty_folder_is_an_error(trained, tmp_path):
    (tmp_path / "empty").mkdir()
    done = cli(
        "predict",
        f"ckpt={trained.ckpt}",
        f"input={tmp_path / 'empty'}",
        f"output={tmp_path / 'out'}",
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode != 0 and "no image files" in done.stderr


@pytest.mark.parametrize("problem", ["missing", "truncated", "foreign"])
def test_bad_checkpoint_messages_name_the_file(trained, tmp_path, problem):
    bad = tmp_path / f"{problem}.pt"
    if problem == "truncated":
        bad.write_bytes(trained.ckpt.read_bytes()[:5000])
    elif problem == "foreign":
        torch.save({"weights": torch.zeros(2)}, bad)
    image = next((trained.root / "images").iterdir())
    module, extra = ("evaluate", []) if problem != "missing" else ("predict", [f"input={image}"])
    done = cli(module, f"ckpt={bad}", *extra, f"output={tmp_path / 'o'}", cwd=tmp_path, check=False)
    assert done.returncode != 0 and str(bad) in done.stderr
    assert "Traceback" not in done.stderr


def test_mismatched_architecture_is_a_clear_error(trained, tmp_path):
    done = cli(
        "evaluate",
        f"ckpt={trained.ckpt}",
        "model=resnet34_unet",
        f"output={tmp_path}",
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode != 0 and "weights do not fit pet_seg.models.ResNet34UNet" in done.stderr
    assert str(trained.ckpt) in done.stderr and "pet_seg.models.UNet" in done.stderr
    # A checkpoint whose stored config disagrees with its weights (wider UNet).
    state = load_checkpoint(trained.ckpt)
    state["config"]["model"]["base_channels"] = 8
    bad = tmp_path / "wider.pt"
    save_checkpoint(state, bad)
    with pytest.raises(ModelMismatchError, match=r"wider\.pt.*shape mismatches"):
        load_model(bad)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nothing.pt")


@pytest.mark.parametrize("name", ["../x.jpg", "..\\..\\x.jpg", "...jpg", "a b/../../x.png"])
def test_safe_stem_cannot_leave_the_output_folder(tmp_path, name):
    used: set[str] = {"x"}
    stem = safe_stem(name, used)
    target = (tmp_path / f"{stem}.png").resolve()
    assert target.parent == tmp_path.resolve() and stem not in {"", ".", ".."}
    assert stem != "x" and stem in used  # unique within one run
