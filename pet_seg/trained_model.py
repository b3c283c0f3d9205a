"""A trained model back from its checkpoint, and uint8 images → logits and masks: the one path
training's samples, evaluate, predict and the report share, so a number in a CSV and a mask on
disk agree.

The model is rebuilt from the config stored in the checkpoint, so nobody retypes the
architecture; a weights/architecture mismatch is caught before ``load_state_dict`` with a
message that names the file and the differing keys, instead of PyTorch's wall of key names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from hydra.errors import HydraException
from hydra.utils import instantiate
from torch import Tensor, nn
from torch.utils.data import Dataset

from pet_seg.checkpoint import CheckpointError, load_checkpoint
from pet_seg.data.oxford_pet import (
    as_hw,
    image_path,
    read_image,
    read_trimap,
    trimap_path,
    trimap_to_mask,
)
from pet_seg.precision import autocast
from pet_seg.preprocess import normalize, prepare_batch

# Prefixes torch.compile (``_orig_mod.``) and DDP (``module.``) add to parameter names.
WRAPPER_PREFIXES = ("_orig_mod.", "module.")


class ModelMismatchError(CheckpointError):
    """The checkpoint's weights do not fit the model built for them."""


class FlipTTA(nn.Module):
    """Test-time augmentation: mean logits over identity, horizontal and vertical flips.

    Averaging logits (not probabilities) keeps ``logit > 0`` ⇔ ``probability > 0.5``, so the
    averaged output drops into ``pixel_counts`` and ``evaluate`` unchanged.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W) → (B, 1, H, W)
        logits = self.model(x)
        logits = logits + self.model(x.flip(3)).flip(3)  # horizontal flip and back
        logits = logits + self.model(x.flip(2)).flip(2)  # vertical flip and back
        return logits / 3


def strip_wrappers(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Parameter names as the bare model has them, whatever wrapper saved them."""
    out = {}
    for key, value in state_dict.items():
        for prefix in WRAPPER_PREFIXES:
            key = key.removeprefix(prefix)
        out[key] = value
    return out


def _examples(keys: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys)} in all)" if len(keys) > limit else "")


def mismatch_report(model: nn.Module, state_dict: Mapping[str, Tensor]) -> list[str]:
    """Human-readable differences between a model's parameters and a state_dict (empty = fits)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state_dict.items()
        if k in expected and v.shape != expected[k].shape
    ]
    problems = []
    if missing:
        problems.append(
            f"{len(missing)} parameters missing from the checkpoint ({_examples(missing)})"
        )
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected parameters ({_examples(unexpected)})")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches ({_examples(shapes, 2)})")
    return problems


def describe_model(config: Mapping[str, Any]) -> str:
    """``pet_seg.models.UNet(base_channels=4, ...)`` for error messages."""
    args = ", ".join(f"{k}={v}" for k, v in config.items() if not str(k).startswith("_"))
    return f"{config.get('_target_', '?')}({args})"


def build_model(path: Path, model_config: Mapping[str, Any]) -> nn.Module:
    """Instantiate the model config, with an error naming the checkpoint if it cannot be built."""
    if not isinstance(model_config, Mapping) or "_target_" not in model_config:
        raise CheckpointError(
            f"{path}: the stored config has no model._target_; expected a checkpoint written by "
            "`python -m pet_seg.run`."
        )
    config = dict(model_config)
    if config.get("weights") is not None:
        # A pretrained model's checkpoint holds every weight: fetching ImageNet weights only to
        # overwrite them would make evaluation need a network (or fail without one).
        config["weights"] = None
    try:
        return instantiate(config)
    except (HydraException, TypeError, ValueError, ImportError) as err:
        raise CheckpointError(
            f"{path}: cannot build the model {describe_model(model_config)}: {err}"
        ) from err


def model_from_state(
    state: Mapping[str, Any],
    path: str | Path,
    device: str | torch.device = "cpu",
    model_config: Mapping[str, Any] | None = None,
) -> nn.Module:
    """The model of a loaded checkpoint ``state`` (or ``model_config``'s), weights loaded, eval.

    ``path`` only names the file in errors. Raises ``ModelMismatchError`` when the weights do not
    fit the architecture.
    """
    path = Path(path)
    config = state["config"] if isinstance(state["config"], Mapping) else {}
    stored = config.get("model", {})
    wanted = stored if model_config is None else model_config
    model = build_model(path, wanted)
    weights = strip_wrappers(state["model"])
    problems = mismatch_report(model, weights)
    if problems:
        hint = (
            "Drop the model override: the checkpoint rebuilds its own architecture."
            if model_config is not None
            else "The checkpoint's weights and its stored config disagree; re-save it."
        )
        raise ModelMismatchError(
            f"{path}: weights do not fit {describe_model(wanted)}; the checkpoint was trained as "
            f"{describe_model(stored)}. " + "; ".join(problems) + f". {hint}"
        )
    model.load_state_dict(weights, strict=True)
    return model.to(device).eval()


def load_model(
    ckpt_path: str | Path,
    device: str | torch.device = "cpu",
    model_config: Mapping[str, Any] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the checkpoint's model (or ``model_config``'s), load weights strictly, eval mode.

    Returns the model on ``device`` and the resolved run config stored in the checkpoint.
    Raises ``CheckpointError`` (missing/corrupt file) or ``ModelMismatchError`` (wrong model).
    """
    state = load_checkpoint(ckpt_path, map_location="cpu")
    model = model_from_state(state, ckpt_path, device, model_config)
    return model, dict(state["config"]) if isinstance(state["config"], Mapping) else {}


def training_size(config: Mapping[str, Any], default: int = 256) -> tuple[int, int]:
    """(height, width) the model saw in training: ``data.image_size`` of the stored config."""
    return as_hw(config.get("data", {}).get("image_size", default))


@torch.no_grad()
def predict_logits(
    model: nn.Module, images_u8: Tensor, device: str | torch.device, tta: bool = False
) -> Tensor:
    """uint8 (B, 3, H, W) → float logits (B, 1, H, W) on ``device``, ImageNet-normalised input."""
    model.eval()
    x = normalize(images_u8.to(device, non_blocking=True).float().div_(255))  # (B, 3, H, W)
    net = FlipTTA(model) if tta else model
    return net(x).float()


def predict_probabilities(
    model: nn.Module, images_u8: Tensor, device: str | torch.device, tta: bool = False
) -> Tensor:
    """uint8 (B, 3, H, W) → foreground probabilities (B, 1, H, W); tta = flip-averaged logits."""
    return torch.sigmoid(predict_logits(model, images_u8, device, tta))


def resize_logits(logits: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, 1, h, w) logits → (B, 1, H, W), bilinear, so thresholds apply at the target size.

    Logits, not probabilities or masks, are resized: interpolating a score keeps thin
    structures that resizing a thresholded mask would alias away.
    """
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


def load_original(root: str | Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Full-size (H, W, 3) uint8 RGB image and (H, W) uint8 {0, 1} trimap-derived mask."""
    image = np.asarray(read_image(image_path(Path(root), name)), dtype=np.uint8)
    trimap_file = trimap_path(Path(root), name)
    return image, trimap_to_mask(np.asarray(read_trimap(trimap_file)), trimap_file)


def original_probability(
    model: nn.Module,
    image_u8: Tensor,
    size: tuple[int, int],
    device: str | torch.device,
    tta: bool = False,
) -> np.ndarray:
    """(3, S, S) uint8 model-size image → (H, W) float probabilities at the original ``size``."""
    logits = resize_logits(predict_logits(model, image_u8[None], device, tta), tuple(size))
    return torch.sigmoid(logits)[0, 0].cpu().numpy()


@torch.no_grad()
def predict_masks(
    model: nn.Module, dataset: Dataset, device: torch.device, count: int, precision: str = "32"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``count`` images as (B, H, W, 3) uint8, their truth and predicted (B, H, W)."""
    samples = [dataset[i] for i in range(min(count, len(dataset)))]
    images, masks = (torch.stack(group) for group in zip(*samples, strict=True))
    x, _ = prepare_batch(images, masks, device)
    model.eval()
    with autocast(device, precision):
        logits = model(x)  # (B, 1, H, W)
    predictions = (logits.float() > 0).squeeze(1).to(torch.uint8).cpu().numpy()
    return images.permute(0, 2, 3, 1).numpy(), masks.squeeze(1).numpy(), predictions
