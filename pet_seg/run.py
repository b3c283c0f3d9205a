"""``python -m pet_seg.run``: compose the config, build the parts, train, test, record.

This is the only module that reads the whole config. A run is a function of its config: every
file it makes lands in the Hydra output folder (``outputs/runs/...`` or one job folder of
``outputs/multirun/...``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pet_seg.paths import CONF_DIR
from pet_seg.scoring import Evaluation, summary_of, write_per_image
from pet_seg.search.pruning import TrialPruned, epoch_hook
from pet_seg.tracking import Tracker
from pet_seg.training.checkpoint import folder_bytes, load_checkpoint, remove_resume_state
from pet_seg.training.distributed import init_world
from pet_seg.training.job_scope import job_scope
from pet_seg.training.loop import fit, test_best
from pet_seg.training.settings import TrainerSettings, batch_scaled_lr, resolve_device

SUMMARY_FILE = "summary.json"


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    """Rewrite ``summary.json`` whole (temp + rename) so a reader never sees half a file."""
    tmp = run_dir / f".{SUMMARY_FILE}.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(run_dir / SUMMARY_FILE)


def read_summary(run_dir: Path) -> dict[str, Any]:
    path = run_dir / SUMMARY_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


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


def run(cfg: DictConfig, run_dir: Path, job_name: str, group: str | None = None) -> float:
    """Train and test one configuration in ``run_dir``; return the best validation Dice."""
    settings: TrainerSettings = instantiate(cfg.trainer)
    cfg = with_batch_scaled_lr(cfg, settings)
    previous = read_summary(run_dir)
    if settings.resume and previous.get("status") == "finished":
        print(f"[pet_seg] {run_dir} already finished; skipping (trainer.resume=true)")
        return float(previous["best/val_dice"])
    with job_scope(settings):
        return _train_and_test(cfg, settings, run_dir, job_name, group)


def _train_and_test(
    cfg: DictConfig, settings: TrainerSettings, run_dir: Path, job_name: str, group: str | None
) -> float:
    """The job itself; everything it builds lives in this frame and is gone when it returns."""
    world = init_world(resolve_device(settings.device).type)
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
    }
    tracker = Tracker(None)
    if world.is_main:  # under torchrun only rank 0 writes files and talks to W&B
        print(
            f"[pet_seg] {summary['model']}: {summary['params'] / 1e6:.2f} M parameters, "
            f"encoder weights: {summary['encoder_weights']}, lr {summary['lr']:g}",
            flush=True,
        )
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(resolved))
        write_summary(run_dir, summary)
        wandb_run = _start_wandb(cfg, run_dir, job_name, group, resolved, settings)
        tracker = Tracker(run_dir, wandb_run, on_epoch=epoch_hook(cfg))
    try:
        summary |= fit(
            model,
            instantiate(cfg.loss),
            instantiate(cfg.optimizer),
            instantiate(cfg.scheduler),
            datasets,
            instantiate(cfg.augmentation),
            tracker,
            run_dir,
            settings,
            extras={"config": resolved, "wandb_run_id": tracker.run_id},
            world=world,
            conventions=conventions,
        )
        test = test_best(
            model, instantiate(cfg.loss), datasets["test"], run_dir, settings, world, conventions
        )
        summary |= summary_of(test, "test") | {"status": "finished"}
        if world.is_main:
            _record_test(run_dir, datasets["test"].names, test, tracker, summary)
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
            write_summary(run_dir, summary)  # first: a kill from here on skips the job on resume
            if finished and not settings.keep_last:
                remove_resume_state(run_dir)
        tracker.finish(0 if finished else 1)
        if world.is_main:
            summary |= {"disk_bytes": folder_bytes(run_dir), **_cuda_peak()}
            write_summary(run_dir, summary)


def _cuda_peak() -> dict[str, int]:
    """This job's peak CUDA memory (``job_scope`` reset the statistics when it started)."""
    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return {}
    return {"peak_cuda_bytes": torch.cuda.max_memory_allocated()}


def _start_wandb(
    cfg: DictConfig, run_dir: Path, name: str, group: str | None, resolved: Any, settings: Any
) -> Any:
    """The logger group's run, resuming the checkpoint's W&B run when ``trainer.resume``."""
    last = run_dir / "checkpoints" / "last.pt"
    run_id = (
        load_checkpoint(last).get("wandb_run_id") if settings.resume and last.is_file() else None
    )
    return instantiate(cfg.logger)(
        run_dir=run_dir,
        name=name,
        config=resolved,
        run_id=run_id,
        group=cfg.logger.get("group") or group or cfg.name,
    )


def _record_test(
    run_dir: Path, names: list[str], test: Evaluation, tracker: Tracker, summary: dict[str, Any]
) -> None:
    """Per-image test results to CSV and W&B, and the Table-1 numbers to the W&B summary."""
    write_per_image(run_dir / "test_results.csv", names, test)
    rows = list(zip(names, test.dice.tolist(), test.iou.tolist(), strict=True))
    tracker.log_table("test/per_image", ["name", "dice", "iou"], rows)
    tracker.log_summary(summary)


def job_name(hydra_cfg: DictConfig, default: str) -> str:
    """A run's display name: its values of the swept keys, e.g. ``model=unet,scheduler=cosine``.

    Constant overrides (data root, epochs) would make every name of a sweep share a long
    prefix, so in a multirun only keys swept on the command line or in
    ``hydra.sweeper.params`` are kept.
    """
    overrides = list(hydra_cfg.overrides.task)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        swept = set(hydra_cfg.sweeper.get("params") or {})
        multirun = Path(hydra_cfg.sweep.dir) / "multirun.yaml"  # the basic sweeper writes it
        if multirun.is_file():
            sweep = OmegaConf.load(multirun).hydra.overrides.task
            parsed = OverridesParser.create().parse_overrides(list(sweep))
            swept |= {o.key_or_group for o in parsed if o.is_sweep_override()}
        overrides = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") in swept]
    return ",".join(overrides) or default


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    return run(
        cfg,
        Path(hydra_cfg.runtime.output_dir),
        job_name(hydra_cfg, cfg.name),
        wandb_group(hydra_cfg, cfg.name),
    )


if __name__ == "__main__":
    main()
