"""Which way of averaging Dice and loss a run *acts on*: pet_seg's or the reference study's code's.

Both averages are always computed and logged, each under its own name, so a curve averaged per
batch is never drawn or compared as if it were one averaged per image:

- ``train/dice``, ``val/dice``: the mean of per-image Dice (every image weighs the same).
- ``train/dice_per_batch``, ``val/dice_per_batch``: the reference's, one Dice per batch pooling
  every pixel of the batch, then the mean over batches (a last, partial batch counts as one).
- ``train/loss``, ``val/loss``: the pixel mean over the split.
- ``train/loss_per_batch``, ``val/loss_per_batch``: the reference's, the mean over batches of each
  batch's mean loss.

A ``Conventions`` (the ``conventions`` config group) says which validation Dice picks
``checkpoints/best.pt``, which validation loss a plateau scheduler watches (``scheduler.monitor``
interpolates ``${conventions.val_loss}``) and the Dice formula's epsilon, which also applies to
the test split's per-image Dice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

VAL_DICE_KEYS = ("val/dice", "val/dice_per_batch")
VAL_LOSS_KEYS = ("val/loss", "val/loss_per_batch")


@dataclass(frozen=True)
class Conventions:
    """The ``conventions`` config group; field names are the YAML keys.

    The defaults are pet_seg's: per-image Dice picks the checkpoint (the reference's *test* numbers
    are per image, so selection and test then measure the same thing), the loss is the pixel
    mean (a partial last batch does not weigh as much as a full one), and an image with empty
    truth and empty prediction scores 1.
    """

    val_dice: str = "val/dice"  # val/dice | val/dice_per_batch: picks checkpoints/best.pt
    val_loss: str = "val/loss"  # val/loss | val/loss_per_batch: what scheduler.monitor watches
    dice_epsilon: float | None = None  # None: empty/empty scores 1; 1e-8: the reference's 0
    # The reference's colour jitter also scaled the masks; ``augmentation=flip_jitter_reference``
    # reads this key, so one switch (``conventions=reference``) gives all of its computation.
    jitter_masks: bool = False

    def __post_init__(self) -> None:
        if self.val_dice not in VAL_DICE_KEYS:
            raise ValueError(
                f"conventions.val_dice={self.val_dice!r}: use one of {list(VAL_DICE_KEYS)}"
            )
        if self.val_loss not in VAL_LOSS_KEYS:
            raise ValueError(
                f"conventions.val_loss={self.val_loss!r}: use one of {list(VAL_LOSS_KEYS)}"
            )
        if self.dice_epsilon is not None and not self.dice_epsilon > 0:
            raise ValueError(
                f"conventions.dice_epsilon={self.dice_epsilon!r}: use null or a positive number"
            )

    def as_summary(self) -> dict[str, Any]:
        """For ``summary.json``, so tables and figures can say which convention made a run."""
        return {"conventions": asdict(self)}


PET_SEG = Conventions()
REFERENCE = Conventions(
    val_dice="val/dice_per_batch", val_loss="val/loss_per_batch", dice_epsilon=1e-8,
    jitter_masks=True,
)  # fmt: skip
