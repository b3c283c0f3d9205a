"""Where a difference comes from: test scores per group of images, and paired differences per
group, from the per-image columns of each run's ``test_results.csv``.

Groups: species, breed (from the split files), pet size (terciles of the pet's share of the
picture) and picture size (terciles of the original pixel count); terciles are cut on the
test images themselves, so each holds about a third. A group with fewer than ``MIN_IMAGES``
images gets no number (``None``): a mean or interval over a handful of images says nothing.
Paired differences use the report's verdict rule (``compare_configurations``: seeds and images
as noise with >= 2 seeds per arm, image-level otherwise), Holm-adjusted over the groups of one
dimension of one comparison.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np

from pet_seg.report.runs.folder import Run
from pet_seg.report.runs.labels import effective_value
from pet_seg.report.statistics.verdicts import (
    ConfigurationDifference,
    adjust_holm,
    compare_configurations,
)
from pet_seg.run_folder import RunFolder, read_json_object

MIN_IMAGES = 10
UNKNOWN = "unknown"
SCORES = ("dice", "dice_trimap", "boundary_iou", "hd95_px", "boundary_width_px")
# dimension → (column, kind): a label column, or a number cut into terciles
DIMENSIONS = {
    "species": ("species", "label"),
    "breed": ("breed", "label"),
    "pet size": ("pet_share", "share"),
    "picture size": ("original_pixels", "pixels"),
}
TERCILES = ("small", "medium", "large")


def read_columns(path: Path) -> dict[str, list[str]]:
    """``test_results.csv`` as column name → cells; {} when missing or unreadable."""
    try:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (FileNotFoundError, csv.Error, UnicodeDecodeError):
        return {}
    return {key: [row.get(key) or "" for row in rows] for key in (rows[0] if rows else {})}


def as_numbers(cells: Sequence[str]) -> np.ndarray:
    """Cells as floats, NaN where empty or not a number."""
    out = np.full(len(cells), np.nan)
    for i, cell in enumerate(cells):
        with contextlib.suppress(ValueError):
            out[i] = float(cell)
    return out


def tercile_labels(values: np.ndarray, kind: str) -> list[str]:
    """``small (≤ q1)`` / ``medium`` / ``large (> q2)`` per value; NaN → unknown."""
    finite = values[np.isfinite(values)]
    if len(finite) < 3:
        return [UNKNOWN] * len(values)
    q1, q2 = np.quantile(finite, [1 / 3, 2 / 3])
    show = (lambda v: f"{v:.0%}") if kind == "share" else (lambda v: f"{v / 1000:.0f}k px")
    names = (f"small (≤ {show(q1)})", f"medium ({show(q1)}–{show(q2)})", f"large (> {show(q2)})")
    labels = [names[int(v > q1) + int(v > q2)] if np.isfinite(v) else UNKNOWN for v in values]
    return labels


def image_groups(columns: dict[str, list[str]]) -> dict[str, list[str]]:
    """Dimension → group label per image (``unknown`` where the column is missing)."""
    count = len(columns.get("name", []))
    height = as_numbers(columns.get("original_height", [""] * count))
    width = as_numbers(columns.get("original_width", [""] * count))
    numbers = {"pet_share": as_numbers(columns.get("pet_share", [""] * count))}
    numbers["original_pixels"] = height * width
    groups = {}
    for dimension, (column, kind) in DIMENSIONS.items():
        if kind == "label":
            groups[dimension] = [c or UNKNOWN for c in columns.get(column, [UNKNOWN] * count)]
        else:
            groups[dimension] = tercile_labels(numbers[column], kind)
    return groups


@dataclass
class Arm:
    """One configuration (its seeds) on the images every seed scored."""

    label: str
    runs: list[Run]
    names: list[str]
    scores: dict[str, np.ndarray]  # score column → (seeds, images)
    groups: dict[str, list[str]]  # dimension → group per image
    calibration: list[dict] = field(default_factory=list)  # per seed, ``calibration.json``


def load_arm(group: Sequence[Run]) -> Arm | None:
    """The configuration's per-image tables aligned on common images; None without any."""
    tables = [(run, read_columns(RunFolder(run.path).test_results)) for run in group]
    tables = [(run, t) for run, t in tables if t.get("name")]
    if not tables:
        return None
    common = set.intersection(*(set(t["name"]) for _, t in tables))
    names = [n for n in tables[0][1]["name"] if n in common]
    scores = {}
    for score in SCORES:
        if all(score in t for _, t in tables):
            rows = [dict(zip(t["name"], as_numbers(t[score]), strict=True)) for _, t in tables]
            scores[score] = np.array([[row[n] for n in names] for row in rows])  # (S, N)
    first = tables[0][1]
    keep = [first["name"].index(n) for n in names]
    groups = {d: [labels[i] for i in keep] for d, labels in image_groups(first).items()}
    calibration = [read_json_object(RunFolder(run.path).calibration) for run, _ in tables]
    return Arm(group[0].label, [r for r, _ in tables], names, scores, groups, calibration)


def group_order(labels: Sequence[str]) -> list[str]:
    """Groups in reading order: small, medium, large for terciles, else alphabetical; unknown
    last."""
    rank = {name: i for i, name in enumerate(TERCILES)}
    return sorted(
        set(labels), key=lambda g: (g == UNKNOWN, rank.get(g.split(" ")[0], -1), g.lower())
    )


def group_means(arm: Arm, dimension: str, score: str = "dice") -> dict[str, tuple[int, float]]:
    """Group → (images, mean score over seeds and images; NaN under ``MIN_IMAGES``)."""
    labels = np.array(arm.groups[dimension])
    values = np.nanmean(arm.scores[score], axis=0)  # (N,) seed-averaged
    out = {}
    for group in group_order(list(labels)):
        inside = labels == group
        n = int(inside.sum())
        out[group] = (n, float(values[inside].mean()) if n >= MIN_IMAGES else float("nan"))
    return out


@dataclass(frozen=True)
class GroupDifference:
    dimension: str
    group: str
    images: int
    result: ConfigurationDifference | None  # None: fewer than MIN_IMAGES images


@dataclass
class PairBreakdown:
    """Δ = ``changed=second`` − ``changed=first`` per group, and per image (for the gallery)."""

    changed: str
    values: tuple[str, str]  # the changed key's value in first, second
    first: Arm
    second: Arm
    shared: str
    names: list[str]
    image_difference: np.ndarray  # (N,) seed-averaged Dice, second − first
    differences: list[GroupDifference]


def _differing(a: Run, b: Run, keys: Sequence[str]) -> list[str]:
    return [k for k in keys if effective_value(a, k) != effective_value(b, k)]


def pair_breakdown(first: Arm, second: Arm, keys: Sequence[str]) -> PairBreakdown | None:
    """Per-group differences of two configurations that differ in exactly one key."""
    differing = _differing(first.runs[0], second.runs[0], keys)
    names = [n for n in first.names if n in set(second.names)]
    if len(differing) != 1 or not names or "dice" not in first.scores:
        return None
    key = differing[0]
    a = first.scores["dice"][:, [first.names.index(n) for n in names]]  # (S_a, N)
    b = second.scores["dice"][:, [second.names.index(n) for n in names]]  # (S_b, N)
    where = [first.names.index(n) for n in names]
    found = []
    for dimension, labels in first.groups.items():
        labels = np.array(labels)[where]
        family = []
        for group in group_order(list(labels)):
            inside = labels == group
            n = int(inside.sum())
            result = compare_configurations(a[:, inside], b[:, inside]) if n >= MIN_IMAGES else None
            family.append(GroupDifference(dimension, group, n, result))
        tested = [g.result for g in family if g.result is not None]
        adjusted = iter(adjust_holm(tested))
        found += [
            g
            if g.result is None
            else GroupDifference(g.dimension, g.group, g.images, next(adjusted))
            for g in family
        ]
    shared = ", ".join(f"{k}={effective_value(first.runs[0], k)}" for k in keys if k != key)
    values = (effective_value(first.runs[0], key), effective_value(second.runs[0], key))
    return PairBreakdown(
        key, values, first, second, shared, names, b.mean(axis=0) - a.mean(axis=0), found
    )


def breakdowns(groups: Sequence[Sequence[Run]], keys: Sequence[str]) -> tuple[list[Arm], list]:
    """Every finished configuration's ``Arm`` and the per-group breakdown of every pair of them
    that differs in one swept key (the pairs of "Which differences are real")."""
    arms = [arm for g in groups if g[0].status == "finished" and (arm := load_arm(g))]
    found = (pair_breakdown(a, b, keys) for a, b in combinations(arms, 2))
    return arms, [p for p in found if p is not None]
