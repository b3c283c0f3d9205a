"""Simulate seed-adaptive sweeps with a known truth and print the docs' table as JSON.

    python scripts/simulate_adaptive.py --repetitions 4000 --seed 0 > sim.json

For each design (O'Brien-Fleming-type and Hwang-Shih-DeCani(-4) spending, first 2 and cap 8
seeds per arm) it reports, over ``--repetitions`` simulated sweeps (pet_seg.adaptive.simulation:
seed SD 0.014, 298 test images):

* A/A: the share of sweeps with any false "real", for 1 comparison (2 configurations), 4 (a
  2 x 2 grid) and 6 (one key with 4 values);
* one comparison with a true difference of 0.02 and 0.01: power (share "real"), the mean runs,
  and the runs of the fixed design (same seeds per arm, t test at 5 %) whose power by the
  seeds_needed formula reaches the adaptive design's.

Results depend only on the seed and the repetitions, never on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from pet_seg.adaptive.design import one_key_pairs
from pet_seg.adaptive.sequential import SequentialDesign, hwang_shih_decani, obrien_fleming
from pet_seg.adaptive.simulation import IMAGES, INTERACTION_SD, SEED_SD, simulate
from pet_seg.report.statistics.seeds_needed import power

FAMILIES = {
    "1": ([(0, 1)], 2),
    "4": (one_key_pairs([{"a": x, "b": y} for x in "01" for y in "01"]), 4),
    "6": (one_key_pairs([{"a": x} for x in "0123"]), 4),
}


def fixed_seeds(target: float, delta: float) -> int | None:
    """Seeds per arm of the fixed design whose power reaches ``target``."""
    image_var = 2 * INTERACTION_SD**2 / IMAGES
    for seeds in range(2, 60):
        if power(delta, seeds, seed_sd=SEED_SD, image_var=image_var, images=IMAGES) >= target:
            return seeds
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--families", default="1,4,6", help="A/A families to simulate")
    args = parser.parse_args(argv)
    out = {"repetitions": args.repetitions, "seed": args.seed, "seed_sd": SEED_SD,
           "images": IMAGES, "designs": {}}  # fmt: skip
    for name, spending in (("obrien_fleming", obrien_fleming),
                           ("hwang_shih_decani(-4)", hwang_shih_decani(-4))):  # fmt: skip
        result: dict = {"aa": {}, "power": {}}
        for m in args.families.split(","):
            pairs, configs = FAMILIES[m]
            design = SequentialDesign(comparisons=len(pairs), spending=spending)
            rates = simulate([0.0] * configs, pairs, design, repetitions=args.repetitions,
                             seed=args.seed)  # fmt: skip
            result["aa"][m] = asdict(rates) | {"fixed_runs": configs * design.cap}
        for delta in (0.02, 0.01):
            design = SequentialDesign(spending=spending)
            rates = simulate([0.0, delta], [(0, 1)], design, repetitions=args.repetitions,
                             seed=args.seed + 1)  # fmt: skip
            seeds = fixed_seeds(rates.real, delta)
            result["power"][str(delta)] = asdict(rates) | {
                "fixed_seeds_equal_power": seeds,
                "fixed_runs_equal_power": None if seeds is None else 2 * seeds,
            }
        out["designs"][name] = result
        print(json.dumps({name: result}), file=sys.stderr, flush=True)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
