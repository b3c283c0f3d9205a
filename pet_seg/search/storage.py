"""Where a study lives: an SQLAlchemy URL opened the same way by the sweeper and by its trials.

A SQLite file is shared by processes on one machine (each write waits up to a minute for the
file lock); PostgreSQL (``postgresql://user@host/db``, driver ``psycopg2``) by several machines.
Keep passwords out of the URL (it is written into every trial's config): libpq reads
``~/.pgpass`` and ``PGPASSWORD``.
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path
from typing import Any

STUDY_ATTR = "pet_seg"  # the study's user attribute holding what its trials need (the pruner)
DB_FILE = "optuna.db"


def default_url(sweep_dir: str | Path) -> str:
    """``sqlite:///<sweep dir>/optuna.db``, absolute so that every job finds the same file."""
    return f"sqlite:///{(Path(sweep_dir).absolute() / DB_FILE).as_posix()}"


def open_storage(
    url: str,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    retry: Any | None = None,
) -> Any:
    """An ``optuna.storages.RDBStorage`` for ``url``; with ``heartbeat_interval``, trials whose
    heartbeat stopped for ``grace_period`` s count as dead, and ``retry(study, trial)`` is called
    for each (``pet_seg.search.sweeper`` enqueues them again)."""
    import optuna

    engine: dict[str, Any] = (
        {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    )
    kwargs: dict[str, Any] = {}
    if heartbeat_interval:
        kwargs = {"heartbeat_interval": int(heartbeat_interval), "grace_period": grace_period}
        if retry is not None:
            # renamed in optuna 4.9 (the old name is deprecated, removed in 6)
            names = optuna.storages.RDBStorage.__init__.__code__.co_varnames
            new = "heartbeat_stale_trial_callback" in names
            kwargs["heartbeat_stale_trial_callback" if new else "failed_trial_callback"] = retry
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=engine, **kwargs)
        except Exception:  # processes starting at once race to create the tables
            if attempt == 4:
                raise
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")
