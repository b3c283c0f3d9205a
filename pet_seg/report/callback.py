"""Hydra callback: every sweep (and single run) of an experiment ends with its report.

Why more than ``on_multirun_end``: in Hydra 1.3 the basic sweeper, after a batch of jobs, reads
each job's return value, which re-raises a failed job's exception, so ``on_multirun_end`` is
never called for a sweep with a failed job (nor after Ctrl-C). ``on_multirun_start`` therefore
also registers an exit hook that writes the report when the process ends without
``on_multirun_end`` having run; Hydra ends a failed sweep with ``sys.exit(1)``, so the hook runs
after every job, whatever the launcher, and the report lists the failed job. ``on_job_end``
records a failure the run itself could not write down (``job_status.json``). Register it in a
config::

    hydra:
      callbacks:
        report:
          _target_: pet_seg.report.callback.ReportCallback

``python -m pet_seg.report <sweep>`` rebuilds the same report by hand at any time.
"""

from __future__ import annotations

import atexit
import json
import logging
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from pet_seg.report.build import write_report
from pet_seg.report.runs import JOB_STATUS_FILE, SUMMARY_FILE

log = logging.getLogger(__name__)


def record_failure(job_dir: Path, error: BaseException) -> None:
    """Leave ``job_status.json`` where the run itself could not say it failed.

    ``pet_seg.run`` writes ``summary.json`` with status ``failed`` only once training has
    started; a job that dies earlier (bad data root, bad config value) would otherwise look
    merely unfinished in the report.
    """
    summary_path = job_dir / SUMMARY_FILE
    try:
        status = json.loads(summary_path.read_text()).get("status")
    except (FileNotFoundError, json.JSONDecodeError, AttributeError):
        status = None
    if status in ("failed", "finished"):
        return
    job_dir.mkdir(parents=True, exist_ok=True)
    payload = {"status": "failed", "error": f"{type(error).__name__}: {error}"}
    (job_dir / JOB_STATUS_FILE).write_text(json.dumps(payload, indent=2) + "\n")


class ReportCallback(Callback):
    """Writes ``<sweep>/report/`` after a multirun, or ``<run>/report/`` after a single run."""

    def __init__(self, samples: int = 4) -> None:
        self.samples = samples
        self.pending: Path | None = None  # a sweep whose report is still owed

    def _write(self, folder: Path) -> None:
        """Build the report; a problem becomes a log line, never a failed sweep."""
        try:
            report = write_report([folder], samples=self.samples)
        except Exception as err:  # the runs are done: a report bug must not hide them
            log.warning("pet_seg report for %s failed: %s: %s", folder, type(err).__name__, err)
            return
        print(f"[pet_seg] report: {report.markdown}\n{report.table}", flush=True)

    def write_pending(self) -> None:
        """The exit hook: report a sweep that ended without ``on_multirun_end``."""
        folder, self.pending = self.pending, None
        if folder is not None and folder.is_dir():
            print(
                f"[pet_seg] sweep ended early or with failed jobs; reporting {folder}", flush=True
            )
            self._write(folder)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.pending = Path(config.hydra.sweep.dir).absolute()
        atexit.register(self.write_pending)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if job_return.status == JobStatus.FAILED:
            job_dir = Path(job_return.hydra_cfg.hydra.runtime.output_dir)
            # ``return_value`` would re-raise; the stored exception is what we record.
            record_failure(job_dir, job_return._return_value)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.pending = None
        self._write(Path(config.hydra.sweep.dir))

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        """Single runs too (Hydra calls this even when the run failed)."""
        job_return: JobReturn | None = kwargs.get("job_return")
        if job_return is not None and job_return.hydra_cfg is not None:
            self._write(Path(job_return.hydra_cfg.hydra.runtime.output_dir))
