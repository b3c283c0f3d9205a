"""The ``trainer`` config group as a typed object, checked when it is built so a typo fails before
any data is read; the objects it implies are built in ``pet_seg.training.machinery``."""

from __future__ import annotations

from dataclasses import dataclass

from pet_seg.precision import AUTO, PRECISIONS

# trainer.lr_rule → k in lr = optimizer.lr · (batch_size / lr_reference_batch_size)^k.
# keep: the reference's choice (lr 1e-3 at batch 32 and 128 alike); linear: the same step per
# image as at the reference batch (Goyal et al. 2017, for SGD); sqrt: the same gradient-noise
# scale (Krizhevsky 2014; Malladi et al. 2022 derive it for Adam).
LR_RULES = {"keep": 0.0, "sqrt": 0.5, "linear": 1.0}


@dataclass
class TrainerSettings:
    """The ``trainer`` config group; field names are the YAML keys."""

    epochs: int = 50
    batch_size: int = 32  # global: split evenly across ranks under torchrun
    eval_batch_size: int | None = None
    device: str = "auto"
    seed: int = 0
    num_workers: int = 0
    num_threads: int | None = None
    precision: str = "32"  # or "auto": resolved per machine by pet_seg.precision
    channels_last: bool = False
    compile: bool = False
    progress: bool = True  # the per-batch bar, on a terminal only
    epoch_lines: bool = True  # one line per epoch on stdout (run.log always has them)
    nonfinite: str = "stop"
    resume: bool = False
    sample_every: int = 5  # epochs between W&B mask overlays of validation images (0 = never)
    num_samples: int = 4
    lr_rule: str = "keep"  # how optimizer.lr follows batch_size: keep | sqrt | linear
    lr_reference_batch_size: int = 32  # the batch size optimizer.lr is meant for
    save_last_every: int = 1  # epochs between writes of checkpoints/last.pt
    keep_last: bool = False  # keep last.pt once the run has finished

    def __post_init__(self) -> None:
        if self.lr_rule not in LR_RULES:
            raise ValueError(f"trainer.lr_rule={self.lr_rule!r}: use one of {list(LR_RULES)}")
        self.precision = str(self.precision)  # `trainer.precision=32` arrives as an int
        if self.precision not in (*PRECISIONS, AUTO):
            raise ValueError(
                f"trainer.precision={self.precision!r}: use one of {[*PRECISIONS, AUTO]}"
            )
        if self.nonfinite not in ("stop", "skip"):
            raise ValueError(f"trainer.nonfinite={self.nonfinite!r}: use 'stop' or 'skip'")
        for key in ("epochs", "batch_size", "lr_reference_batch_size", "save_last_every"):
            if getattr(self, key) < 1:
                raise ValueError(f"trainer.{key} must be >= 1, got {getattr(self, key)}")


def eval_batch_size(settings: TrainerSettings) -> int:
    """Validation and test batches: ``eval_batch_size``, else the training batch size."""
    return settings.eval_batch_size or settings.batch_size


def batch_scaled_lr(lr: float, settings: TrainerSettings) -> float:
    """``lr`` as tuned at ``lr_reference_batch_size``, moved to ``batch_size`` by ``lr_rule``."""
    ratio = settings.batch_size / settings.lr_reference_batch_size
    return lr * ratio ** LR_RULES[settings.lr_rule]
