"""The sweep's comparison in W&B: one extra run, ``job_type="report"``, in the sweep's group.

The training runs of a sweep share a W&B group but each knows only itself; this run carries
what compares them: the summary (each comparison's class, real, equivalent, within noise or not
testable, as the table ``report/summary``, and the command that decides the undecided ones in
the run summary), Table 1 (one row per configuration, the swept keys as columns), the paired
comparisons and seed intervals, and the report's figures as images. It is started through the
same ``logger`` config as the training runs, so it is offline when they are (files under
``<sweep>/report/wandb/``, ``wandb sync`` them later), online when they are, and absent with
``logger=none`` (that logger returns no run).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf

from pet_seg.report.build import Report
from pet_seg.report.publish.target import RUN_FILE, runs_group
from pet_seg.report.render.adaptive import adaptive_counts
from pet_seg.report.render.summary import SUMMARY_COLUMNS, Summary, summary_rows
from pet_seg.report.render.tables import COLUMNS
from pet_seg.report.statistics.comparisons import COMPARISON_COLUMNS, comparison_rows
from pet_seg.report.statistics.verdicts import CONFIGURATION

TABLE_DROPPED = ("folders",)  # local paths: meaningless on another machine
# report.csv's number columns; the rest (label, swept values, seeds "1;2") stay text, since a
# W&B table column holds one type
NUMERIC = {"runs", *(c.key for c in COLUMNS), *(f"{c.key}_seed_std" for c in COLUMNS)}


def _number(text: str) -> float | None:
    """A number cell: float, or None for an empty or non-finite one."""
    value = float(text) if text else math.nan
    return value if math.isfinite(value) else None


def table1_rows(report: Report) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of ``report.csv`` (Table 1 at full precision, swept keys included)."""
    with report.csv.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    keep = [i for i, name in enumerate(header) if name not in TABLE_DROPPED]
    cast = [_number if header[i] in NUMERIC else str for i in keep]
    return [header[i] for i in keep], [
        [convert(row[i]) for convert, i in zip(cast, keep, strict=True)] for row in rows
    ]


def seed_rows(report: Report) -> list[list[Any]]:
    return [[label, s.n, s.mean, s.std, s.low, s.high] for label, s in report.seeds]


def report_payload(report: Report) -> dict[str, Any]:
    """Everything the report run logs, as W&B objects (one ``wandb.log`` call)."""
    import wandb

    columns, rows = table1_rows(report)
    summary = summary_rows(report.summary) if report.summary else []
    payload: dict[str, Any] = {
        "report/summary": wandb.Table(
            columns=SUMMARY_COLUMNS, data=[[_finite(v) for v in row] for row in summary]
        ),
        "report/table1": wandb.Table(columns=columns, data=rows),
        "report/comparisons": wandb.Table(
            columns=COMPARISON_COLUMNS,
            data=[[_finite(v) for v in row] for row in comparison_rows(report.comparisons)],
        ),
        "report/seeds": wandb.Table(
            columns=["configuration", "seeds", "mean", "std", "t_low", "t_high"],
            data=[[_finite(v) for v in row] for row in seed_rows(report)],
        ),
    }
    for name, (columns, rows) in report.breakdowns.tables.items():  # "Where a difference…"
        data = [[_finite(v) for v in row] for row in rows]
        payload[f"report/breakdown/{name.replace(' ', '_')}"] = wandb.Table(columns, data)
    for path in report.figures:
        payload[f"figures/{path.stem}"] = wandb.Image(str(path), caption=path.stem)
    return payload


def _finite(value: Any) -> Any:
    """±inf / NaN (a one-image or one-seed interval) as None: W&B tables hold JSON."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def report_summary(report: Report) -> dict[str, Any]:
    """Headline numbers for the run summary (and thus ``wandb leet inspect --summary``)."""
    real = [c for c in report.comparisons if c.result.real]
    one_model = [c for c in report.comparisons if c.result.kind != CONFIGURATION]
    return {
        "report/runs": len(report.runs),
        "report/finished": sum(r.status == "finished" for r in report.runs),
        "report/swept_keys": ",".join(report.label_keys),
        "report/comparisons": len(report.comparisons),
        "report/real_differences": len(real),
        "report/within_noise": len(report.comparisons) - len(real) - len(one_model),
        "report/one_model_comparisons": len(one_model),  # no verdict: one seed in an arm
        "report/figures": len(report.figures),
        **next_step_summary(report.summary),
        **adaptive_counts(report.out_dir.parent),  # a seed-adaptive sweep's rounds and runs
    }


def next_step_summary(summary: Summary | None) -> dict[str, Any]:
    """The summary's counts and the command that decides the undecided comparisons."""
    if summary is None:
        return {}
    out: dict[str, Any] = {"report/equivalent": len(summary.classes["equivalent"])}
    out["report/undecided"] = summary.undecided
    step = summary.next_step
    if step is not None and step.command:
        out |= {"report/next_command": step.command, "report/next_runs": step.extra_runs}
        out |= {"report/next_minutes": step.minutes} if step.minutes is not None else {}
    return out


def log_report_run(
    report: Report, start: Callable[..., Any], *, name: str, group: str
) -> dict[str, str] | None:
    """Log ``report`` as a ``job_type="report"`` run in ``group``; what ``RUN_FILE`` records
    (project, entity, group, id, mode, the run's folder), or None when no run was started.

    ``start`` is the instantiated ``logger`` config (``start_wandb`` or ``no_wandb``).
    """
    config = {"name": name, "sweep_dir": str(report.out_dir.parent), "report": str(report.out_dir)}
    run = start(
        run_dir=report.out_dir,
        name=f"{name} report",
        config=config,
        group=group,
        job_type="report",
    )
    if run is None:
        return None
    run.log(report_payload(report))
    run.summary.update(report_summary(report))
    run_dir = Path(run.dir).parent  # .../wandb/offline-run-<time>-<id>/files → the run folder
    info = {"project": run.project, "entity": run.entity, "group": group, "id": run.id}
    info |= {"mode": "offline" if run.offline else "online", "dir": str(run_dir)}
    run.finish()
    (report.out_dir / RUN_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return info


def report_to_wandb(
    report: Report, start: Callable[..., Any], *, name: str, group: str
) -> dict[str, str] | None:
    """The report run, and when it is online the saved W&B Report over the group too."""
    info = log_report_run(report, start, name=name, group=group)
    if info is None:  # logger=none
        return None
    print(f"[pet_seg] W&B report run ({info['mode']}): {info['dir']}", flush=True)
    if info["mode"] == "online":
        from pet_seg.report.publish.workspace import publish  # wandb-workspaces: only when online

        print(f"[pet_seg] W&B Report saved: {publish(report)}", flush=True)
    return info


def runs_logger(report: Report) -> tuple[Callable[..., Any], str, str]:
    """The logger the sweep's runs used (from their saved config), their name and group.

    How ``python -m pet_seg.report --wandb-run`` logs the report run like the sweep would have.
    """
    run = report.runs[0]
    # A job that failed before writing config.yaml leaves Hydra's unresolved copy, whose
    # logger says ${name}: resolve it within the whole config it came from.
    logger = OmegaConf.to_container(OmegaConf.create(run.config), resolve=True).get("logger")
    if not isinstance(logger, dict) or "_target_" not in logger:  # nothing says how to log
        logger = {"_target_": "pet_seg.tracking.no_wandb"}
    return (
        instantiate({**logger, "_partial_": True}),
        str(run.config.get("name", "default")),
        runs_group(run),
    )
