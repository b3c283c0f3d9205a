"""Hydra callbacks that put a job's timing in the test's hands, whatever the machine's speed.

Both need ``tests/`` on ``PYTHONPATH`` (the sweep's and, through SLURM's exported environment,
its jobs'). Hydra calls ``on_job_start`` in the process that runs the job — a SLURM job for
``hydra/launcher=submitit_slurm``, the sweep itself for the basic launcher — so they act there.

``StallOnce`` stalls one training run after a given epoch, once, so that SLURM interrupts it
mid-training:

    +hydra.callbacks.stall._target_=job_hooks.StallOnce
    +hydra.callbacks.stall.after_epoch=2 +hydra.callbacks.stall.marker=/tmp/x/stalled

The first attempt that has saved
the checkpoints of ``after_epoch`` writes ``marker`` and sleeps until a signal ends it (SLURM's
time-limit warning, or a requeue's SIGKILL); an attempt that finds ``marker`` trains on as
usual. Stalling after the checkpoints are written changes nothing that the run computes, so
the resumed job must end with the same scores as an uninterrupted run.

``WaitForPeers`` holds each sweep process's first job until ``count`` sweep processes have
started one, so that processes sharing a study each run a trial however late one of them starts.
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


class WaitForPeers(Callback):
    def __init__(self, count: int, folder: str) -> None:
        self.count = count
        self.folder = folder

    def on_job_start(self, config: Any, **kwargs: Any) -> None:
        folder = Path(self.folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / str(os.getpid())).touch()
        deadline = time.monotonic() + 600  # a hang guard only
        while len(list(folder.iterdir())) < self.count and time.monotonic() < deadline:
            time.sleep(0.2)
