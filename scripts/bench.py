"""Throughput benchmark: input pipeline, training step and inference, measured in one process.

    python scripts/bench.py [--image-size 128] [--batch-size 4] [--steps 3] [--images 128]
        [--models unet,resnet34_unet] [--device auto|cpu|cuda] [--sections pipeline,train,infer]
        [--variants 32,bf16-mixed+cl,...] [--base-channels N] [--threads N] [--json PATH]
        [overrides ...]
    python scripts/bench.py --quickstart [--json PATH]   # what makes experiment=quickstart fast

Variants are ``<precision>[+cl][+fused][+compile]``: autocast precision (32, bf16-mixed,
16-mixed), channels_last, the optimizer's fused kernel, torch.compile. The baseline, ``32``, is
the report's setup (fp32, NCHW, for-loop AdamW, eager); every ratio is against it.

The project's default settings (trainer.precision, trainer.channels_last, trainer.compile,
optimizer.fused) come from the composed config in conf/; trailing ``key=value`` overrides
change them, e.g. ``trainer.precision=bf16-mixed`` to time a candidate default. JSON goes to
stdout (or --json PATH); a human table goes to stderr.

``--quickstart`` times the quickstart's settings (64 px, batch 8, 2 threads,
experiment=quickstart): fp32 NCHW eager (today's), channels_last, torch.compile (steady and with
its compile time counted against one quickstart run), bf16-mixed (+cl) where the CPU has native
bf16, and two one-thread jobs at once vs one two-thread job (``pet_seg.bench.quickstart``).

``--check-numbers`` asks whether a candidate setting changes what runs learn: it trains a short
quickstart configuration (``pet_seg.bench.numbers.CHECK_CONFIG``: real pets, 64 px, UNet at a
quarter width, 2 epochs; ``--check-config`` / ``--check-epochs`` change it) with ``--seeds`` in
arm A (``--baseline``, default ``hydra/launcher=basic``: one job at a time, as before the
quickstart ran two side by side) and arm B (``--candidate``), and compares the
(seeds, test images) matrices of per-image test Dice with the verdicts module
(``pet_seg.report.statistics.verdicts``): B - A, its 95 % interval, the verdict ("within
noise" or "real"), and whether the interval lies inside +-``--margin`` (equivalent)::

    python scripts/bench.py --check-numbers --candidate "hydra/launcher=parallel" --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

from pet_seg.bench.machine import machine_info
from pet_seg.bench.numbers import CHECK_CONFIG, CHECK_EPOCHS, ArmResult, parse_arm, run_arm
from pet_seg.bench.pipeline import bench_pipeline
from pet_seg.bench.quickstart import (
    BATCH_SIZE,
    IMAGE_SIZE,
    THREADS,
    jobs_side_by_side,
    quickstart_variants,
    with_compile_cost,
)
from pet_seg.bench.steps import (
    BASELINE,
    Step,
    Variant,
    default_variants,
    for_inference,
    infer_step,
    measure,
    random_batch,
    train_step,
)
from pet_seg.device import resolve_device
from pet_seg.paths import CONF_DIR
from pet_seg.precision import resolve_precision
from pet_seg.report.statistics.verdicts import compare_configurations
from pet_seg.training.settings import TrainerSettings

SECTIONS = ("pipeline", "train", "infer")
METHOD = {
    "pipeline": "full passes, best of --passes; seed_style = per-sample PIL decode+resize and "
    "torchvision flips/ColorJitter, cached = uint8 cache + prepare_batch with BatchAugment",
    "train": "build_machinery + train_one_epoch on one in-memory uint8 batch (prepare_batch, "
    "BatchAugment, autocast forward, BCE, backward, optimizer step, per-step Dice)",
    "infer": "score_loader() on one in-memory batch: eval mode, no grad, autocast, "
    "per-image counts",
    "images_per_s": "batch / fastest of --steps timed steps after --warmup untimed ones; "
    "variants interleaved step by step",
    "vs_baseline": "wall-time ratio to variant '32'; cpu_vs_baseline: process CPU-time ratio",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per variant")
    parser.add_argument("--images", type=int, default=128, help="images per pipeline pass")
    parser.add_argument("--passes", type=int, default=5, help="pipeline passes per arm")
    parser.add_argument("--loader-batch-size", type=int, default=32, help="pipeline batch")
    parser.add_argument("--models", default="unet,resnet34_unet", help="conf/model options")
    parser.add_argument("--base-channels", type=int, default=None, help="default: the config's")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:1")
    parser.add_argument("--threads", type=int, default=None, help="default: trainer.num_threads")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--variants", default=None, help="e.g. 32,bf16-mixed+cl (32 first)")
    parser.add_argument("--data-root", type=Path, default=Path("data/synthetic-bench"))
    parser.add_argument("--json", type=Path, default=None, help="write JSON here, not stdout")
    parser.add_argument("--quickstart", action="store_true", help="the quickstart's settings")
    parser.add_argument("--jobs-seconds", type=float, default=20, help="--quickstart: per trial")
    parser.add_argument("--jobs-trials", type=int, default=2, help="--quickstart: per arm")
    parser.add_argument("--check-numbers", action="store_true", help="seeds x (A, B) verdict")
    parser.add_argument("--candidate", default="", help="--check-numbers: arm B's overrides")
    parser.add_argument(
        "--baseline", default="hydra/launcher=basic", help="--check-numbers: arm A's overrides"
    )
    parser.add_argument("--seeds", default="0,1,2", help="--check-numbers: seeds per arm")
    parser.add_argument("--check-epochs", type=int, default=CHECK_EPOCHS)
    parser.add_argument("--check-config", default=" ".join(CHECK_CONFIG), help="both arms")
    parser.add_argument(
        "--arms-one-by-one", dest="arms_together", action="store_false",
        help="--check-numbers: train arm A, then arm B (default: both at once)",
    )  # fmt: skip
    parser.add_argument("--margin", type=float, default=0.01, help="equivalence margin (Dice)")
    parser.add_argument("--out-dir", type=Path, default=Path("outputs/bench/check_numbers"))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. trainer.precision=32")
    args = parser.parse_args(argv)
    if args.quickstart:  # experiment=quickstart's step; compile needs 2 calls to settle
        args.image_size, args.batch_size, args.threads = IMAGE_SIZE, BATCH_SIZE, THREADS
        args.sections, args.warmup = "train,infer", max(args.warmup, 2)
        args.variants = args.variants or ",".join(quickstart_variants())
        args.overrides = ["experiment=quickstart", *args.overrides]
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"--sections: unknown {sorted(unknown)}; choose from {SECTIONS}")
    return args


def compose_model(name: str, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[f"model={name}", *overrides])


def default_variant(cfg: DictConfig, device: torch.device) -> Variant:
    """The variant a plain ``python -m pet_seg.run`` trains with on ``device``."""
    t = cfg.trainer
    fused = bool(cfg.optimizer.get("fused") or False)
    precision, _ = resolve_precision(str(t.precision), device)
    return Variant(precision, bool(t.channels_last), fused, bool(t.compile))


def model_section(
    args: argparse.Namespace,
    name: str,
    variants: list[Variant],
    step_fn: Callable[..., Step],
    device: torch.device,
) -> dict[str, Any]:
    """One model's variants timed side by side; ``default`` names the config's variant."""
    cfg = compose_model(name, args.overrides)
    kwargs = {} if args.base_channels is None else {"base_channels": args.base_channels}
    make_model = functools.partial(instantiate, cfg.model, **kwargs)
    settings: TrainerSettings = instantiate(cfg.trainer)
    settings.device = str(device)
    default = default_variant(cfg, device)
    if step_fn is infer_step:
        default = for_inference([default])[0]
    chosen = variants if default in variants else [*variants, default]
    batch = random_batch(args.batch_size, args.image_size)
    print(f"[bench] {step_fn.__name__} {name}: {[v.name for v in chosen]}", file=sys.stderr)
    result = measure(
        step_fn, make_model, instantiate(cfg.optimizer), chosen, settings, batch, args.warmup,
        args.steps,
    )  # fmt: skip
    result["params"] = sum(p.numel() for p in make_model().parameters())
    result["default"] = default.name
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every requested section, in this one process, so their ratios share the machine state."""
    device = resolve_device(args.device)
    models = args.models.split(",")
    threads = args.threads or compose_model(models[0], args.overrides).trainer.num_threads
    if threads:
        torch.set_num_threads(threads)
    names = args.variants.split(",") if args.variants else default_variants(device)
    variants = [Variant.parse(name) for name in names]
    if BASELINE not in variants:
        variants.insert(0, BASELINE)
    variants.sort(key=lambda v: v != BASELINE)  # first = the ratio's denominator
    sections = args.sections.split(",")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    out: dict[str, Any] = {"machine": machine_info(device), "settings": settings, "method": METHOD}
    started = time.perf_counter()
    if "pipeline" in sections:
        print("[bench] pipeline", file=sys.stderr)
        out["pipeline"] = bench_pipeline(
            args.data_root,
            args.images,
            args.image_size,
            args.loader_batch_size,
            device,
            args.passes,
        )
    plan = {"train": (train_step, variants), "infer": (infer_step, for_inference(variants))}
    for section, (step_fn, chosen) in plan.items():
        if section in sections:
            out[section] = {
                model: model_section(args, model, chosen, step_fn, device) for model in models
            }
    if args.quickstart:
        out["quickstart"] = quickstart_section(args, models, out)
    out["total_s"] = time.perf_counter() - started
    return out


def quickstart_section(
    args: argparse.Namespace, models: list[str], out: dict[str, Any]
) -> dict[str, Any]:
    """Per model: compile cost over one quickstart run, and the two-jobs comparison."""
    section = {}
    for model in models:
        print(f"[bench] quickstart jobs side by side {model}", file=sys.stderr)
        cfg = compose_model(model, args.overrides)
        train, infer = out["train"][model]["variants"], out["infer"][model]["variants"]
        section[model] = {
            "compile": with_compile_cost(train, infer),
            "jobs": jobs_side_by_side(cfg, args.jobs_seconds, args.jobs_trials),
        }
    return section


def table(out: dict[str, Any]) -> str:
    """The few numbers a person wants, one line each."""
    lines = [f"{out['machine']['device_name']} · torch {out['machine']['torch']} · "
             f"{out['machine']['torch_threads']} threads"]  # fmt: skip
    if "pipeline" in out:
        p = out["pipeline"]
        lines.append(
            f"pipeline  seed-style {p['seed_style']['images_per_s']:8.1f} img/s   cached "
            f"{p['cached']['images_per_s']:8.1f} img/s   x{p['speedup']:.1f}   "
            f"(cache build {p['cache_build_s']:.2f} s, peak RSS {p['peak_rss_mb']:.0f} MB)"
        )
    for section in ("train", "infer"):
        for model, result in out.get(section, {}).items():
            lines.append(f"{section:<6} {model}  (default = {result['default']}, "
                         f"peak RSS {result['peak_rss_mb']:.0f} MB)")  # fmt: skip
            for name, row in result["variants"].items():
                lines.append(
                    f"    {name:<28} {row['images_per_s']:8.2f} img/s  x{row['vs_baseline']:.2f} "
                    f"(CPU time x{row['cpu_vs_baseline']:.2f})"
                )
    for model, q in out.get("quickstart", {}).items():
        for name, c in q["compile"].items():
            lines.append(f"quickstart {model} {name}: compile {c['compile_s']:.0f} s, "
                         f"x{c['vs_baseline_steady']:.2f} steady, "
                         f"x{c['vs_baseline_with_compile']:.2f} over one run")  # fmt: skip
        jobs = q["jobs"]
        lines.append(
            f"quickstart {model} jobs: 1x2 threads {jobs['1_job_x_2_threads']['images_per_s']:.2f}"
            f" img/s, 2x1 thread {jobs['2_jobs_x_1_thread']['images_per_s']:.2f} img/s, "
            f"x{jobs['vs_baseline']:.2f} (CPU x{jobs['cpu_vs_baseline']:.2f})"
        )
    return "\n".join(lines)


def number_verdict(a: ArmResult, b: ArmResult, margin: float) -> dict[str, Any]:
    """B - A at configuration level (seeds and images as noise), and equivalence within
    +-``margin``: the 95 % interval lies inside it (stricter than TOST's 90 % interval)."""
    if a.names != b.names:
        raise ValueError("the arms scored different test images")
    diff = compare_configurations(a.scores, b.scores)
    return {
        "kind": diff.kind,
        "delta": diff.mean,
        "ci95": [diff.low, diff.high],
        "p_value": diff.p_value,
        "df": diff.df,
        "seed_sd": diff.seed_sd,
        "verdict": diff.verdict,
        "margin": margin,
        "equivalent": diff.kind == "configuration" and -margin < diff.low and diff.high < margin,
        "seeds": list(diff.seeds),
        "images": diff.images,
    }


def arm_record(result: ArmResult) -> dict[str, Any]:
    """What one arm trained and scored (its per-seed mean test Dice and wall time)."""
    return {
        "overrides": list(result.arm.overrides),
        "seeds": result.seeds,
        "runs": result.runs,
        "wall_s": result.wall_s,
    }


def check_numbers(args: argparse.Namespace) -> dict[str, Any]:
    """Arm A then arm B, each a seed sweep of the check configuration; their verdict."""
    seeds = [int(s) for s in args.seeds.split(",")]
    config = tuple(args.check_config.split())
    env = {"WANDB_MODE": "offline"}
    arms = [parse_arm(args.baseline, "A_baseline"), parse_arm(args.candidate, "B_candidate")]
    train = functools.partial(
        run_arm, seeds=seeds, out_dir=args.out_dir, config=config, epochs=args.check_epochs,
        env=env,
    )  # fmt: skip
    # Side by side: the same load falls on both arms, so their wall times compare too.
    with ThreadPoolExecutor(max_workers=2 if args.arms_together else 1) as pool:
        a, b = pool.map(train, arms)
    return {
        "machine": machine_info(resolve_device("cpu")),
        "config": [*config, f"trainer.epochs={args.check_epochs}"],
        "A": arm_record(a),
        "B": arm_record(b),
        "arms_together": args.arms_together,
        "B_minus_A": number_verdict(a, b, args.margin),
        # the same seed under both settings: how far the setting alone moves one run
        "same_seed_B_minus_A": (b.scores.mean(axis=1) - a.scores.mean(axis=1)).tolist(),
    }


def write_json(out: dict, path: Path | None) -> None:
    """The results as JSON: on stdout, or in ``path``."""
    text = json.dumps(out, indent=2)
    if path is None:
        print(text)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check_numbers:
        out = check_numbers(args)
        write_json(out, args.json)
        v = out["B_minus_A"]
        print(f"B - A = {v['delta']:+.4f} [{v['ci95'][0]:+.4f}, {v['ci95'][1]:+.4f}] "
              f"{v['verdict']}; equivalent within +-{v['margin']}: {v['equivalent']}",
              file=sys.stderr)  # fmt: skip
        return 0
    out = run(args)
    write_json(out, args.json)
    print(table(out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
