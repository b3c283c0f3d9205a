"""What a finished search leaves in its sweep folder.

* ``optimization_results.yaml``: best parameters and value, the best trial's number, the trial
  counts by state, epochs run, and the best parameters as a ready ``python -m pet_seg.run``
  command line;
* ``search.md``: the same for people, with a table of every trial;
* ``optuna/``: optuna's own matplotlib plots of the study: optimisation history, parameter
  importances, and the per-epoch values that pruning acted on (``intermediate_values.png``).

Rebuild them from the database at any time (several processes sharing a study each write them
when they stop; the last one has every trial):
``python -m pet_seg.search.results <sweep dir> [--storage URL] [--study NAME]``.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pet_seg.search.space import search_space
from pet_seg.search.storage import STUDY_ATTR, default_url, open_storage

log = logging.getLogger(__name__)
RESULTS_FILE = "optimization_results.yaml"
PLOTS_DIR = "optuna"


def best_command(fixed: Mapping[str, str], best_params: Mapping[str, Any]) -> str:
    """``python -m pet_seg.run <the search's fixed overrides> <best parameters>``, one run."""
    overrides = {**fixed, **{k: v for k, v in best_params.items()}}
    words = [f"{k}={v}" for k, v in overrides.items()]
    return "python -m pet_seg.run " + " ".join(shlex.quote(w) for w in words)


def trial_counts(study: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] = counts.get(trial.state.name.lower(), 0) + 1
    return counts


def epochs_run(study: Any) -> int:
    """Epochs trained over all trials: one reported value per epoch."""
    return sum(len(t.intermediate_values) for t in study.get_trials(deepcopy=False))


def save_plots(study: Any, folder: Path) -> list[Path]:
    """Optuna's matplotlib plots of ``study`` as PNGs in ``folder``; a plot optuna cannot draw
    (importances need two finished trials) is left out with a log line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    plots = {
        "optimization_history": ovm.plot_optimization_history,
        "param_importances": ovm.plot_param_importances,
        "intermediate_values": ovm.plot_intermediate_values,
    }
    for name, plot in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # optuna marks these "experimental"
                axes = plot(study)
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.tight_layout()
            figure.savefig(folder / f"{name}.png", dpi=120)
            plt.close(figure)
            written.append(folder / f"{name}.png")
        except Exception as err:  # too few trials, one parameter, no intermediate values…
            log.info(f"no {name} plot: {type(err).__name__}: {err}")
    return written


def _markdown(
    results: Mapping[str, Any], study: Any, plots: Sequence[Path], sweep_dir: Path
) -> str:
    lines = [f"# Search `{results['study']}`", ""]
    lines += [f"Storage: `{results['storage']}`; direction: {results['direction']}.", ""]
    counts = ", ".join(f"{n} {state}" for state, n in results["trials"].items())
    lines += [f"Trials: {counts}; {results['epochs_run']} epochs run in all.", ""]
    if "best_value" in results:
        lines += [f"Best value {results['best_value']:.4f} (trial {results['best_trial']}):", ""]
        lines += ["```bash", results["command"], "```", ""]
    names = sorted({k for t in study.get_trials(deepcopy=False) for k in t.params})
    lines += ["| trial | state | value | epochs | " + " | ".join(names) + " |"]
    lines += ["|---" * (4 + len(names)) + "|"]
    for t in study.get_trials(deepcopy=False):
        value = "" if t.value is None else f"{t.value:.4f}"
        cells = [str(t.number), t.state.name.lower(), value, str(len(t.intermediate_values))]
        cells += [str(t.params.get(k, "")) for k in names]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for path in plots:
        lines += [f"![{path.stem}]({path.relative_to(sweep_dir).as_posix()})", ""]
    return "\n".join(lines)


def write_results(
    study: Any,
    sweep_dir: Path,
    *,
    arguments: Sequence[str] = (),
    fixed: Mapping[str, str] | None = None,
    storage_url: str = "",
    plots: bool = True,
) -> dict[str, Any]:
    """Write ``optimization_results.yaml``, ``search.md`` and the plots; return the results."""
    from optuna.trial import TrialState

    if fixed is None:
        attrs = study.user_attrs.get(STUDY_ATTR, {})
        fixed = search_space(attrs.get("params"), attrs.get("overrides", arguments))[1]
    results: dict[str, Any] = {
        "name": "optuna",
        "study": study.study_name,
        "storage": storage_url,
        "direction": study.direction.name.lower(),
        "trials": trial_counts(study),
        "epochs_run": epochs_run(study),
    }
    if any(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False)):
        best = study.best_trial
        results |= {
            "best_params": dict(best.params),
            "best_value": float(best.value),
            "best_trial": best.number,
            "command": best_command(fixed, best.params),
        }
        log.info(f"Best parameters: {best.params}")
        log.info(f"Best value: {best.value}")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / RESULTS_FILE).write_text(yaml.safe_dump(results, sort_keys=False))
    written = save_plots(study, sweep_dir / PLOTS_DIR) if plots else []
    (sweep_dir / "search.md").write_text(_markdown(results, study, written, sweep_dir))
    return results


def main(argv: Sequence[str] | None = None) -> None:
    import optuna

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--storage", help="default: sqlite:///<sweep dir>/optuna.db")
    parser.add_argument("--study", help="default: the storage's only study")
    args = parser.parse_args(argv)
    url = args.storage or default_url(args.sweep_dir)
    storage = open_storage(url)
    name = args.study or optuna.study.get_all_study_names(storage)[0]
    study = optuna.load_study(study_name=name, storage=storage)
    results = write_results(study, args.sweep_dir, storage_url=url)
    print(yaml.safe_dump(results, sort_keys=False))


if __name__ == "__main__":
    main()
