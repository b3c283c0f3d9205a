"""Where metrics go: always a local JSON-lines file, and W&B when a run is attached.

The local files are the source of truth for reports, so nothing depends on W&B being reachable.
W&B problems (no network, bad key) downgrade to an offline run, or to no W&B run at all, with a
warning instead of killing training.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def _jsonable(value: Any) -> Any:
    """Floats that JSON can carry (NaN/inf become null), everything else unchanged."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _step_of(line: str) -> float:
    """A record's step; a line cut short by a kill counts as after every checkpoint."""
    try:
        return json.loads(line).get("step", 0)
    except json.JSONDecodeError:
        return math.inf


def start_wandb(
    run_dir: Path,
    name: str,
    config: Mapping[str, Any],
    *,
    project: str,
    entity: str | None = None,
    mode: str = "offline",
    group: str | None = None,
    tags: Sequence[str] = (),
    run_id: str | None = None,
    job_type: str = "train",
) -> Any:
    """Start (or resume, given ``run_id``) a W&B run whose files live under ``run_dir``.

    ``job_type`` tells a sweep's training runs (``"train"``) from its report run
    (``"report"``, ``pet_seg.report.publish.wandb_run``): the saved W&B Report shows only
    the former.
    """
    import wandb  # imported here so `logger=none` runs never pay for it

    kwargs = dict(
        project=project,
        entity=entity,
        group=group,
        name=name,
        tags=list(tags),
        job_type=job_type,
        config=dict(config),
        dir=str(run_dir),
        id=run_id,
        resume="allow" if run_id else None,
    )
    run = None
    for attempt in dict.fromkeys((mode, "offline")):  # the asked-for mode, then offline
        try:
            run = wandb.init(mode=attempt, **kwargs)
            break
        except Exception as err:  # W&B raises many types (CommError, UsageError, timeouts)
            then = "trying offline" if attempt != "offline" else "continuing without W&B"
            warnings.warn(
                f"W&B init failed in mode={attempt!r}: {err}; {then}. For online runs check "
                "`wandb login` and the network; logger.mode=offline or logger=none skip it",
                stacklevel=2,
            )
    if run is None:
        warnings.warn(
            "continuing without W&B; metrics.jsonl has every metric. Add logger=none to run "
            "without W&B and without this warning",
            stacklevel=2,
        )
        return None
    run.define_metric("epoch")
    for pattern in ("train/*", "val/*", "lr", "time/*"):
        run.define_metric(pattern, step_metric="epoch")
    run.define_metric("step")
    run.define_metric("step/*", step_metric="step")
    return run


def no_wandb(**_: Any) -> None:
    """The ``logger=none`` choice: no W&B run at all."""
    return None


class Tracker:
    """One run's metric sink: ``metrics.jsonl`` plus the optional W&B run.

    ``path=None`` makes a silent tracker, for the non-zero ranks of a DDP run.
    """

    def __init__(
        self, path: Path | None, wandb_run: Any | None = None, on_epoch: Any | None = None
    ) -> None:
        self.path = path
        self.wandb_run = wandb_run
        self.on_epoch = on_epoch  # called with each epoch record once logged (search pruning)

    @property
    def run_id(self) -> str | None:
        return None if self.wandb_run is None else self.wandb_run.id

    def log(self, record: Mapping[str, Any]) -> None:
        """Append one record (a step or an epoch) locally and to W&B."""
        if self.path is None:
            return
        line = json.dumps({key: _jsonable(value) for key, value in record.items()})
        with self.path.open("a") as handle:
            handle.write(line + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log({k: v for k, v in record.items() if k != "kind"})
        if self.on_epoch is not None and record.get("kind") == "epoch":
            self.on_epoch(record)

    def truncate_after(self, step: int) -> None:
        """Drop records logged after ``step``: a resumed run re-logs them, without duplicates.

        The file is rewritten whole (temp + rename), so a kill here loses nothing.
        """
        if self.path is None or not self.path.is_file():
            return
        kept = [line for line in self.path.read_text().splitlines() if _step_of(line) <= step]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        tmp.replace(self.path)

    def log_summary(self, values: Mapping[str, Any]) -> None:
        if self.wandb_run is not None:
            self.wandb_run.summary.update(dict(values))

    def log_table(self, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if self.wandb_run is not None:
            import wandb

            self.wandb_run.log(
                {key: wandb.Table(columns=list(columns), data=[list(r) for r in rows])}
            )

    def log_masks(self, key: str, epoch: int, images: Any, truths: Any, predictions: Any) -> None:
        """Images (B, H, W, 3) uint8 with W&B's mask overlays for truth and prediction (B, H, W)."""
        if self.wandb_run is None:
            return
        import wandb

        labels = {0: "background", 1: "pet"}
        panels = [
            wandb.Image(
                image,
                masks={
                    "ground_truth": {"mask_data": truth, "class_labels": labels},
                    "prediction": {"mask_data": pred, "class_labels": labels},
                },
            )
            for image, truth, pred in zip(images, truths, predictions, strict=True)
        ]
        self.wandb_run.log({key: panels, "epoch": epoch})

    @property
    def wants_images(self) -> bool:
        return self.wandb_run is not None

    def finish(self, exit_code: int = 0) -> None:
        """Close the W&B run so the next job of a multirun starts a fresh one."""
        if self.wandb_run is not None:
            self.wandb_run.finish(exit_code=exit_code)
            self.wandb_run = None
