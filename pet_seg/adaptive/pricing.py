"""What a seed-adaptive sweep will cost, before it runs: first batch, expected case, worst case.

The worst case is every configuration at the cap. The expected case comes from simulating the
sweep (``pet_seg.adaptive.simulation``) with the grid's own comparisons and a seed SD (by
default the one measured on the shipped pets), under two assumed truths: no configuration
differs (every comparison runs to the cap unless it proves equivalent), and each step along a
swept key changes test Dice by ``difference`` (value i of a key adds i x difference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from pet_seg.adaptive.design import one_key_pairs
from pet_seg.adaptive.sequential import SequentialDesign
from pet_seg.adaptive.simulation import SEED_SD, simulate

REPETITIONS = 200


@dataclass(frozen=True)
class AdaptiveCost:
    configurations: int
    comparisons: int
    first_runs: int
    worst_runs: int
    expected_null: float  # mean runs when no configuration differs
    expected_shifted: float  # mean runs when each step of a key changes Dice by ``difference``
    difference: float


def price(
    configurations: Sequence[Mapping[str, str]], design: SequentialDesign, *,
    difference: float = 0.02, seed_sd: float = SEED_SD, repetitions: int = REPETITIONS,
) -> AdaptiveCost:  # fmt: skip
    """Runs of a seed-adaptive sweep over ``configurations`` (their varying keys' values)."""
    pairs = one_key_pairs(configurations)
    design = replace(design, comparisons=max(1, len(pairs)))
    levels = {k: list(dict.fromkeys(c[k] for c in configurations)) for k in configurations[0]}
    shifts = [difference * sum(levels[k].index(v) for k, v in c.items()) for c in configurations]
    nulls = [0.0] * len(configurations)
    run = {"repetitions": repetitions, "seed_sd": seed_sd}
    return AdaptiveCost(
        len(configurations), len(pairs), len(configurations) * design.first,
        len(configurations) * design.cap, simulate(nulls, pairs, design, **run).mean_runs,
        simulate(shifts, pairs, design, **run).mean_runs, difference,
    )  # fmt: skip
