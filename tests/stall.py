"""A Hydra callback that stalls one training run after a given epoch, once: the test harness's way
to keep a job busy until SLURM interrupts it, whatever the machine's speed.

    hydra.callbacks.stall._target_=stall.StallOnce
    +hydra.callbacks.stall.after_epoch=2 +hydra.callbacks.stall.marker=/tmp/x/stalled

(``tests/`` on ``PYTHONPATH``: the sweep and, through SLURM's exported environment, its jobs.)
Hydra calls ``on_job_start`` in the process that runs the job — a SLURM job for
``hydra/launcher=submitit_slurm`` — so the patch lives there. The first attempt that has saved
the checkpoints of ``after_epoch`` writes ``marker`` and sleeps until a signal ends it (SLURM's
time-limit warning, or a requeue's SIGKILL); an attempt that finds ``marker`` trains on as
usual. Stalling after the checkpoints are written changes nothing that the run computes, so
the resumed job must end with the same scores as an uninterrupted run.
"""

import os
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback


class StallOnce(Callback):
    def __init__(self, after_epoch: int, marker: str) -> None:
        self.after_epoch = after_epoch
        self.marker = marker

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        import pet_seg.training.loop as loop  # imported in the job's process

        keep_checkpoints, after, marker = loop.keep_checkpoints, self.after_epoch, Path(self.marker)

        def keep_then_stall(checkpoints, progress, *args, **kwargs) -> None:
            keep_checkpoints(checkpoints, progress, *args, **kwargs)
            if progress.epoch == after and not marker.exists():
                marker.write_text(f"{os.getpid()}\n")
                while True:  # until a signal ends the process (submitit's handler exits)
                    time.sleep(1)

        loop.keep_checkpoints = keep_then_stall
