"""A run's label: its values of the keys that vary between the runs it is shown beside.

One rule for every place a run is named — the W&B run name and ``summary.json``'s ``name``
(``pet_seg.run``), the plan's rows (``pet_seg.plan``) and the report's rows
(``pet_seg.report.runs.labels``) — so a sweep's job reads ``model=unet, scheduler=cosine``
everywhere. Constant overrides (data root, epochs) are left out: they would give every run of a
sweep the same long prefix.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence


def parse_override(text: str) -> tuple[str, str]:
    """``+key=value`` / ``++key=value`` / ``key=value`` / ``~key`` → (key, value)."""
    text = text.strip()
    if text.startswith("~"):
        return text[1:].split("=", 1)[0], "<deleted>"
    key, _, value = text.lstrip("+").partition("=")
    return key.strip(), value.strip()


def run_label(pairs: Iterable[tuple[str, str]]) -> str:
    """``key=value, key=value`` in the order given."""
    return ", ".join(f"{key}={value}" for key, value in pairs)


def label_of(overrides: Sequence[str], keys: Collection[str]) -> str:
    """The label of a job given as overrides, keeping only ``keys`` (those that vary)."""
    pairs = (parse_override(text) for text in overrides)
    return run_label(pair for pair in pairs if pair[0] in keys)


def varying_keys(jobs: Sequence[Sequence[str]]) -> list[str]:
    """Override keys whose value (or absence) is not the same in every job, first-seen order."""
    parsed = [dict(map(parse_override, job)) for job in jobs]
    keys = dict.fromkeys(key for job in parsed for key in job)
    return [key for key in keys if len({job.get(key) for job in parsed}) > 1]
