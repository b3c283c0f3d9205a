"""The round rule of a seed-adaptive sweep, on score matrices: who is settled, who gets a seed.

Shared by the Hydra sweeper (``pet_seg.adaptive.sweeper``, matrices read from run folders) and
the simulations (``pet_seg.adaptive.simulation``, matrices drawn with a known truth), so what
the tests prove is what the sweeper does.

A round looks at every open comparison with the seeds its arms have, settles it or keeps it
open (``SequentialDesign.decide``), then asks for one more seed for each arm of the comparisons
still open: configurations no open comparison needs get no more seeds. A settled comparison
keeps the decision of the round that settled it, even when its arms get more seeds later for
another comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pet_seg.adaptive.sequential import OPEN, Decision, SequentialDesign, look_at

Pair = tuple[int, int]  # (first, second) configuration indices; Δ = second - first


@dataclass
class Settled:
    """A comparison's outcome so far: its last decision and the round that made it."""

    decision: Decision
    round: int

    @property
    def open(self) -> bool:
        return self.decision.kind == OPEN


@dataclass
class Progress:
    """Every comparison's state after the rounds so far."""

    pairs: list[Pair]
    outcomes: dict[Pair, Settled] = field(default_factory=dict)
    rounds: int = 0

    def open_pairs(self) -> list[Pair]:
        return [p for p in self.pairs if p not in self.outcomes or self.outcomes[p].open]


def review(
    progress: Progress, matrices: Mapping[int, np.ndarray], design: SequentialDesign
) -> Progress:
    """One look at every open comparison whose arms both have (seeds, images) matrices."""
    progress.rounds += 1
    for pair in progress.open_pairs():
        a, b = (matrices.get(i) for i in pair)
        if a is None or b is None or min(len(a), len(b)) < design.first:
            continue
        decision = design.decide(look_at(a, b))
        progress.outcomes[pair] = Settled(decision, progress.rounds)
    return progress


def seeds_wanted(
    progress: Progress, seeds: Mapping[int, int], design: SequentialDesign
) -> dict[int, int]:
    """Seeds each configuration should have after the next round (no entry: it has enough).

    Every arm of an open comparison gets one seed more than the comparison's smaller arm, up
    to the cap; before the first look every configuration gets ``design.first``.
    """
    wanted: dict[int, int] = {}
    for pair in progress.open_pairs():
        have = min(seeds.get(i, 0) for i in pair)
        target = design.first if have < design.first else min(have + 1, design.cap)
        for i in pair:
            if seeds.get(i, 0) < target:
                wanted[i] = max(wanted.get(i, 0), target)
    return wanted


def one_key_pairs(configurations: Sequence[Mapping[str, str]]) -> list[Pair]:
    """Pairs of configurations that differ in exactly one key: the report's comparisons
    (``pet_seg.report.statistics.comparisons``), known before any run exists."""
    pairs = []
    for i, first in enumerate(configurations):
        for j in range(i + 1, len(configurations)):
            second = configurations[j]
            keys = set(first) | set(second)
            if sum(first.get(k) != second.get(k) for k in keys) == 1:
                pairs.append((i, j))
    return pairs
