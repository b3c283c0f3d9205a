"""Run ``python -m pet_seg.run`` and hit it with a real signal at a chosen point.

    python tests/interrupt.py <point> <n> <signal> -- <hydra overrides...>

``point`` is ``batch`` (the n-th training batch), ``save`` (right after the n-th checkpoint
file is in place) or ``mid-save`` (the n-th checkpoint fully written to its temp file but not
yet renamed over the old one). The hook lives here, in the test harness, not in pet_seg.
"""

import os
import signal
import sys

import pet_seg.checkpoint
import pet_seg.training.loop
from pet_seg.run import main

point, n, signame = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = {"count": 0}


def _hit() -> None:
    calls["count"] += 1
    if calls["count"] == n:
        os.kill(os.getpid(), getattr(signal, signame))


def _wrap(function, before: bool):
    def wrapper(*args, **kwargs):
        if before:
            _hit()
        result = function(*args, **kwargs)
        if not before:
            _hit()
        return result

    return wrapper


if point == "batch":
    pet_seg.training.loop.prepare_batch = _wrap(pet_seg.training.loop.prepare_batch, before=True)
elif point == "save":
    pet_seg.checkpoint.save_checkpoint = _wrap(pet_seg.checkpoint.save_checkpoint, before=False)
elif point == "mid-save":
    pet_seg.checkpoint.os.replace = _wrap(os.replace, before=True)
else:
    raise SystemExit(f"unknown point {point!r}")

sys.argv = ["pet_seg.run", *sys.argv[sys.argv.index("--") + 1 :]]
main()
