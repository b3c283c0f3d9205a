"""The seed-adaptive sweeper behind Hydra's Sweeper interface: ``hydra/sweeper=verdict``.

It takes the grid of ``hydra.sweeper.params`` (Hydra's basic-sweeper syntax), trains every
configuration with seeds ``0..first-1`` in one batch, reads each finished run's per-image test
Dice (``test_results.csv``), settles what it can (``pet_seg.adaptive.sequential``), and then,
round by round, trains one more seed of each arm of the comparisons still open, until every
comparison is real, equivalent within +-delta, or at the cap. Each round is one ordinary batch
through the configured launcher (basic, joblib, submitit), so it scales out like any sweep.

The comparisons are the report's (``pet_seg.report.statistics.comparisons``): every pair of
configurations that differ in exactly one swept key.

Why the run folders are the state: job folders are named by (configuration, seed)
(``c<index>_seed<seed>``, through ``hydra.sweep.subdir``), so a rerun of the same command on
the same ``hydra.sweep.dir`` replays the same rounds from the finished runs (``summary.json``
status finished) and launches only what is missing: a killed sweep resumes without retraining
a finished run, and an interrupted run is trained again from the start. The sweep folder must
therefore be the same: ``experiment=verdict_demo`` fixes it; elsewhere pass
``hydra.sweep.dir=...``. A different grid on the same folder is refused. ``adaptive.json``
records every round's decisions (``pet_seg.adaptive.ledger``); the report reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from pet_seg.adaptive.design import Pair, Progress, one_key_pairs, review, seeds_wanted
from pet_seg.adaptive.ledger import ComparisonRecord, Ledger, read_ledger, write_ledger
from pet_seg.adaptive.sequential import OPEN, SequentialDesign, obrien_fleming
from pet_seg.report.runs.folder import Run, load_run
from pet_seg.report.statistics.comparisons import common_images, score_matrix
from pet_seg.run_label import parse_override, varying_keys

log = logging.getLogger(__name__)
SEED_KEY = "trainer.seed"


def job_folder(config: int, seed: int) -> str:
    """The job folder of one (configuration, seed), the same in every rerun."""
    return f"c{config}_seed{seed}"


def grid(params: Mapping[str, Any] | None, arguments: Sequence[str]) -> list[list[str]]:
    """Every configuration's overrides, as the basic sweeper expands params + command line."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    texts = [f"{k}={v}" for k, v in (params or {}).items()] + list(arguments)
    parsed = OverridesParser.create().parse_overrides(texts)
    jobs = [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    if any(parse_override(o)[0] == SEED_KEY for job in jobs for o in job):
        raise ValueError(f"hydra/sweeper=verdict chooses the seeds: leave {SEED_KEY} out")
    return jobs


class VerdictSweeper(Sweeper):
    """Hydra builds it from ``hydra.sweeper`` (``conf/hydra/sweeper/verdict.yaml``)."""

    def __init__(
        self, params: Any = None, first: int = 2, cap: int = 8, alpha: float = 0.05,
        delta: float = 0.005, spending: Callable[[float, float], float] | None = None,
    ) -> None:  # fmt: skip
        self.params = params
        self.settings = {"first": int(first), "cap": int(cap), "alpha": float(alpha),
                         "delta": float(delta), "spending": spending or obrien_fleming}  # fmt: skip
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.jobs_launched = 0

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )

    def sweep(self, arguments: list[str]) -> None:
        assert self.config is not None
        sweep = Path(self.config.hydra.sweep.dir).absolute()
        sweep.mkdir(parents=True, exist_ok=True)
        configurations = grid(self.params, arguments)
        _refuse_another_grid(sweep, configurations)
        keys = varying_keys(configurations)
        values = [dict(parse_override(o) for o in job if parse_override(o)[0] in keys)
                  for job in configurations]  # fmt: skip
        pairs = one_key_pairs(values)
        if not pairs:
            raise ValueError("hydra/sweeper=verdict: no two configurations differ in one key")
        design = SequentialDesign(comparisons=len(pairs), **self.settings)
        log.info(
            f"{len(configurations)} configurations, {len(pairs)} comparisons; seeds "
            f"{design.first}..{design.cap} per arm; α = {design.alpha} (Bonferroni)"
        )
        seeds = dict.fromkeys(range(len(configurations)), 0)
        progress = Progress(pairs)
        ledger = Ledger(describe_design(design), configurations,
                        fixed_runs=len(configurations) * design.cap)  # fmt: skip
        while wanted := seeds_wanted(progress, seeds, design):
            missing = [(i, s) for i, n in wanted.items() for s in range(seeds[i], n)
                       if not _finished(sweep / job_folder(i, s))]  # fmt: skip
            if missing:
                self._launch(configurations, missing)
            seeds.update(wanted)
            runs = {i: [load_run(sweep / job_folder(i, s)) for s in range(n)]
                    for i, n in seeds.items() if n}  # fmt: skip
            review(progress, _matrices(runs), design)
            ledger.rounds, ledger.seeds = progress.rounds, [seeds[i] for i in sorted(seeds)]
            ledger.runs = sum(seeds.values())
            ledger.comparisons = records(progress, _names(pairs, values))
            write_ledger(sweep, ledger)
            _log_round(ledger)

    def _launch(self, configurations: list[list[str]], jobs: list[tuple[int, int]]) -> None:
        """One batch through the launcher; a failed job stops the sweep (rerun to retry it)."""
        batch = [[*configurations[i], f"{SEED_KEY}={s}", f"hydra.sweep.subdir={job_folder(i, s)}"]
                 for i, s in jobs]  # fmt: skip
        self.validate_batch_is_legal(batch)
        returns = self.launcher.launch(batch, initial_job_idx=self.jobs_launched)
        self.jobs_launched += len(batch)
        for job, result in zip(jobs, returns, strict=True):
            _ = result.return_value  # re-raises the job's exception: this sweep cannot go on
            log.debug(f"{job_folder(*job)} finished")


def _finished(folder: Path) -> bool:
    return folder.is_dir() and load_run(folder).status == "finished"


def _matrices(runs: Mapping[int, list[Run]]) -> dict[int, Any]:
    """(seeds, images) per-image test Dice per configuration, on the images all runs scored."""
    names = common_images(list(runs.values()))
    return {i: score_matrix(group, names) for i, group in runs.items()}


def _names(pairs: Sequence[Pair], values: Sequence[Mapping[str, str]]) -> list[tuple]:
    named = []
    for i, j in pairs:
        changed = next(k for k in values[i] if values[i][k] != values[j].get(k))
        shared = ", ".join(f"{k}={v}" for k, v in values[i].items() if k != changed)
        named.append((changed, values[i][changed], values[j][changed], shared))
    return named


def _refuse_another_grid(sweep: Path, configurations: list[list[str]]) -> None:
    before = read_ledger(sweep)
    if before is not None and before.configurations != configurations:
        raise ValueError(
            f"{sweep} holds a seed-adaptive sweep of another grid ({before.configurations}); "
            "give this one its own hydra.sweep.dir"
        )


def _log_round(ledger: Ledger) -> None:
    counts: dict[str, int] = {}
    for c in ledger.comparisons:
        counts[c.decision] = counts.get(c.decision, 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    log.info(f"round {ledger.rounds}: {ledger.runs} runs; {summary}")
    print(f"[pet_seg] adaptive round {ledger.rounds}: {ledger.runs} runs; {summary}", flush=True)


def describe_design(design: SequentialDesign) -> dict[str, Any]:
    fields = ("first", "cap", "alpha", "delta", "comparisons")
    return {name: getattr(design, name) for name in fields} | {
        "spending": spending_name(design.spending),
        "family": "Bonferroni over comparisons; repeated confidence intervals per comparison",
    }


def spending_name(spending: Any) -> str:
    """``obrien_fleming`` also when Hydra passes it as a ``functools.partial``."""
    return getattr(spending, "__name__", None) or getattr(spending.func, "__name__", "?")


def records(progress: Progress, names: list[tuple[str, str, str, str]]) -> list[ComparisonRecord]:
    """``names``: per pair (changed key, first value, second value, shared keys)."""
    found = []
    for pair, (changed, first, second, shared) in zip(progress.pairs, names, strict=True):
        outcome = progress.outcomes.get(pair)
        if outcome is None:
            found.append(ComparisonRecord(changed, first, second, shared, OPEN, None, 0,
                                          None, None, None))  # fmt: skip
            continue
        d = outcome.decision
        settled = None if d.kind == OPEN else outcome.round
        found.append(ComparisonRecord(changed, first, second, shared, d.kind, settled, d.seeds,
                                      d.mean, _finite(d.low), _finite(d.high)))  # fmt: skip
    return found


def _finite(value: float) -> float | None:
    return value if abs(value) != float("inf") else None
