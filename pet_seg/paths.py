"""Where the Hydra configs live: ``conf/`` at the repository root.

An absolute path keeps every entry point working however it is started: ``python -m``, a
script that imports ``main``, or a launcher that pickles the task function.
"""

from pathlib import Path

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
