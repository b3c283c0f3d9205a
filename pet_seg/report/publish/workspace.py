"""A saved W&B Report for a sweep group, built with W&B's own ``wandb-workspaces`` library.

The report run (``pet_seg.report.publish.wandb_run``) carries the sweep's tables and figures;
this is the live view over the training runs themselves, under the report's summary as its
first block (what the sweep decided, and the command that decides the rest): validation Dice,
validation loss, training loss and learning rate against epoch (one line per run, i.e. per
configuration unless seeds were swept), a bar chart of test Dice per configuration, the paired
comparisons as text, and a parallel-coordinates panel for a hyperparameter search. The spec is
built offline from the sweep folder; only ``save_report`` talks to W&B (online: after
``wandb sync`` for offline runs).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from wandb_workspaces import expr
from wandb_workspaces.reports import v2 as wr

from pet_seg.report.build import Report
from pet_seg.report.publish.target import Target, find_target
from pet_seg.report.render.summary import summary_markdown
from pet_seg.report.render.verdicts import comparison_markdown
from pet_seg.report.runs.folder import Run

# (metric logged per epoch, y-axis title); every one has step_metric "epoch" in W&B
CURVES = (
    ("val/dice", "validation Dice"),
    ("val/loss", "validation loss"),
    ("train/loss", "training loss"),
    ("lr", "learning rate"),
)
TEST_DICE = "test/dice_mean"  # the run summary's Table-1 number
SEARCH_SCORES = ("best/val_dice", TEST_DICE)
TRAIN_JOB = "train"  # job_type of training runs (pet_seg.tracking.start_wandb)
WIDTH, HEIGHT = 12, 8  # two panels per row on W&B's 24-column grid


def is_search(runs: Sequence[Run]) -> bool:
    """An Optuna search (``experiment=search``), whose runs each try a point in a space."""
    return any(
        run.choices.get("experiment") == "search" or run.choices.get("hydra/sweeper") == "optuna"
        for run in runs
    )


def _leaves(node: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix: node}
    out: dict[str, Any] = {}
    for key, value in node.items():
        out |= _leaves(value, f"{prefix}.{key}")
    return out


def config_column(runs: Sequence[Run], key: str) -> str | None:
    """The W&B config key that carries swept ``key``: itself for a value, or for a config
    group (``augmentation=none``) its first field whose value differs between the runs."""
    values: list[dict[str, Any]] = []
    for run in runs:
        node: Any = run.config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        values.append(_leaves(node, key))
    for leaf in values[0] if values else {}:
        if len({json.dumps(v.get(leaf), default=str) for v in values}) > 1:
            return leaf
    return None


def runset(target: Target, groupby: Sequence[str] = ()) -> wr.Runset:
    """The sweep's training runs (its group, without the report run), grouped by ``groupby``
    config keys so the seeds of one configuration make one line with a band."""
    filters = expr.And(expr.Metric("Group") == target.group, expr.Metric("JobType") == TRAIN_JOB)
    return wr.Runset(
        entity=target.entity or "", project=target.project, name=target.group, filters=filters,
        groupby=[f"config.{key}" for key in groupby],
    )  # fmt: skip


def configuration_keys(runs: Sequence[Run], keys: Sequence[str]) -> list[str]:
    """The W&B config columns of the report's label keys (seeds are never label keys): what a
    seed sweep's runs are grouped by."""
    return [col for key in keys if (col := config_column(runs, key))]


def _layout(index: int) -> wr.Layout:
    return wr.Layout(x=WIDTH * (index % 2), y=HEIGHT * (index // 2), w=WIDTH, h=HEIGHT)


def curve_panels() -> list[Any]:
    """Val Dice, val loss, train loss and lr against epoch, one line per run."""
    lines: list[Any] = [
        wr.LinePlot(title=f"{title} per epoch", x="epoch", y=[metric], title_x="epoch",
                    title_y=title, layout=_layout(i))
        for i, (metric, title) in enumerate(CURVES)
    ]  # fmt: skip
    bar = wr.BarPlot(
        title="test Dice per configuration (mean over test images)",
        metrics=[TEST_DICE],
        orientation="h",
        title_x="test Dice",
        layout=_layout(len(lines)),
    )
    return [*lines, bar]


def search_panel(runs: Sequence[Run], keys: Sequence[str]) -> wr.ParallelCoordinatesPlot:
    """One axis per searched hyperparameter, then the scores it led to."""
    columns = [
        wr.ParallelCoordinatesPlotColumn(metric=wr.Config(column), display_name=key)
        for key in keys
        if (column := config_column(runs, key))
    ]
    columns += [wr.ParallelCoordinatesPlotColumn(metric=wr.SummaryMetric(s)) for s in SEARCH_SCORES]
    return wr.ParallelCoordinatesPlot(
        title="search: hyperparameters → scores", columns=columns, layout=wr.Layout(w=24, h=10)
    )


def build_report_spec(report: Report, target: Target) -> wr.Report:
    """The W&B Report for ``report``'s sweep group; nothing is sent anywhere."""
    by_configuration = configuration_keys(report.runs, report.label_keys)
    seeded = len({run.seed for run in report.runs}) > 1
    grids = [
        wr.PanelGrid(
            runsets=[runset(target, by_configuration if seeded else ())], panels=curve_panels()
        )
    ]
    if is_search(report.runs):
        grids.append(
            wr.PanelGrid(
                runsets=[runset(target)], panels=[search_panel(report.runs, report.label_keys)]
            )
        )
    swept = ", ".join(f"`{k}`" for k in report.label_keys) or "nothing"
    intro = f"Sweep group `{target.group}` ({len(report.runs)} runs); swept: {swept}."
    kwargs = {"entity": target.entity} if target.entity else {}  # None: the API's default
    lines = summary_markdown(report.summary) if report.summary else []
    summary = [wr.MarkdownBlock(text="\n".join(lines))] if lines else []  # the first block
    return wr.Report(
        project=target.project,
        title=f"pet_seg sweep {target.group}"[:128],
        description=intro,
        blocks=[
            *summary,
            wr.MarkdownBlock(text=intro),
            *grids,
            wr.MarkdownBlock(text="\n".join(comparison_markdown(report.comparisons))),
        ],
        width="fluid",
        **kwargs,
    )


def save_report(spec: wr.Report) -> str:
    """Save to W&B (online); the report's URL, or its id where the URL cannot be formed."""
    spec.save()
    try:
        return str(spec.url)
    except Exception:  # the URL needs the API's app address; the save itself succeeded
        return f"{spec.entity}/{spec.project} report {spec.id}"


def spec_for(report: Report, **given: str | None) -> wr.Report:
    """The spec for ``report``'s sweep; ``given`` project, entity or group win over the found."""
    found = find_target(report.out_dir, report.runs)
    target = Target(
        given.get("project") or found.project,
        given.get("entity") or found.entity,
        given.get("group") or found.group,
    )
    return build_report_spec(report, target)


def publish(report: Report) -> str:
    """Build and save the W&B Report for ``report``'s sweep (the callback, when online)."""
    return save_report(spec_for(report))
