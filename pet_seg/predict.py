"""``python -m pet_seg.predict ckpt=<best.pt> input=<image or folder> output=<folder>``.

Batch inference on arbitrary pictures: each image is resized to the size the model was trained
at, predicted, and its logits resized back, so ``masks/<stem>.png`` (0/255) has the image's own
size; ``overlays/<stem>.png`` shows the mask over the picture. Bad inputs never stop a batch:
non-images are skipped with a warning, unreadable images are reported by name and counted.
The input folder is never written to unless ``allow_output_in_input=true``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from PIL import Image
from torch import nn
from tqdm import tqdm

from pet_seg.checkpoint import CheckpointError
from pet_seg.data import DataError
from pet_seg.data.oxford_pet import as_hw, read_image
from pet_seg.device import resolve_device
from pet_seg.paths import CONF_DIR
from pet_seg.trained_model import load_model, predict_logits, resize_logits, training_size
from pet_seg.usage import UsageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
OVERLAY_COLOR = np.array([255, 0, 0], dtype=np.float32)  # red where the mask says "pet"


def list_images(source: Path) -> list[Path]:
    """The image files to predict: ``source`` itself, or the image files directly inside it."""
    if source.is_file():
        if source.suffix.lower() not in IMAGE_SUFFIXES:
            raise UsageError(f"input={source} is not an image file ({', '.join(IMAGE_SUFFIXES)})")
        return [source]
    if not source.is_dir():
        raise UsageError(f"input={source} does not exist; pass an image file or a folder")
    files = sorted(p for p in source.iterdir() if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    for path in files:
        if path not in images:
            log.warning("skipping %s: not an image file (%s)", path.name, ", ".join(IMAGE_SUFFIXES))
    if not images:
        raise UsageError(
            f"input={source} contains no image files ({', '.join(IMAGE_SUFFIXES)}); "
            "pass a folder of pictures or a single image file"
        )
    return images


def check_output(output: Path, source: Path, allow_inside: bool) -> None:
    """Refuse to write into the input folder: masks mixed into a dataset corrupt it silently."""
    input_dir = (source if source.is_dir() else source.parent).resolve()
    out = output.resolve()
    if not allow_inside and (out == input_dir or input_dir in out.parents):
        raise UsageError(
            f"output={output} is inside the input folder {input_dir}; pass another output= "
            "(or allow_output_in_input=true if you really want that)"
        )


def safe_stem(name: str, used: set[str]) -> str:
    """A file-name stem that cannot leave the output folder and is unique within this run.

    Anything outside ``[A-Za-z0-9._-]`` (separators included) becomes ``_`` and leading dots go,
    so ``../x.jpg`` or ``..jpg`` can never name a path outside ``output``.
    """
    stem = Path(name.replace("\\", "/")).stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).lstrip(".") or "image"
    unique, n = stem, 1
    while unique in used:
        n += 1
        unique = f"{stem}-{n}"
    used.add(unique)
    return unique


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float) -> np.ndarray:
    """(H, W, 3) uint8 image tinted by the (H, W) bool mask."""
    blend = image.astype(np.float32)
    blend[mask] = (1 - alpha) * blend[mask] + alpha * OVERLAY_COLOR
    return blend.round().astype(np.uint8)


def read_batches(
    paths: Sequence[Path], batch_size: int, skipped: list[str]
) -> Iterator[list[tuple[Path, Image.Image]]]:
    """Decoded RGB images in batches; unreadable files are logged, appended to ``skipped``."""
    batch: list[tuple[Path, Image.Image]] = []
    for path in paths:
        try:
            batch.append((path, read_image(path)))
        except DataError as err:
            log.warning("skipping unreadable image %s: %s", path.name, err.__cause__ or err)
            skipped.append(path.name)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def predict_batch(
    model: nn.Module,
    batch: Sequence[tuple[Path, Image.Image]],
    size: tuple[int, int],
    device: torch.device,
    cfg: DictConfig,
    out: Path,
    used: set[str],
) -> None:
    """Predict one batch at the model's size; write each mask and overlay at its own size."""
    height, width = size
    resized = [
        np.asarray(img.resize((width, height), Image.Resampling.BILINEAR)) for _, img in batch
    ]
    images_u8 = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2)  # (B, 3, H, W) uint8
    logits = predict_logits(model, images_u8, device, cfg.tta)  # (B, 1, H, W)
    for (path, image), item in zip(batch, logits, strict=True):
        original = (image.height, image.width)
        mask = (resize_logits(item[None], original)[0, 0] > 0).cpu().numpy()  # (H0, W0) bool
        stem = safe_stem(path.name, used)
        Image.fromarray(mask.astype(np.uint8) * 255).save(out / "masks" / f"{stem}.png")
        tinted = overlay(np.asarray(image), mask, cfg.overlay_alpha)
        Image.fromarray(tinted).save(out / "overlays" / f"{stem}.png")


def run_prediction(cfg: DictConfig) -> int:
    """Predict every image under ``cfg.input``; return the number of masks written."""
    source, out = Path(cfg.input), Path(cfg.output)
    check_output(out, source, cfg.allow_output_in_input)
    paths = list_images(source)
    device = resolve_device(cfg.device)
    model, config = load_model(cfg.ckpt, device)
    size = training_size(config) if cfg.image_size is None else as_hw(cfg.image_size)
    for sub in ("masks", "overlays"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    skipped: list[str] = []
    used: set[str] = set()
    written = 0
    with tqdm(total=len(paths), desc="predict", unit="img", disable=not cfg.progress) as bar:
        for batch in read_batches(paths, cfg.batch_size, skipped):
            predict_batch(model, batch, size, device, cfg, out, used)
            written += len(batch)
            bar.update(written + len(skipped) - bar.n)  # skipped files count as done too
        bar.update(len(paths) - bar.n)
    if skipped:
        log.warning("skipped %d unreadable file(s): %s", len(skipped), ", ".join(skipped))
    if written == 0:
        raise UsageError(f"none of the {len(paths)} image(s) under input={source} could be read")
    log.info("wrote %d mask(s) to %s and overlays to %s", written, out / "masks", out / "overlays")
    return written


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="predict")
def main(cfg: DictConfig) -> None:
    try:
        run_prediction(cfg)
    except (CheckpointError, UsageError) as err:
        raise SystemExit(f"pet_seg.predict: error: {err}") from err


if __name__ == "__main__":
    main()
