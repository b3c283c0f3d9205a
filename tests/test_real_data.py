"""Real Oxford-IIIT Pet files: the shipped subset, the official split files, the release's odd
files, and the scripts a user runs on them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pet_seg.data import (
    CachedPetSegmentation,
    DataError,
    PetSegmentation,
    load_splits,
    read_split,
)
from pet_seg.data.mini import MINI_ROOT, scaled_size

REPO = Path(__file__).resolve().parents[1]
OFFICIAL_SPLITS = Path(__file__).resolve().parent / "data" / "oxford-iiit-pet-splits"


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def listed(root: Path, filename: str) -> list[str]:
    lines = (root / "annotations" / filename).read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


def test_official_split_files_give_the_studys_3312_368_3669(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    shutil.copytree(OFFICIAL_SPLITS, root / "annotations")
    train, val, test = (read_split(root, split) for split in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (3312, 368, 3669)
    trainval = listed(root, "trainval.txt")
    assert val == trainval[::10] and val[0] == trainval[0]
    assert not set(train) & set(val) and not set(train + val) & set(test)
    # list.txt (six comment lines) is exactly trainval + test
    assert sorted(listed(root, "list.txt")) == sorted(trainval + test)


def test_shipped_subset_is_small_real_and_attributed() -> None:
    files = [p for p in MINI_ROOT.rglob("*") if p.is_file() and ".pet_seg_cache" not in p.parts]
    assert sum(p.stat().st_size for p in files) < 6e6
    notice = (MINI_ROOT / "README.md").read_text()
    assert "Attribution-ShareAlike 4.0" in notice and "copyright" in notice
    names = listed(MINI_ROOT, "trainval.txt") + listed(MINI_ROOT, "test.txt")
    assert (len(listed(MINI_ROOT, "trainval.txt")), len(listed(MINI_ROOT, "test.txt"))) == (
        300,
        298,
    )
    for name in names:
        with Image.open(MINI_ROOT / "images" / f"{name}.jpg") as image:
            size = image.size
        with Image.open(MINI_ROOT / "annotations" / "trimaps" / f"{name}.png") as trimap:
            assert trimap.size == size and trimap.mode == "L"
            assert set(np.unique(np.asarray(trimap))) <= {1, 2, 3}
        assert max(size) <= 160


def test_loader_reads_the_shipped_subset_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    splits = load_splits(None, 32, cache_dir=str(tmp_path / "cache"))
    assert {k: len(v) for k, v in splits.items()} == {"train": 270, "val": 30, "test": 298}
    test = splits["test"]
    assert test.names == listed(MINI_ROOT, "test.txt")
    image, mask = test[test.names.index("Abyssinian_5")]  # the PNG (RGBA) named .jpg
    assert image.shape == (3, 32, 32) and image.dtype == torch.uint8
    assert set(mask.unique().tolist()) == {0, 1}
    listed_anywhere = {n for split in splits.values() for n in split.names}
    assert "Abyssinian_34" not in listed_anywhere and "Abyssinian_82" not in listed_anywhere


def test_cache_matches_per_sample_decoding_on_real_jpegs(real_root: Path, tmp_path) -> None:
    for split in ("train", "test"):
        plain = PetSegmentation(real_root, split, 48)
        cached = CachedPetSegmentation(real_root, split, 48, cache_dir=tmp_path)
        assert plain.names == cached.names
        for i in range(len(plain)):
            assert all(torch.equal(a, b) for a, b in zip(plain[i], cached[i], strict=True))


def test_partial_download_names_every_missing_file(real_root: Path, tmp_path: Path) -> None:
    root = Path(shutil.copytree(real_root, tmp_path / "pets"))
    gone = listed(root, "trainval.txt")[:3] + listed(root, "test.txt")[-1:]
    for name in gone[:3]:
        (root / "images" / f"{name}.jpg").unlink()
    (root / "annotations" / "trimaps" / f"{gone[3]}.png").unlink()
    with pytest.raises(DataError) as err:
        load_splits(str(root), 32, cache_dir=str(tmp_path / "cache"))
    message = str(err.value)
    assert "4 file(s)" in message and "pet_seg.data.check" in message
    assert all(name in message for name in gone)


def test_check_passes_the_release_as_it_unpacks_with_warnings(tmp_path: Path) -> None:
    done = cli("-m", "pet_seg.data.check", str(MINI_ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    warnings = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
    text = "\n".join(warnings)
    assert "Abyssinian_100.mat" in text and "._trimaps" in text
    assert "Abyssinian_34, Abyssinian_82" in text  # pictures in no split file
    assert "Abyssinian_5.jpg: really a PNG" in text and "Abyssinian_34.jpg: really a GIF" in text
    assert done.stdout.splitlines()[-1] == "OK: 598 images checked"


def test_make_pets_mini_rebuilds_the_layout_from_an_official_folder(real_root, tmp_path):
    source = Path(shutil.copytree(real_root, tmp_path / "src"))
    dropped = listed(source, "test.txt")[1]  # a listed pair whose picture is gone
    (source / "images" / f"{dropped}.jpg").unlink()
    out = tmp_path / "mini"
    done = cli("scripts/make_pets_mini.py", str(source), "--out", str(out), "--max-side", "48")
    assert done.returncode == 0, done.stderr
    assert listed(out, "test.txt") == [n for n in listed(source, "test.txt") if n != dropped]
    assert listed(out, "trainval.txt") == listed(source, "trainval.txt")
    for name in listed(out, "trainval.txt") + listed(out, "test.txt"):
        with Image.open(source / "images" / f"{name}.jpg") as big:
            big_size, big_format = big.size, big.format
        with Image.open(out / "images" / f"{name}.jpg") as small:
            assert small.size == scaled_size(big_size, 48) and max(small.size) == 48
            assert small.format == big_format  # the PNG named .jpg stays a PNG
        with Image.open(out / "annotations" / "trimaps" / f"{name}.png") as trimap:
            assert trimap.size == small.size
            assert set(np.unique(np.asarray(trimap))) <= {1, 2, 3}
    with Image.open(out / "images" / "Abyssinian_34.jpg") as gif:
        assert gif.format == "GIF"
    apple = (source / "annotations" / "._trimaps").read_bytes()
    assert (out / "annotations" / "._trimaps").read_bytes() == apple
    assert (out / "images" / "Abyssinian_100.mat").read_bytes().startswith(b"MATLAB 5.0")
    assert "Attribution-ShareAlike" in (out / "README.md").read_text()
    again = cli("scripts/make_pets_mini.py", str(source), "--out", str(out))
    assert again.returncode == 1 and "already exists" in again.stderr


def test_scaled_size_keeps_the_aspect_ratio_and_never_enlarges() -> None:
    assert scaled_size((500, 375), 160) == (160, 120)
    assert scaled_size((375, 500), 160) == (120, 160)
    assert scaled_size((500, 333), 160) == (160, 107)  # 106.56 rounds up
    assert scaled_size((100, 80), 160) == (100, 80)
