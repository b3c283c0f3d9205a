"""Where our runs differ from the report's settings, read from each run's resolved config.

Every run of a reproduction is compared key by key with the settings of its report run name
(``reference.yaml``'s ``settings``: shared, then its model's, scheduler's and augmentation arm's),
so a demo-scale run, a changed optimizer or pet_seg's conventions are never taken for the report.
Sections listed in ``whole`` (model, loss, optimizer, scheduler, augmentation, conventions) are
compared leaf by leaf in both directions: a key only our run has is a difference too. Beyond the
config, ``data`` is the data group's choice, ``images`` the split sizes counted from the run's
split files (test: the images it scored) and ``seeds`` the runs of that name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pet_seg.data.mini import MINI_ROOT
from pet_seg.data.oxford_pet import DataError, read_split
from pet_seg.report.runs.folder import Run

REFERENCE = Path(__file__).with_name("reference.yaml")
NOT_SET = "not set"


@dataclass(frozen=True)
class Deviation:
    """One setting of ours that is not the report's, and the report runs where it is so."""

    key: str
    ours: str
    report: str
    runs: tuple[str, ...]
    assumed: str | None = None  # why the report's value is inferred, not read in its code

    def markdown(self, everywhere: bool) -> str:
        report = self.report + (", assumed" if self.assumed else "")
        where = "" if everywhere else f"; in {', '.join(self.runs)}"
        return f"`{self.key}` = {self.ours} (report: {report}{where})"


def load_reference(path: Path = REFERENCE) -> dict[str, Any]:
    """The report's numbers, settings and claims (``reference.yaml``)."""
    return yaml.safe_load(path.read_text())


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists and scalars are leaves."""
    if not isinstance(node, Mapping):
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return flat


def images_of(run: Run) -> dict[str, int] | None:
    """Train / val / test images: the run's split files, and the test images it scored."""
    data = run.config.get("data") or {}
    root = MINI_ROOT if data.get("root") is None else Path(str(data["root"]))
    if not root.is_absolute() and run.cwd is not None:
        root = run.cwd / root
    every = int(data.get("val_every", 10))
    try:
        sizes = {split: len(read_split(root, split, every)) for split in ("train", "val", "test")}
    except (DataError, OSError, ValueError):
        sizes = {}
    if run.test_dice is not None:
        sizes["test"] = len(run.test_dice)
    return sizes or None


def settings_of(run: Run, seeds: int) -> dict[str, Any]:
    """The run's settings as dotted keys, with the three that are not config values."""
    flat = flatten(run.config)
    flat["data"] = run.choices.get("data", NOT_SET)
    flat["images"] = images_of(run)
    flat["seeds"] = seeds
    return flat


def expected_for(settings: Mapping[str, Any], name: str, runs: Mapping[str, Any]) -> dict:
    """The report's settings for its run ``name``: shared, then model, scheduler, augmentation."""
    expected = dict(settings["shared"])
    for part, option in runs[name].items():
        expected |= settings[part][option]
    return expected


def same(ours: Any, theirs: Any) -> bool:
    """Equal, numbers within float rounding (1e-3 written as 0.001)."""
    numbers = (int, float)
    if isinstance(ours, numbers) and isinstance(theirs, numbers) and bool not in (
        type(ours), type(theirs)
    ):  # fmt: skip
        return math.isclose(ours, theirs, rel_tol=1e-9, abs_tol=1e-15)
    return ours == theirs


def show(value: Any) -> str:
    if isinstance(value, Mapping) and set(value) == {"train", "val", "test"}:
        return " / ".join(str(value[s]) for s in ("train", "val", "test"))
    if isinstance(value, float):
        return format(value, "g")
    return "null" if value is None else str(value)


def run_deviations(
    settings: Mapping[str, Any], expected: Mapping[str, Any], ours: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """(key, ours, report) for each key whose value differs, in the report's order, then ours."""
    whole = tuple(f"{section}." for section in settings["whole"])
    keys = list(expected) + [k for k in ours if k.startswith(whole) and k not in expected]
    found = []
    for key in keys:
        mine = ours.get(key, NOT_SET)
        theirs = expected.get(key, NOT_SET)
        if isinstance(theirs, Mapping) and "same_as" in theirs:
            target = ours.get(theirs["same_as"], NOT_SET)
            if not same(mine, target):
                found.append((key, show(mine), f"the run's `{theirs['same_as']}`, {show(target)}"))
        elif not same(mine, theirs):
            found.append((key, show(mine), show(theirs)))
    return found


def deviations(reference: Mapping[str, Any], named: Mapping[str, Sequence[Run]]) -> list[Deviation]:
    """Every setting in which any run of ours differs from its report run, with both values."""
    settings, runs = reference["settings"], reference["runs"]
    where: dict[tuple[str, str, str], list[str]] = {}
    for name, seeds in named.items():
        if name not in runs:
            continue
        expected = expected_for(settings, name, runs)
        for run in seeds:
            for found in run_deviations(settings, expected, settings_of(run, len(seeds))):
                where.setdefault(found, [])
                if name not in where[found]:
                    where[found].append(name)
    assumed = settings.get("assumed", {})
    return [
        Deviation(key, ours, report, tuple(names), assumed.get(key))
        for (key, ours, report), names in where.items()
    ]


def deviation_lines(found: Sequence[Deviation], names: Sequence[str]) -> list[str]:
    """Markdown bullets; a difference shared by every run of the sweep names no run."""
    if not found:
        return ["- none: every run has the report's settings."]
    return [f"- {d.markdown(set(d.runs) >= set(names))}" for d in found]
