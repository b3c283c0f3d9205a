"""``python -m pet_seg.evaluate ckpt=<run>/checkpoints/best.pt``: score one split of a checkpoint.

The model and, by default, the data come from the config stored in the checkpoint, so a user
never retypes the training settings; ``data=...`` / ``data.key=...`` (and, to check a
mismatch, ``model=...``) apply on top. Writes per-image Dice/IoU, the Table-1 summary and
pictures of the worst and best images into ``<run>/eval/<split>[-tta][-original]/``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import Dataset

from pet_seg.checkpoint import CheckpointError, load_checkpoint
from pet_seg.data import DataError
from pet_seg.device import resolve_device
from pet_seg.extra_scores import ExtraScores, record_extras
from pet_seg.panels import draw_panels
from pet_seg.paths import CONF_DIR
from pet_seg.run_folder import EvalFolder, RunFolder, write_json_atomic
from pet_seg.scoring import Scores, score_split, summary_of, write_per_image
from pet_seg.trained_model import (
    load_original,
    model_from_state,
    original_probability,
    predict_probabilities,
)
from pet_seg.usage import UsageError

log = logging.getLogger(__name__)


RESOLUTIONS = ("train", "original")
# Switching the data group keeps the size the model was trained at unless it is overridden too.
KEEP_ON_GROUP_SWITCH = {"data": ("image_size",), "model": ()}


def command_line_overrides() -> list[Override]:
    """The task overrides the user typed (``data=...``, ``data.root=...``), parsed by Hydra."""
    return OverridesParser.create().parse_overrides(list(HydraConfig.get().overrides.task))


def merge_section(
    section: str, stored: Mapping[str, Any], cfg: DictConfig, overrides: Sequence[Override]
) -> tuple[dict[str, Any], bool]:
    """The checkpoint's ``section`` config with the user's overrides on top; and whether any.

    ``section=<group>`` replaces the stored config by that group's (except the keys in
    ``KEEP_ON_GROUP_SWITCH``); ``section.key=value`` sets one key, ``~section.key`` removes it.
    Values come from the composed ``cfg``, where Hydra has already parsed them.
    """
    merged = dict(stored)
    mine = [o for o in overrides if o.key_or_group.split(".")[0] == section]
    if any(o.key_or_group == section for o in mine):
        group = OmegaConf.to_container(cfg[section], resolve=True)
        merged = group | {k: stored[k] for k in KEEP_ON_GROUP_SWITCH[section] if k in stored}
    node = OmegaConf.create(merged)
    for o in mine:
        if o.key_or_group == section:
            continue
        path = o.key_or_group.split(".", 1)[1]
        if o.is_delete():
            parent, _, leaf = path.rpartition(".")
            target = OmegaConf.select(node, parent) if parent else node
            if target is not None and leaf in target:
                target.pop(leaf)
        else:
            value = OmegaConf.select(cfg, o.key_or_group)
            OmegaConf.update(node, path, value, merge=False, force_add=True)
    return OmegaConf.to_container(node, resolve=True), bool(mine)


def default_output(ckpt: Path, split: str, tta: bool, resolution: str) -> Path:
    """``<run>/eval/<split>[-tta][-original]``, the run being the folder above ``checkpoints/``."""
    name = split + ("-tta" if tta else "") + ("-original" if resolution == "original" else "")
    return RunFolder.of_checkpoint(ckpt).eval_dir(name)


def panel_samples(
    model: nn.Module, dataset: Dataset, indices: Sequence[int], device: torch.device,
    tta: bool, original: bool,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:  # fmt: skip
    """(image, ground truth, probability) triples at the resolution the scores were taken at."""
    samples = []
    for index in indices:
        image_u8, mask_u8 = dataset[index]  # (3, S, S), (1, S, S) uint8
        if original:
            image, mask = load_original(dataset.root, dataset.names[index])
            prob = original_probability(model, image_u8, mask.shape, device, tta)
        else:
            image, mask = image_u8.permute(1, 2, 0).numpy(), mask_u8[0].numpy()
            prob = predict_probabilities(model, image_u8[None], device, tta)[0, 0].cpu().numpy()
        samples.append((image, mask, prob))
    return samples


def write_panels(
    out: EvalFolder, model, dataset, scores: Scores, count: int, device, tta, original
) -> None:
    """``worst.png`` and ``best.png``: the ``count`` lowest- and highest-Dice images."""
    dice = scores.dice
    order = torch.argsort(dice, stable=True).tolist()  # ascending Dice
    count = min(count, len(order))
    for label, indices in (("worst", order[:count]), ("best", order[::-1][:count])):
        titles = [f"{dataset.names[i]}\nDice {float(dice[i]):.3f}" for i in indices]
        samples = panel_samples(model, dataset, indices, device, tta, original)
        draw_panels(samples, out.panels(label), titles)


def load_inputs(
    cfg: DictConfig, overrides: Sequence[Override]
) -> tuple[nn.Module, Dataset, torch.device, dict[str, Any]]:
    """Model, dataset, device and the data/model configs used: the checkpoint's + overrides."""
    ckpt = Path(cfg.ckpt)
    state = load_checkpoint(ckpt, map_location="cpu")
    stored = state["config"]
    data_cfg, data_overridden = merge_section("data", stored.get("data", {}), cfg, overrides)
    model_cfg, model_overridden = merge_section("model", stored.get("model", {}), cfg, overrides)
    device = resolve_device(cfg.device)
    model = model_from_state(state, ckpt, device, model_cfg if model_overridden else None)
    del state  # the optimizer state is as large as the model; free it before scoring
    log.info("data (%s): %s", "overridden" if data_overridden else "checkpoint", data_cfg)
    try:
        datasets = hydra.utils.instantiate(data_cfg)
    except InstantiationException as err:  # Hydra wraps the loader's own, readable error
        raise (err.__cause__ if isinstance(err.__cause__, DataError) else err) from None
    if cfg.split not in datasets:
        raise UsageError(f"split={cfg.split!r}: use one of {sorted(datasets)}")
    conventions = stored.get("conventions", {})  # a checkpoint from before the group: pet_seg's
    used = {"data": data_cfg, "model": model_cfg, "conventions": conventions}
    return model, datasets[cfg.split], device, used


def write_results(
    out: EvalFolder, cfg: DictConfig, names: Sequence[str], scores: Scores, used: dict,
    columns: dict[str, list] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """``per_image.csv``, ``summary.json`` and the ``config.yaml`` that produced them."""
    write_per_image(out.per_image, names, scores, columns)
    summary = {"ckpt": str(cfg.ckpt), "split": cfg.split, "tta": cfg.tta}
    summary |= {"eval_resolution": cfg.eval_resolution, "images": len(names)}
    summary |= summary_of(scores, prefix=cfg.split)
    write_json_atomic(out.summary, summary)
    settings = OmegaConf.to_container(cfg, resolve=True) | used
    out.config.write_text(OmegaConf.to_yaml(settings))
    return summary


def run_evaluation(cfg: DictConfig, overrides: Sequence[Override]) -> dict[str, Any]:
    """Load, score, write; return the summary dict (also written to ``summary.json``)."""
    if cfg.eval_resolution not in RESOLUTIONS:
        raise UsageError(f"eval_resolution={cfg.eval_resolution!r}: use one of {RESOLUTIONS}")
    model, dataset, device, used = load_inputs(cfg, overrides)
    original = cfg.eval_resolution == "original"
    out = EvalFolder(
        cfg.output or default_output(Path(cfg.ckpt), cfg.split, cfg.tta, cfg.eval_resolution)
    )
    out.path.mkdir(parents=True, exist_ok=True)
    mask_dir = out.masks if cfg.save_masks else None
    scored = ExtraScores.of(dataset, cfg.hd95)  # attributes, trimap/boundary scores, calibration
    scores = score_split(
        model, dataset, device, cfg.batch_size, tta=cfg.tta, original=original,
        mask_dir=mask_dir, progress=cfg.progress,
        dice_epsilon=used["conventions"].get("dice_epsilon"), observe=scored,
    )  # fmt: skip
    columns = scored and record_extras(scored, out.calibration, model, None, device)
    summary = write_results(out, cfg, dataset.names, scores, used, columns)
    if cfg.panels > 0:
        write_panels(out, model, dataset, scores, cfg.panels, device, cfg.tta, original)
    keys = ("dice_mean", "dice_median", "dice_std", "dice_min", "dice_max", "iou_mean", "loss")
    numbers = "  ".join(f"{k} {summary[f'{cfg.split}/{k}']:.4f}" for k in keys)
    log.info("%s (%d images): %s", cfg.split, summary["images"], numbers)  # Table 1, on screen
    log.info("wrote %s", out.path)
    return summary


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> float:
    try:
        summary = run_evaluation(cfg, command_line_overrides())
    except (CheckpointError, DataError, UsageError) as err:
        raise SystemExit(f"pet_seg.evaluate: error: {err}") from err
    return float(summary[f"{cfg.split}/dice_mean"])


if __name__ == "__main__":
    main()
