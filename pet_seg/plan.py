"""A sweep's plan, before its first run: what will run, on how many images, and at what cost.

A full reproduction is hours of device time; a user should see "6 runs, ≈ N GPU-minutes" before
committing them, not after. The plan lists every job the basic sweeper will launch (its
overrides, model, augmentation, scheduler, epochs, batch, image size and images per split) and
estimates each job's cost from a quick measurement on this machine: a warm-up and two timed
training steps, and the same for inference, of each distinct model through the project's own
training loop (``pet_seg.bench.steps``), scaled by the images the job will see.

``PlanCallback`` is registered in ``conf/config.yaml``'s ``hydra.callbacks``, so every multirun
prints the plan and writes ``<sweep>/plan.md`` and ``plan.json``; each job's first line says
how much of the sweep is left from it (``pet_seg.sweep_progress``), and the sweep's end says its
wall time beside the plan's estimate. A plan never stops a sweep: anything it cannot work out it
says so and the runs go on.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from pet_seg.adaptive.pricing import AdaptiveCost, price
from pet_seg.adaptive.sequential import SequentialDesign
from pet_seg.data.oxford_pet import SPLITS
from pet_seg.plan_cost import Speed, estimate_minutes, measure_speed, split_sizes
from pet_seg.report.statistics.seeds_needed import seeds_needed
from pet_seg.run_label import label_of, parse_override, varying_keys
from pet_seg.sweep_jobs import BASIC_SWEEPER, sweep_jobs
from pet_seg.sweep_progress import sweep_end_line

log = logging.getLogger(__name__)
# Seed-to-seed SD of a run's mean test Dice on the shipped pets at the quickstart's settings
# (ResNet34-UNet + one-cycle, seeds 0, 1, 2: 0.7671, 0.7665, 0.7425; README "What a verdict
# means"): the default prior of `python -m pet_seg.plan --difference`.
SHIPPED_PETS_SEED_SD = 0.014
VERDICT_SWEEPER = "hydra_plugins.pet_seg_verdict.PetSegVerdictSweeper"


@dataclass
class PlannedRun:
    """One job of the sweep as the plan reports it (``minutes`` None when not estimated)."""

    overrides: list[str]
    label: str  # the overrides that differ between the sweep's jobs
    model: str
    augmentation: str
    scheduler: str
    epochs: int
    batch_size: int
    image_size: int
    images: dict[str, int] | None
    seed: int = 0
    minutes: float | None = None


def planned_run(job: list[str], label: str, cfg: DictConfig) -> PlannedRun:
    choices = cfg.hydra.runtime.choices
    return PlannedRun(
        overrides=job,
        label=label,
        model=str(cfg.model._target_).rsplit(".", 1)[-1],
        augmentation=str(choices.get("augmentation")),
        scheduler=str(choices.get("scheduler")),
        epochs=int(cfg.trainer.epochs),
        batch_size=int(cfg.trainer.batch_size),
        image_size=int(cfg.data.image_size),
        images=split_sizes(cfg.data),
        seed=int(cfg.trainer.seed),
    )


@dataclass
class Plan:
    """The sweep's runs, the speed measured per model, and what the plan could not work out."""

    runs: list[PlannedRun] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)  # overrides every job has
    speeds: dict[str, Speed] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    adaptive: AdaptiveCost | None = None  # hydra/sweeper=verdict: its runs are seeds to come

    @property
    def total_minutes(self) -> float | None:
        known = [run.minutes for run in self.runs if run.minutes is not None]
        return sum(known) if known else None


def measure_key(cfg: DictConfig) -> str:
    """Jobs that share this key train at the same speed (seeds, schedules, augmentation)."""
    parts = (cfg.model, cfg.data.image_size, cfg.trainer.batch_size, cfg.trainer.precision)
    return json.dumps([str(p) for p in parts])


def make_plan(
    config: DictConfig,
    compose_job: Callable[[list[str]], DictConfig],
    measure: Callable[[DictConfig], Speed] | None,
) -> Plan:
    """Compose every job; time each distinct model once with ``measure``; estimate each job."""
    jobs = sweep_jobs(config)
    plan = Plan(shared=[item for item in jobs[0] if all(item in job for job in jobs)])
    keys = varying_keys(jobs)
    measured: dict[str, Speed | None] = {}
    for job in jobs:
        cfg = compose_job(job)
        label = label_of(job, keys)
        run = planned_run(job, label or str(config.get("name", "run")), cfg)
        if run.images is None:
            plan.notes.append(f"{run.label}: no dataset at data.root={cfg.data.get('root')}")
        key = measure_key(cfg)
        if measure is not None and key not in measured:
            measured[key] = _measure(measure, cfg, plan.notes)
            if measured[key] is not None:
                plan.speeds[f"{run.model}, batch {run.batch_size}"] = measured[key]
        if measured.get(key) is not None:
            run.minutes = estimate_minutes(run.epochs, run.batch_size, run.images, measured[key])
        plan.runs.append(run)
    return plan


def _measure(
    measure: Callable[[DictConfig], Speed], cfg: DictConfig, notes: list[str]
) -> Speed | None:
    try:
        return measure(cfg)
    except Exception as err:  # a plan must never stop the sweep it announces
        notes.append(f"speed of {cfg.model._target_} not measured: {type(err).__name__}: {err}")
        return None


def _minutes(value: float) -> str:
    """Two significant digits below 10 minutes, whole minutes above."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def headline(plan: Plan) -> str:
    """``**6 runs, ≈ 412 GPU-minutes**``: a sum over runs, i.e. device time, not wall time."""
    total = plan.total_minutes
    if total is None:
        return f"**{len(plan.runs)} runs**; cost not estimated."
    kind = "GPU" if any(s.device.startswith("cuda") for s in plan.speeds.values()) else "CPU"
    missing = sum(run.minutes is None for run in plan.runs)
    partial = f" for {len(plan.runs) - missing} of them" if missing else ""
    return (
        f"**{len(plan.runs)} runs, ≈ {_minutes(total)} {kind}-minutes**{partial} (the sum over "
        "runs, one at a time on this device; the data cache and start-up are not counted)."
    )


def configurations(plan: Plan) -> dict[str, list[PlannedRun]]:
    """The plan's runs by configuration: runs that differ only in ``trainer.seed``."""
    grouped: dict[str, list[PlannedRun]] = {}
    for run in plan.runs:
        key = label_of(run.overrides, {k for k in varying_keys([r.overrides for r in plan.runs])
                                       if k != "trainer.seed"})  # fmt: skip
        grouped.setdefault(key, []).append(run)
    return grouped


def seeds_note(plan: Plan) -> str:
    """Whether the sweep can give verdicts about configurations (>= 2 seeds each), and how."""
    groups = configurations(plan)
    seeds = min(len({run.seed for run in runs}) for runs in groups.values())
    if seeds >= 2:
        return (
            f"{seeds} seeds per configuration: the report's verdicts count training noise "
            "(seeds) as well as the test images."
        )
    return (
        "One seed per configuration: the report can compare the trained models but give no "
        "verdict about the configurations, which needs at least 2 (better 3) seeds per arm: "
        f"add `trainer.seed=0,1,2` ({2 * len(plan.runs)} more runs"
        + (f", ≈ {_minutes(2 * plan.total_minutes)} more minutes)." if plan.total_minutes else ").")
    )


def seeds_for(plan: Plan, difference: float, seed_sd: float) -> str:
    """How many seeds per configuration a ``difference`` in test Dice needs, and their cost.

    ``seed_sd`` is the seed-to-seed SD of a run's mean test Dice, from an earlier sweep's report
    (its "How many seeds" table) or the README's measurement; the test images' own noise is not
    counted, so this is the least it takes.
    """
    needed = seeds_needed(difference, seed_sd=seed_sd)
    groups = configurations(plan)
    if needed is None:
        return f"A difference of {difference:g} is out of reach with seed SD {seed_sd:g}."
    per_run = [run.minutes for run in plan.runs if run.minutes is not None]
    minutes = len(groups) * needed * float(sum(per_run) / len(per_run)) if per_run else None
    cost = f", ≈ {_minutes(minutes)} device-minutes" if minutes is not None else ""
    return (
        f"To detect a test-Dice difference of {difference:g} (80% power, α = 0.05) with a "
        f"seed-to-seed SD of {seed_sd:g}: at least {needed} seeds per configuration, "
        f"`trainer.seed={','.join(map(str, range(needed)))}` — {len(groups)} configurations × "
        f"{needed} = {len(groups) * needed} runs{cost}."
    )


def adaptive_note(plan: Plan) -> str:
    """A seed-adaptive sweep's price: its runs above are one seed of each configuration."""
    cost = plan.adaptive
    assert cost is not None
    per_run = [run.minutes for run in plan.runs if run.minutes is not None]
    each = sum(per_run) / len(per_run) if per_run else None

    def runs(n: float) -> str:
        minutes = f", ≈ {_minutes(n * each)} minutes" if each is not None else ""
        return f"{n:.3g} runs{minutes}"

    return (
        f"Seed-adaptive (`hydra/sweeper=verdict`): the rows above are one seed of each of "
        f"{cost.configurations} configurations, {cost.comparisons} comparisons. First batch "
        f"{runs(cost.first_runs)}; worst case (every configuration at the cap) "
        f"{runs(cost.worst_runs)}; expected (simulated, seed SD {SHIPPED_PETS_SEED_SD:g}) "
        f"{runs(cost.expected_null)} if no configuration differs, {runs(cost.expected_shifted)} "
        f"if each step of a swept key changes test Dice by {cost.difference:g}."
    )


def adaptive_cost(config: DictConfig, plan: Plan, difference: float | None) -> AdaptiveCost:
    """Price a ``hydra/sweeper=verdict`` sweep from its grid and design settings."""
    sweeper = config.hydra.sweeper
    keys = [k for k in varying_keys([r.overrides for r in plan.runs]) if k != "trainer.seed"]
    values = [dict(p for o in r.overrides if (p := parse_override(o))[0] in keys)
              for r in plan.runs]  # fmt: skip
    design = SequentialDesign(first=int(sweeper.first), cap=int(sweeper.cap),
                              alpha=float(sweeper.alpha), delta=float(sweeper.delta))  # fmt: skip
    return price(values, design, difference=difference or 0.02, seed_sd=SHIPPED_PETS_SEED_SD)


def render(plan: Plan) -> str:
    """``plan.md``'s body: one row per run, how the speed was measured, and the total."""
    lines = [
        "Shared overrides: " + (" ".join(f"`{item}`" for item in plan.shared) or "none"),
        "",
        "| # | run | model | augmentation | scheduler | epochs | batch | px | "
        "train / val / test images | est. minutes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for index, run in enumerate(plan.runs):
        images = " / ".join(str(run.images[s]) for s in SPLITS) if run.images else "?"
        minutes = "?" if run.minutes is None else _minutes(run.minutes)
        lines.append(
            f"| {index} | {run.label} | {run.model} | {run.augmentation} | {run.scheduler} | "
            f"{run.epochs} | {run.batch_size} | {run.image_size} | {images} | {minutes} |"
        )
    measured = [f"- measured for {name}: {s.describe()}" for name, s in plan.speeds.items()]
    notes = [f"- note: {note}" for note in plan.notes]
    seeds = adaptive_note(plan) if plan.adaptive else seeds_note(plan)
    for block in (measured, notes, [headline(plan)], [seeds]):
        lines += ["", *block] if block else []
    return "\n".join(lines)


def write_plan(sweep: Path, name: str, plan: Plan) -> str:
    """Write ``plan.md`` and ``plan.json`` into ``sweep`` and print the plan; return its text."""
    text = f"# Plan: {name}\n\nSweep folder: `{sweep}`\n\n{render(plan)}\n"
    sweep.mkdir(parents=True, exist_ok=True)
    (sweep / "plan.md").write_text(text)
    payload = asdict(plan) | {"total_minutes": plan.total_minutes}
    (sweep / "plan.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(f"[pet_seg] plan ({sweep / 'plan.md'}):\n{text}", flush=True)
    return text


class PlanCallback(Callback):
    """Prints the plan and writes ``<sweep>/plan.md`` / ``plan.json`` before the first job; at the
    sweep's end prints its wall time beside the plan's estimate and adds ``measured_wall_s``
    (and each run's ``measured_s``) to ``plan.json``, so each sweep checks its plan.

    ``measure``: ``auto`` times the models here unless jobs go to a SLURM cluster (this machine
    is then a login node, not the machine that trains); ``true`` / ``false`` to insist.
    """

    def __init__(
        self, measure: str | bool = "auto", cpu_probe_batch: int = 4, cpu_probe_px: int = 128
    ) -> None:
        self.measure = measure
        self.probe = {"cpu_probe_batch": cpu_probe_batch, "cpu_probe_px": cpu_probe_px}
        self.started: float | None = None  # the sweep's start, while its end line is owed
        self.sweep: Path | None = None

    def _should_measure(self, config: DictConfig) -> bool:
        if self.measure != "auto":
            return bool(self.measure)
        return "Slurm" not in str(config.hydra.launcher.get("_target_", ""))

    def _measurer(self, config: DictConfig) -> Callable[[DictConfig], Speed] | None:
        return partial(measure_speed, **self.probe) if self._should_measure(config) else None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.started, self.sweep = time.monotonic(), Path(config.hydra.sweep.dir)
        # Hydra skips on_multirun_end when a job failed (the sweeper re-raises its error first)
        atexit.register(self._end)
        if config.hydra.sweeper.get("_target_") != BASIC_SWEEPER:
            log.info("pet_seg plan: only the basic sweeper's jobs are known in advance")
            return
        loader = GlobalHydra.instance().config_loader()
        try:
            compose_job = partial(loader.load_sweep_config, config)
            plan = make_plan(config, compose_job, self._measurer(config))
        except Exception as err:  # never block the sweep on its plan
            log.warning("pet_seg plan failed: %s: %s", type(err).__name__, err)
            return
        write_plan(Path(config.hydra.sweep.dir), str(config.get("name", "sweep")), plan)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._end()

    def _end(self) -> None:
        """Say the sweep's wall time once, beside the plan's estimate, and keep it in plan.json."""
        if self.started is None or self.sweep is None or not self.sweep.is_dir():
            return
        wall_s, self.started = time.monotonic() - self.started, None
        try:
            print(f"[pet_seg] {sweep_end_line(self.sweep, wall_s)}", flush=True)
        except Exception as err:  # the runs are done: a summary line must not hide them
            log.warning("pet_seg sweep end line failed: %s: %s", type(err).__name__, err)


def main(argv: list[str] | None = None) -> int:
    """``python -m pet_seg.plan OVERRIDES``: the plan of ``python -m pet_seg.run -m OVERRIDES``,
    printed without running anything (nothing is written)."""
    from hydra import initialize_config_dir
    from hydra.types import RunMode

    from pet_seg.paths import CONF_DIR

    parser = argparse.ArgumentParser(
        prog="python -m pet_seg.plan",
        description="The plan of `python -m pet_seg.run -m OVERRIDES`, without running it.",
    )
    parser.add_argument("overrides", nargs="*", help="the sweep's Hydra overrides")
    parser.add_argument(
        "--difference", type=float, default=None,
        help="a test-Dice difference to detect: say how many seeds and minutes it takes",
    )  # fmt: skip
    parser.add_argument(
        "--seed-sd", type=float, default=SHIPPED_PETS_SEED_SD,
        help="seed-to-seed SD of a run's test Dice (default: measured on the shipped pets)",
    )  # fmt: skip
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        config = loader.load_configuration("config", args.overrides, RunMode.MULTIRUN)
        plan = make_plan(config, partial(loader.load_sweep_config, config), measure_speed)
    if config.hydra.sweeper.get("_target_") == VERDICT_SWEEPER:
        plan.adaptive = adaptive_cost(config, plan, args.difference)
    print(f"# Plan: {config.get('name', 'sweep')}\n\n{render(plan)}")
    if args.difference is not None:
        print(f"\n{seeds_for(plan, args.difference, args.seed_sd)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
