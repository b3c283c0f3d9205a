"""``python -m pet_seg.run``: compose the config, build the parts, train, test, record.

This is the only module that reads the whole config. A run is a function of its config: every
file it makes lands in the Hydra output folder (``outputs/runs/...`` or one job folder of
``outputs/multirun/...``).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pet_seg.checkpoint import folder_bytes, load_checkpoint
from pet_seg.device import describe_device, resolve_device
from pet_seg.distributed import init_world, local_rank
from pet_seg.extra_scores import ExtraScores, record_extras
from pet_seg.paths import CONF_DIR
from pet_seg.precision import describe_threads, resolve_precision
from pet_seg.preflight import check_model_input, check_precision
from pet_seg.run_folder import RunFolder
from pet_seg.run_label import label_of, parse_override
from pet_seg.run_log import say
from pet_seg.scoring import Scores, summary_of, write_per_image
from pet_seg.search.pruning import TrialPruned, epoch_hook
from pet_seg.sweep_progress import SweepPosition, sweep_position
from pet_seg.tracking import Tracker
from pet_seg.training.job_scope import job_scope
from pet_seg.training.loop import fit, test_best
from pet_seg.training.machinery import build_machinery
from pet_seg.training.settings import TrainerSettings, batch_scaled_lr


def wandb_group(hydra_cfg: DictConfig, name: str) -> str:
    """``<name>-<sweep folder>``: one W&B group per sweep (per run folder for single runs).

    Taken from the folder the launcher created rather than a ``${now:}`` in the config, which
    each job of a multirun would resolve at its own start time.
    """
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    folder = Path(hydra_cfg.sweep.dir if multirun else hydra_cfg.runtime.output_dir)
    return f"{name}-{folder.name}"


def with_batch_scaled_lr(cfg: DictConfig, settings: TrainerSettings) -> DictConfig:
    """A copy of ``cfg`` whose ``optimizer.lr`` follows the batch size by ``trainer.lr_rule``.

    Applied to the config rather than to the built optimizer so that every ``${optimizer.lr}``
    (OneCycleLR's ``max_lr``) follows too, and ``config.yaml`` and W&B record the lr in use.
    """
    lr = batch_scaled_lr(float(cfg.optimizer.lr), settings)
    return cfg if lr == cfg.optimizer.lr else OmegaConf.merge(cfg, {"optimizer": {"lr": lr}})


def run(
    cfg: DictConfig,
    run_dir: Path,
    job_name: str,
    group: str | None = None,
    position: SweepPosition | None = None,
) -> float:
    """Train and test one configuration in ``run_dir``; return the best validation Dice.

    ``position``: where this job stands in its sweep, for its first line.
    """
    settings: TrainerSettings = instantiate(cfg.trainer)
    cfg = with_batch_scaled_lr(cfg, settings)
    folder = RunFolder(run_dir)
    previous = folder.read_summary()
    if settings.resume and previous.get("status") == "finished":
        print(f"[pet_seg] {run_dir} already finished; skipping (trainer.resume=true)")
        return float(previous["best/val_dice"])
    with job_scope(settings):
        return _train_and_test(cfg, settings, folder, job_name, group, position)


def first_line(
    name: str, device: torch.device, requested: str, position: SweepPosition | None
) -> str:
    """``job 2/4 <name> on cpu (trainer.device=auto: …); sweep left ≈ …``, or ``run <name> …``."""
    line = f"{position.describe() if position else 'run'} {name} on "
    line += describe_device(requested, device)
    left = position.left() if position else ""
    return f"{line}; {left}" if left else line


def _train_and_test(
    cfg: DictConfig, settings: TrainerSettings, folder: RunFolder, job_name: str,
    group: str | None, position: SweepPosition | None = None,
) -> float:  # fmt: skip
    """The job itself; everything it builds lives in this frame and is gone when it returns."""
    device = resolve_device(settings.device, local_rank())
    settings.precision, why = resolve_precision(settings.precision, device)  # "auto" → a name
    check_precision(device, settings.precision)  # before data, folder or W&B: one sentence
    check_model_input(cfg)
    world = init_world(device.type)
    threads = describe_threads(settings.num_threads) if device.type == "cpu" else None
    if world.is_main:
        line = first_line(job_name, device, settings.device, position)
        line += f"; precision {settings.precision} ({why})"
        line += f"; {threads}" if threads else ""
        line += "; channels_last" if settings.channels_last else ""
        say(line, folder.run_log)
    torch.manual_seed(settings.seed)  # before the model is built: same seed, same weights

    resolved = OmegaConf.to_container(cfg, resolve=True)
    datasets = instantiate(cfg.data)
    model = instantiate(cfg.model)
    conventions = instantiate(cfg.conventions)
    summary: dict[str, Any] = {
        "status": "running",
        "name": job_name,
        "model": cfg.model._target_,
        "params": sum(p.numel() for p in model.parameters()),
        # where the (encoder) weights started: a pretrained model says which file
        "encoder_weights": getattr(model, "encoder_weights", "untrained"),
        "loss": cfg.loss._target_,
        "lr": cfg.optimizer.lr,
        # what trained it: training times compare only on one device (reproduce.md's claims)
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else device.type,
        "precision_used": settings.precision,  # trainer.precision=auto resolved on this machine
        # the rest of what decides a CPU run's arithmetic (oneDNN splits reductions by threads)
        "cpu_threads": torch.get_num_threads() if device.type == "cpu" else None,
        "channels_last": settings.channels_last,
    }
    tracker = Tracker(None)
    if world.is_main:  # under torchrun only rank 0 writes files and talks to W&B
        say(
            f"{summary['model']}: {summary['params'] / 1e6:.2f} M parameters, "
            f"encoder weights: {summary['encoder_weights']}, lr {summary['lr']:g}",
            folder.run_log,
        )
        folder.path.mkdir(parents=True, exist_ok=True)
        folder.config.write_text(OmegaConf.to_yaml(resolved))
        folder.write_summary(summary)
        wandb_run = _start_wandb(cfg, folder, job_name, group, resolved)
        tracker = Tracker(folder.metrics, wandb_run, on_epoch=epoch_hook(cfg))
    try:
        criterion = instantiate(cfg.loss)
        m = build_machinery(
            model, instantiate(cfg.optimizer), instantiate(cfg.scheduler), datasets, settings,
            device, world,
        )  # fmt: skip
        extras = {"config": resolved, "wandb_run_id": tracker.run_id}
        summary |= fit(
            m, criterion, instantiate(cfg.augmentation), tracker, folder, settings, extras,
            world, conventions,
        )  # fmt: skip
        hd95 = cfg.test_scores.hd95
        scored = ExtraScores.of(datasets["test"], hd95) if world.size == 1 else None
        test = test_best(
            model, criterion, m.test_loader, device, folder, settings, world, conventions, scored
        )
        columns = scored and record_extras(
            scored, folder.calibration, model, m.val_loader, device, settings.precision
        )
        summary |= summary_of(test, "test") | {"status": "finished"}
        if world.is_main:
            _record_test(folder, datasets["test"].names, test, tracker, summary, columns)
        return float(summary["best/val_dice"])
    except TrialPruned as pruned:  # an Optuna search stopped this trial (pet_seg.search)
        summary |= pruned.summary()
        tracker.log_summary(summary)
        return pruned.value
    except KeyboardInterrupt:
        summary |= {"status": "interrupted", "error": "KeyboardInterrupt"}
        raise
    except Exception as err:
        summary |= {"status": "failed", "error": f"{type(err).__name__}: {err}"}
        raise
    finally:
        finished = summary["status"] in ("finished", "pruned")  # a pruned trial is done too
        if world.is_main:
            folder.write_summary(summary)  # first: a kill from here on skips the job on resume
            if finished and not settings.keep_last:
                # a finished run is skipped on resume, never resumed: last.pt has no use left
                folder.last.unlink(missing_ok=True)
        tracker.finish(0 if finished else 1)
        if world.is_main:
            summary |= {"disk_bytes": folder_bytes(folder.path), **_cuda_peak()}
            folder.write_summary(summary)


def _cuda_peak() -> dict[str, int]:
    """This job's peak CUDA memory (``job_scope`` reset the statistics when it started)."""
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return {}
    return {"peak_cuda_bytes": torch.cuda.max_memory_allocated()}


def _start_wandb(
    cfg: DictConfig, folder: RunFolder, name: str, group: str | None, resolved: Any
) -> Any:
    """The logger group's run, resuming the checkpoint's W&B run when ``trainer.resume``."""
    resuming = cfg.trainer.resume and folder.last.is_file()
    run_id = load_checkpoint(folder.last).get("wandb_run_id") if resuming else None
    return instantiate(cfg.logger)(
        run_dir=folder.path,
        name=name,
        config=resolved,
        run_id=run_id,
        group=cfg.logger.get("group") or group or cfg.name,
    )


def _record_test(
    folder: RunFolder, names: list[str], test: Scores, tracker: Tracker, summary: dict[str, Any],
    columns: dict[str, list] | None = None,
) -> None:  # fmt: skip
    """Per-image test results to CSV and W&B, and the Table-1 numbers to the W&B summary."""
    write_per_image(folder.test_results, names, test, columns)
    rows = list(zip(names, test.dice.tolist(), test.iou.tolist(), strict=True))
    tracker.log_table("test/per_image", ["name", "dice", "iou"], rows)
    tracker.log_summary(summary)


def job_name(hydra_cfg: DictConfig, default: str) -> str:
    """A run's display name (``pet_seg.run_label``): ``model=unet, scheduler=cosine``.

    In a multirun only keys swept on the command line or in ``hydra.sweeper.params`` are kept.
    """
    overrides = list(hydra_cfg.overrides.task)
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return label_of(overrides, {parse_override(o)[0] for o in overrides}) or default
    swept = set(hydra_cfg.sweeper.get("params") or {})
    multirun = Path(hydra_cfg.sweep.dir) / "multirun.yaml"  # the basic sweeper writes it
    if multirun.is_file():
        sweep = OmegaConf.load(multirun).hydra.overrides.task
        parsed = OverridesParser.create().parse_overrides(list(sweep))
        swept |= {o.key_or_group for o in parsed if o.is_sweep_override()}
    return label_of(overrides, swept) or default


def quiet_dependency_warnings() -> None:
    """Hide deprecations raised inside dependencies (wandb, torch, hydra…): a user cannot act on
    them, and each ``warnings.catch_warnings`` a library enters resets Python's once-per-line
    memory, so they came back every epoch. Only warnings attributed to a module outside
    pet_seg are hidden, and nothing is when ``-W`` / ``PYTHONWARNINGS`` chose.
    """
    if sys.warnoptions:
        return
    outside = r"(?!pet_seg\b|__main__\b)"  # warnings.filterwarnings matches from the start
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category, module=outside)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    return run(
        cfg,
        Path(hydra_cfg.runtime.output_dir),
        job_name(hydra_cfg, cfg.name),
        wandb_group(hydra_cfg, cfg.name),
        sweep_position(hydra_cfg) if multirun else None,
    )


if __name__ == "__main__":
    quiet_dependency_warnings()
    main()
