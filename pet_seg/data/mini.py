"""The real Oxford-IIIT Pet subset that ships inside the package, and the code that makes it.

A fresh clone has real pets with no download: ``data=oxford_pet_mini`` reads
``pet_seg/data/oxford-iiit-pet-mini`` through the same loader as the full release. The subset is
the release *as it unpacks*, only smaller: every picture keeps its aspect ratio and its real
file format (a PNG or GIF named ``.jpg`` stays one), trimaps are resized with nearest neighbour
so they keep their {1, 2, 3} values, the split files are cut to the pictures present, and the
release's odd files come along (``._*`` AppleDouble files byte-exact, ``.mat`` files as their
128-byte MATLAB header, since the real ones are a megabyte each). Rebuild it from any folder in
the official layout with ``python scripts/make_pets_mini.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PIL import Image

from pet_seg.data.oxford_pet import PIL_ERRORS, DataError, check_root

MINI_ROOT = Path(__file__).resolve().parent / "oxford-iiit-pet-mini"
SPLIT_NAMES = ("trainval.txt", "test.txt", "list.txt")
MAT_HEADER_BYTES = 128  # a MATLAB 5 file's text header + version + endianness
NOTICE = """\
# Oxford-IIIT Pet, mini

A downsampled subset of the Oxford-IIIT Pet dataset (O. M. Parkhi, A. Vedaldi, A. Zisserman,
C. V. Jawahar, "Cats and Dogs", CVPR 2012, https://www.robots.ox.ac.uk/~vgg/data/pets/).

License: Creative Commons Attribution-ShareAlike 4.0 International
(https://creativecommons.org/licenses/by-sa/4.0/). The copyright of the images stays with their
owners. This derivative is shared under the same license.

Changes from the release: pictures downsampled to at most {max_side} px on their longer side
(aspect ratio kept; JPEG quality {quality}, other formats kept as they are), trimaps resized
with nearest neighbour to the same size, split files cut to the pictures present, `.mat` files
in `images/` cut to their {mat_bytes}-byte MATLAB header. Made by `scripts/make_pets_mini.py`
from {source}.
"""


def scaled_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(W, H) shrunk so the longer side is ``max_side``; never enlarged, aspect ratio kept."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _shrink_image(source: Path, target: Path, max_side: int, quality: int) -> tuple[int, int]:
    """Re-encode one picture smaller in its own format and mode; returns its new (W, H)."""
    with Image.open(source) as image:
        image.load()
        fmt, size = image.format, scaled_size(image.size, max_side)
        if image.mode == "P":  # palette (GIF): resize through RGB, keep a palette file
            small = image.convert("RGB").resize(size, Image.Resampling.LANCZOS).quantize(256)
        else:
            small = image.resize(size, Image.Resampling.LANCZOS)
        options = {"quality": quality} if fmt == "JPEG" else {"optimize": True}
        small.save(target, format=fmt, **options)
    return size


def _shrink_trimap(source: Path, target: Path, size: tuple[int, int]) -> None:
    with Image.open(source) as trimap:
        trimap.resize(size, Image.Resampling.NEAREST).save(target, optimize=True)


def _copy_pairs(src: Path, dst: Path, max_side: int, quality: int) -> set[str]:
    """Every picture in ``src/images`` with its trimap; returns the stems written as pairs."""
    written = set()
    for path in sorted((src / "images").iterdir()):
        target = dst / "images" / path.name
        if path.suffix.lower() == ".mat":  # a megabyte each in the release; keep the header
            target.write_bytes(path.read_bytes()[:MAT_HEADER_BYTES])
            continue
        try:
            size = _shrink_image(path, target, max_side, quality)
        except PIL_ERRORS:
            shutil.copyfile(path, target)  # not a picture: keep it as the release has it
            continue
        trimap = src / "annotations" / "trimaps" / f"{path.stem}.png"
        if trimap.is_file():
            _shrink_trimap(trimap, dst / "annotations" / "trimaps" / trimap.name, size)
            written.add(path.stem)
    return written


def _stem(line: str) -> str | None:
    words = line.split()
    return words[0] if words else None


def _cut_split_files(src: Path, dst: Path, present: set[str]) -> None:
    """Split files keep their comment lines and order, minus the names not shipped."""
    for name in SPLIT_NAMES:
        path = src / "annotations" / name
        if path.is_file():
            lines = path.read_text().splitlines(keepends=True)
            kept = [line for line in lines if line.startswith("#") or _stem(line) in present]
            (dst / "annotations" / name).write_text("".join(kept))


def _copy_extras(src: Path, dst: Path) -> None:
    """The annotations README and macOS ``._*`` files, byte-exact (they are tiny)."""
    for folder in ("annotations", "annotations/trimaps"):
        for path in (src / folder).glob("._*"):
            shutil.copyfile(path, dst / folder / path.name)
    readme = src / "annotations" / "README"
    if readme.is_file():
        shutil.copyfile(readme, dst / "annotations" / "README")


def make_mini(src: Path, dst: Path, max_side: int = 160, quality: int = 85) -> Path:
    """Write the downsampled copy of ``src`` (official layout) at ``dst`` (must not exist)."""
    src, dst = Path(src), Path(dst)
    check_root(src)
    if dst.exists():
        raise DataError(f"{dst} already exists; remove it first or pick another --out.")
    (dst / "annotations" / "trimaps").mkdir(parents=True)
    (dst / "images").mkdir()
    present = _copy_pairs(src, dst, max_side, quality)
    _cut_split_files(src, dst, present)
    _copy_extras(src, dst)
    notice = NOTICE.format(
        max_side=max_side, quality=quality, mat_bytes=MAT_HEADER_BYTES, source=src.name
    )
    (dst / "README.md").write_text(notice)
    return dst
