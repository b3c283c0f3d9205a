"""A real one-node SLURM cluster on localhost for the tests, started by scripts/slurm_local.sh.

``local_slurm(folder)`` starts munged, slurmctld and slurmd with everything (config, munge key
and socket, state, logs) under ``folder``, waits until ``sinfo`` shows the node idle, yields a
``SlurmCluster`` and stops the daemons afterwards. Where it cannot (not root, no slurm-wlm or
munge, a daemon that does not start), it calls ``pytest.skip`` with the step that failed and
its log; ``.ci/run`` installs the packages where it can.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm_local.sh"


@dataclass(frozen=True)
class SlurmCluster:
    folder: Path

    @property
    def conf(self) -> Path:
        return self.folder / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """The environment for SLURM's commands (and sweeps that submit to this cluster)."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def command(self, *args: str) -> str:
        """Run a SLURM command (``scontrol``, ``squeue``, ...) against this cluster."""
        result = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"{' '.join(args)}: {result.stderr}"
        return result.stdout

    def log(self, daemon: str) -> str:
        """A daemon's log: ``slurmctld``, ``slurmd`` or ``munged``."""
        path = self.folder / "log" / f"{daemon}.log"
        return path.read_text(errors="replace") if path.is_file() else ""


def _script(action: str, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), action, str(folder)], capture_output=True, text=True, timeout=90
    )


@contextmanager
def local_slurm(folder: Path) -> Iterator[SlurmCluster]:
    """A running one-node cluster (partition ``debug``, node ``localhost``), or a skip."""
    if os.geteuid() != 0:
        pytest.skip("a local SLURM needs root (slurmd runs as root)")
    missing = [t for t in ["munged", "slurmctld", "slurmd", "sbatch"] if not shutil.which(t)]
    if missing:
        pytest.skip(
            f"no SLURM here ({', '.join(missing)} not found; apt-get install slurm-wlm munge)"
        )
    result = _script("start", folder)
    if result.returncode != 0:
        _script("stop", folder)
        lines = result.stderr.strip().splitlines()
        steps = [line for line in lines if line.startswith("slurm_local:")]  # what failed
        logs = "\n".join(line for line in lines if line not in steps)[-1500:]
        pytest.skip(f"the local SLURM did not start: {'; '.join(steps)}\n{logs}")
    try:
        yield SlurmCluster(folder)
    finally:
        _script("stop", folder)
