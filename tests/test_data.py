"""pet_seg.data on a generated dataset in the official layout (40 trainval + 12 test)."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pet_seg.data import (
    CachedPetSegmentation,
    DataError,
    PetSegmentation,
    build_cache,
    download_oxford_pet,
    ensure_synthetic,
    generate_synthetic,
    load_sample,
    load_splits,
    load_synthetic_splits,
    read_split,
    trimap_to_mask,
)
from pet_seg.data.check import check_dataset
from pet_seg.data.check import main as check_main

LINE = re.compile(r"^([A-Za-z_]+_\d+) (\d+) ([12]) (\d+)$")


def split_lines(root: Path, filename: str) -> list[str]:
    return (root / "annotations" / filename).read_text().splitlines()


def all_names(root: Path) -> list[str]:
    return [line.split()[0] for f in ("trainval.txt", "test.txt") for line in split_lines(root, f)]


def trimap_file(root: Path, name: str) -> Path:
    return root / "annotations" / "trimaps" / f"{name}.png"


def image_file(root: Path, name: str) -> Path:
    return root / "images" / f"{name}.jpg"


@pytest.fixture
def copy_root(synthetic_root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(synthetic_root, tmp_path / "pets"))


# --- splits and trimaps -------------------------------------------------------------------


def test_splits_follow_index_mod_val_every(synthetic_root: Path) -> None:
    trainval = [line.split()[0] for line in split_lines(synthetic_root, "trainval.txt")]
    assert len(trainval) == 40
    val = read_split(synthetic_root, "val")
    assert val == [trainval[0], trainval[10], trainval[20], trainval[30]]
    train = read_split(synthetic_root, "train")
    assert len(train) == 36
    assert train == [name for i, name in enumerate(trainval) if i % 10 != 0]
    test = read_split(synthetic_root, "test")
    assert test == [line.split()[0] for line in split_lines(synthetic_root, "test.txt")]
    assert len(test) == 12 and not set(test) & set(trainval)
    assert len(read_split(synthetic_root, "val", val_every=5)) == 8


def test_split_file_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    text = "# header\n\na_1 1 1 1\nb_2 2 2 1\n  \n#c_3 3 1 2\nd_4 4 2 2\n"
    (tmp_path / "annotations" / "trainval.txt").write_text(text)
    assert read_split(tmp_path, "val", val_every=2) == ["a_1", "d_4"]
    assert read_split(tmp_path, "train", val_every=2) == ["b_2"]
    with pytest.raises(ValueError, match="split"):
        read_split(tmp_path, "trainval")


def test_trimap_to_mask_maps_pet_and_boundary_to_foreground() -> None:
    trimap = np.array([[1, 2, 3], [3, 2, 1], [2, 2, 2]], dtype=np.uint8)
    mask = trimap_to_mask(trimap)
    np.testing.assert_array_equal(mask, [[1, 0, 1], [1, 0, 1], [0, 0, 0]])
    assert mask.dtype == np.uint8
    for bad in (0, 7):
        with pytest.raises(DataError, match=rf"odd\.png.*\[{bad}\]"):
            trimap_to_mask(np.array([[1, bad]], dtype=np.uint8), source="odd.png")


# --- the generated layout -----------------------------------------------------------------


def test_layout_matches_the_official_one(synthetic_root: Path) -> None:
    lines = split_lines(synthetic_root, "trainval.txt") + split_lines(synthetic_root, "test.txt")
    for line in lines:
        name, class_id, species, breed_id = LINE.match(line).groups()
        assert 1 <= int(class_id) <= 37 and 1 <= int(breed_id) <= 25
        assert (species == "1") == name[0].isupper()  # cats are capitalised
    listing = split_lines(synthetic_root, "list.txt")
    assert listing[0] == "#Image CLASS-ID SPECIES BREED ID"
    header = [line for line in listing if line.startswith("#")]
    assert len(header) == 6 and sorted(listing[6:]) == sorted(lines)
    assert (synthetic_root / "synthetic.json").is_file()
    assert [p.name for p in synthetic_root.parent.iterdir()] == [synthetic_root.name]


def test_trimaps_and_images_look_like_the_real_files(synthetic_root: Path) -> None:
    modes, sizes, touching = set(), set(), 0
    for name in all_names(synthetic_root):
        with Image.open(image_file(synthetic_root, name)) as image:
            assert image.format == "JPEG"
            modes.add(image.mode)
            sizes.add(image.size)
        with Image.open(trimap_file(synthetic_root, name)) as trimap:
            assert trimap.format == "PNG" and trimap.mode == "L" and trimap.size == image.size
            values = np.asarray(trimap)
        assert set(np.unique(values).tolist()) == {1, 2, 3}
        border = np.concatenate([values[0], values[-1], values[:, 0], values[:, -1]])
        touching += bool((border != 2).any())
    assert modes == {"RGB", "L", "CMYK"}
    assert any(w != h for w, h in sizes) and any(w % 2 or h % 2 for w, h in sizes)
    assert touching >= 3  # some pets are cut by the image border


def test_grayscale_and_cmyk_images_load_as_rgb(synthetic_root: Path) -> None:
    odd = [
        name
        for name in all_names(synthetic_root)
        if Image.open(image_file(synthetic_root, name)).mode in ("L", "CMYK")
    ]
    assert len(odd) >= 3
    for name in odd:
        image, mask = load_sample(synthetic_root, name, 24)
        assert image.shape == (24, 24, 3) and image.dtype == np.uint8
        assert mask.shape == (24, 24) and set(np.unique(mask).tolist()) <= {0, 1}


def file_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = file_bytes(generate_synthetic(tmp_path / "a", 6, 2, seed=3, min_size=40, max_size=60))
    again = file_bytes(generate_synthetic(tmp_path / "b", 6, 2, seed=3, min_size=40, max_size=60))
    other = file_bytes(generate_synthetic(tmp_path / "c", 6, 2, seed=4, min_size=40, max_size=60))
    assert len(first) == 2 * 8 + 4 and first == again
    images = [k for k in first if k.startswith("images")]
    assert all(first[k] != other.get(k) for k in images)


def test_ensure_synthetic_reuses_regenerates_and_refuses(tmp_path: Path) -> None:
    root = ensure_synthetic(tmp_path / "pets", 4, 2, seed=0, min_size=40, max_size=48)
    stamp = (root / "synthetic.json").stat().st_mtime_ns
    ensure_synthetic(root, 4, 2, seed=0, min_size=40, max_size=48)
    assert (root / "synthetic.json").stat().st_mtime_ns == stamp  # reused, not rewritten
    ensure_synthetic(root, 5, 2, seed=0, min_size=40, max_size=48)
    assert len(split_lines(root, "trainval.txt")) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pets"]  # no temp folders left
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    for make in (ensure_synthetic, generate_synthetic):
        with pytest.raises(DataError, match="mine"):
            make(foreign, 4, 2, seed=0)
    assert (foreign / "notes.txt").read_text() == "keep me"


# --- datasets and the cache ---------------------------------------------------------------


def test_cached_and_uncached_datasets_are_identical(synthetic_root: Path, tmp_path: Path) -> None:
    for split, size in (("train", 36), ("val", 4), ("test", 12)):
        plain = PetSegmentation(synthetic_root, split, 32)
        cached = CachedPetSegmentation(synthetic_root, split, 32, cache_dir=tmp_path)
        assert plain.names == cached.names == read_split(synthetic_root, split)
        assert len(plain) == len(cached) == size
        for i in range(size):
            (image, mask), (c_image, c_mask) = plain[i], cached[i]
            assert image.dtype == mask.dtype == torch.uint8
            assert image.shape == (3, 32, 32) and mask.shape == (1, 32, 32)
            assert set(mask.unique().tolist()) <= {0, 1}
            assert torch.equal(image, c_image) and torch.equal(mask, c_mask)


def test_cached_dataset_pickles_small_and_batches(synthetic_root: Path, tmp_path: Path) -> None:
    cached = CachedPetSegmentation(synthetic_root, "val", 32, cache_dir=tmp_path)
    cached[0]  # opens the memmaps
    blob = pickle.dumps(cached)
    assert len(blob) < 10_000  # workers get the path, not the arrays
    assert torch.equal(pickle.loads(blob)[3][0], cached[3][0])
    images, masks = next(iter(DataLoader(cached, batch_size=4)))
    assert images.shape == (4, 3, 32, 32) and masks.shape == (4, 1, 32, 32)


def test_cache_is_reused_and_rebuilt_when_a_file_changes(copy_root: Path, tmp_path: Path) -> None:
    first = build_cache(copy_root, "val", 24, cache_dir=tmp_path / "cache")
    stamp = (first / "images.npy").stat().st_mtime_ns
    assert build_cache(copy_root, "val", 24, cache_dir=tmp_path / "cache") == first
    assert (first / "images.npy").stat().st_mtime_ns == stamp
    assert build_cache(copy_root, "val", 32, cache_dir=tmp_path / "cache") != first
    name = read_split(copy_root, "val")[1]
    path = trimap_file(copy_root, name)
    all_background = np.full_like(np.asarray(Image.open(path)), 2)
    Image.fromarray(all_background).save(path)
    os.utime(path, ns=(stamp + 10**9, stamp + 10**9))
    rebuilt = CachedPetSegmentation(copy_root, "val", 24, cache_dir=tmp_path / "cache")
    assert rebuilt.path != first and rebuilt[1][1].sum() == 0
    assert CachedPetSegmentation(copy_root, "val", 24, cache_dir=tmp_path / "cache")[0][1].any()
    assert not list((tmp_path / "cache").glob(".tmp-*"))


def test_failed_cache_build_leaves_nothing(copy_root: Path, tmp_path: Path) -> None:
    name = read_split(copy_root, "test")[5]  # fails mid-build, after earlier samples were written
    values = np.asarray(Image.open(trimap_file(copy_root, name))).copy()
    values[3, 3] = 9
    Image.fromarray(values).save(trimap_file(copy_root, name))
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError, match=f"{name}.png"):
        build_cache(copy_root, "test", 24, cache_dir=cache_dir)
    assert not cache_dir.exists() or not list(cache_dir.iterdir())


def test_load_splits_entry_points(synthetic_root: Path, tmp_path: Path) -> None:
    cached = load_splits(str(synthetic_root), 32, cache_dir=str(tmp_path))
    assert {k: len(v) for k, v in cached.items()} == {"train": 36, "val": 4, "test": 12}
    assert all(isinstance(v, CachedPetSegmentation) for v in cached.values())
    plain = load_splits(str(synthetic_root), 32, cache=False)
    assert all(isinstance(v, PetSegmentation) for v in plain.values())
    made = load_synthetic_splits(str(tmp_path / "syn"), 24, 20, 5, seed=1, cache_dir=None)
    assert {k: len(v) for k, v in made.items()} == {"train": 18, "val": 2, "test": 5}
    assert (tmp_path / "syn" / ".pet_seg_cache").is_dir()


def test_download_failure_explains_the_manual_route(monkeypatch, tmp_path: Path) -> None:
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("torchvision.datasets.OxfordIIITPet", offline)
    with pytest.raises(DataError) as err:
        download_oxford_pet(tmp_path / "oxford-iiit-pet")
    for url in ("thor.robots.ox.ac.uk/datasets/pets/images.tar.gz", "annotations.tar.gz"):
        assert url in str(err.value)
    with pytest.raises(DataError, match="data.download=true"):
        load_splits(str(tmp_path / "nowhere"), 32)


def test_download_into_a_root_with_another_name(monkeypatch, tmp_path: Path) -> None:
    def fake(root, **kwargs):  # what torchvision does: extract into <root>/oxford-iiit-pet
        generate_synthetic(Path(root) / "oxford-iiit-pet", 3, 1, seed=0, min_size=32, max_size=40)

    monkeypatch.setattr("torchvision.datasets.OxfordIIITPet", fake)
    root = download_oxford_pet(tmp_path / "pets")
    assert root == tmp_path / "pets" and len(read_split(root, "test")) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pets"]


# --- bad input ----------------------------------------------------------------------------


def break_dataset(root: Path, case: str) -> str:
    """Damage ``root`` one way; returns the file name the error must mention."""
    name = read_split(root, "train")[0]
    trimap = trimap_file(root, name)
    if case == "missing root":
        shutil.rmtree(root)
        return root.name
    if case == "missing split file":
        (root / "annotations" / "test.txt").unlink()
        return "test.txt"
    if case == "missing trimap":
        trimap.unlink()
    elif case == "truncated jpeg":
        data = image_file(root, name).read_bytes()
        image_file(root, name).write_bytes(data[: len(data) // 2])
        return f"{name}.jpg"
    elif case == "trimap value 7":
        values = np.asarray(Image.open(trimap)).copy()
        values[0, 0] = 7
        Image.fromarray(values).save(trimap)
    elif case == "trimap size mismatch":
        Image.open(trimap).resize((20, 30)).save(trimap)
    return f"{name}.png"


CASES = [
    "missing root",
    "missing split file",
    "missing trimap",
    "truncated jpeg",
    "trimap value 7",
    "trimap size mismatch",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_raises_data_error_naming_the_file(copy_root: Path, case: str) -> None:
    filename = break_dataset(copy_root, case)
    split = "test" if case == "missing split file" else "train"
    with pytest.raises(DataError, match=re.escape(filename)) as err:
        PetSegmentation(copy_root, split, 32)[0]
    if case.startswith("missing") and "trimap" not in case:
        assert "scripts/download_data.py" in str(err.value) and "data=synthetic" in str(err.value)


@pytest.fixture
def broken_root(copy_root: Path) -> tuple[Path, list[str]]:
    """A copy with four different broken samples."""
    names = read_split(copy_root, "train")[:2] + read_split(copy_root, "test")[:2]
    trimap_file(copy_root, names[0]).unlink()
    image_file(copy_root, names[1]).write_bytes(image_file(copy_root, names[1]).read_bytes()[:300])
    values = np.asarray(Image.open(trimap_file(copy_root, names[2]))).copy()
    values[-1, -1] = 7
    Image.fromarray(values).save(trimap_file(copy_root, names[2]))
    Image.open(trimap_file(copy_root, names[3])).resize((17, 19)).save(
        trimap_file(copy_root, names[3])
    )
    return copy_root, [f"{names[0]}.png", f"{names[1]}.jpg", f"{names[2]}.png", f"{names[3]}.png"]


def test_check_dataset_lists_every_problem(broken_root, synthetic_root: Path) -> None:
    root, files = broken_root
    problems = check_dataset(root)
    assert len(problems) == 4
    for problem, filename in zip(problems, files, strict=True):
        assert filename in problem
    assert check_dataset(synthetic_root) == []
    missing = check_dataset(root.parent / "nothing-here")
    assert len(missing) == 1 and "nothing-here" in missing[0]


def run_check(root: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pet_seg.data.check", str(root)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_check_cli(broken_root, synthetic_root: Path, capsys) -> None:
    assert check_main([str(synthetic_root)]) == 0  # in-process: one torch import is enough
    assert capsys.readouterr().out.strip() == "OK: 52 images checked"
    root, files = broken_root
    bad = run_check(root)
    assert bad.returncode == 1
    assert all(filename in bad.stdout for filename in files)
    assert "RuntimeWarning" not in bad.stderr
