"""Tiny real data and the overrides that shrink the real config to seconds on a CPU: real pets
from the shipped subset at 64 px, 4-channel models, 2 epochs."""

import shutil
from pathlib import Path

from pet_seg.data.mini import MINI_ROOT

CONF = Path(__file__).resolve().parents[1] / "conf"
# The release's odd files, kept in every tiny copy: a PNG named .jpg that test.txt lists.
PNG_NAMED_JPG = "Abyssinian_5"


def _spread(lines: list[str], count: int) -> list[str]:
    """``count`` lines spaced evenly over the file, so all three breeds are in."""
    step = max(1, len(lines) // count)
    return lines[::step][:count]


def real_subset(root: Path, num_trainval: int = 40, num_test: int = 12) -> Path:
    """A copy of the shipped real subset at ``root`` whose split files list only a few pairs.

    Every picture and odd file of the subset stays in ``images/`` (the loader must read only
    what the split files list); test.txt keeps the PNG named ``.jpg``. Reused when present.
    """
    root = Path(root)
    if (root / "annotations" / "test.txt").is_file():
        return root
    ignore = shutil.ignore_patterns(".pet_seg_cache")
    shutil.copytree(MINI_ROOT, root, ignore=ignore, dirs_exist_ok=True)
    annotations = root / "annotations"
    trainval = _spread((annotations / "trainval.txt").read_text().splitlines(), num_trainval)
    test = (annotations / "test.txt").read_text().splitlines()
    odd = next(line for line in test if line.split()[0] == PNG_NAMED_JPG)
    test = [odd, *[line for line in _spread(test, num_test) if line != odd][: num_test - 1]]
    (annotations / "trainval.txt").write_text("\n".join(trainval) + "\n")
    (annotations / "test.txt").write_text("\n".join(test) + "\n")
    return root


def tiny_overrides(data_root: Path, epochs: int = 2) -> list[str]:
    """Overrides for a real-data run in seconds; makes the tiny copy at ``data_root`` if needed
    (36 train / 4 val / 12 test pairs)."""
    real_subset(data_root)
    return [
        "data=oxford_pet_mini",
        f"data.root={data_root}",
        "data.image_size=64",
        "model.base_channels=4",
        f"trainer.epochs={epochs}",
        "trainer.batch_size=4",
        "trainer.progress=false",
    ]
