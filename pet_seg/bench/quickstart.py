"""What would make ``experiment=quickstart`` faster: its two models' training step (64 px,
batch 8) under each setting, the one-off compile cost against a whole run, and two one-thread
jobs at once against one two-thread job.

The step variants are timed round-robin in one process (``pet_seg.bench.steps``); the jobs
comparison starts processes together and counts the images each trains in the same window,
alternating the two arms so that other users' load falls on both.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from pet_seg.bench.steps import BASELINE, Variant, random_batch, train_step
from pet_seg.precision import NATIVE_BF16_FLAGS, cpu_flags
from pet_seg.training.settings import TrainerSettings

IMAGE_SIZE, BATCH_SIZE, THREADS = 64, 8, 2  # conf/experiment/quickstart.yaml, 2-core machine
# One quickstart run: 270 train images / batch 8 = 34 steps × 8 epochs; 4 validation batches
# per epoch (30 images) and 38 test batches (298 images), each an eval-mode forward pass.
TRAIN_STEPS, EVAL_STEPS = 34 * 8, 4 * 8 + 38


def quickstart_variants(flags: frozenset[str] | None = None) -> list[str]:
    """Today's setting first, then memory format, compile, and bf16 where the CPU has it."""
    names = ["32", "32+cl", "32+compile"]
    if (cpu_flags() if flags is None else flags) & NATIVE_BF16_FLAGS:
        names += ["bf16-mixed", "bf16-mixed+cl"]
    return names


def with_compile_cost(train: dict[str, Any], infer: dict[str, Any]) -> dict[str, Any]:
    """Per compiled variant: compile seconds (first calls minus steady steps, training and
    evaluation graphs) and its ratio to today's over a whole quickstart run, compile included."""
    base = BASELINE.name

    def run_s(name: str) -> float:
        return TRAIN_STEPS * min(train[name]["wall_s"]) + EVAL_STEPS * min(infer[name]["wall_s"])

    out = {}
    for name in train:
        if not Variant.parse(name).compile:
            continue
        compile_s = sum(_first_calls_extra(rows[name]) for rows in (train, infer))
        out[name] = {
            "compile_s": compile_s,
            "run_s_eager_baseline": run_s(base),
            "run_s_with_compile": compile_s + run_s(name),
            "vs_baseline_steady": min(train[base]["wall_s"]) / min(train[name]["wall_s"]),
            "vs_baseline_with_compile": run_s(base) / (compile_s + run_s(name)),
        }
    return out


def _first_calls_extra(times: dict[str, list[float]]) -> float:
    """Seconds the warm-up calls took beyond as many steady steps (compiling, mostly)."""
    warmup = times["warmup_wall_s"]
    return sum(warmup) - len(warmup) * min(times["wall_s"])


def _job(cfg: DictConfig, threads: int, seconds: float, start: Any, results: Any) -> None:
    """One process training today's step for ``seconds`` after every process is ready."""
    torch.set_num_threads(threads)
    settings: TrainerSettings = instantiate(cfg.trainer)
    settings.device = "cpu"
    make_model = functools.partial(instantiate, cfg.model)
    step = train_step(
        make_model, instantiate(cfg.optimizer), BASELINE, settings,
        random_batch(BATCH_SIZE, IMAGE_SIZE),
    )  # fmt: skip
    step()  # warm-up: allocator and oneDNN primitives
    start.wait()
    wall, cpu, images = time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - wall < seconds:
        step()
        images += BATCH_SIZE
    results.put((images, time.perf_counter() - wall, time.process_time() - cpu))


def _arm(cfg: DictConfig, processes: int, threads: int, seconds: float) -> dict[str, float]:
    """``processes`` jobs of ``threads`` threads started together: images/s summed."""
    ctx = mp.get_context("spawn")  # a clean torch per job, as the joblib launcher gives
    start, results = ctx.Barrier(processes), ctx.Queue()
    jobs = [ctx.Process(target=_job, args=(cfg, threads, seconds, start, results))
            for _ in range(processes)]  # fmt: skip
    for job in jobs:
        job.start()
    done = [results.get() for _ in jobs]
    for job in jobs:
        job.join()
    return {
        "images_per_s": sum(images / wall for images, wall, _ in done),
        "cpu_s_per_image": sum(cpu for *_, cpu in done) / sum(images for images, *_ in done),
    }


def jobs_side_by_side(cfg: DictConfig, seconds: float, trials: int) -> dict[str, Any]:
    """One job × 2 threads vs two jobs × 1 thread, alternated ``trials`` times; best of each."""
    arms: dict[str, Callable[[], dict[str, float]]] = {
        "1_job_x_2_threads": functools.partial(_arm, cfg, 1, THREADS, seconds),
        "2_jobs_x_1_thread": functools.partial(_arm, cfg, 2, 1, seconds),
    }
    trials_out: dict[str, list[dict[str, float]]] = {name: [] for name in arms}
    for _ in range(trials):
        for name, arm in arms.items():
            trials_out[name].append(arm())
    best = {name: max(rows, key=lambda r: r["images_per_s"]) for name, rows in trials_out.items()}
    one, two = best["1_job_x_2_threads"], best["2_jobs_x_1_thread"]
    return {
        **{name: {**best[name], "trials": trials_out[name]} for name in arms},
        "vs_baseline": two["images_per_s"] / one["images_per_s"],
        "cpu_vs_baseline": one["cpu_s_per_image"] / two["cpu_s_per_image"],
        "seconds_per_trial": seconds,
    }
