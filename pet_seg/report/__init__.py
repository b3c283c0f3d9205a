"""Turn a sweep (or any set of run folders) into the study's tables and comparison figures.

``python -m pet_seg.report SWEEP_DIR`` or, from code, ``write_report([sweep_dir])``. The base
config registers ``pet_seg.report.callback.ReportCallback`` so every Hydra multirun ends with
``<sweep>/report/report.md`` (and a W&B report run) without anyone asking.
"""

from pet_seg.report.build import Report, ReportError, write_report

__all__ = ["Report", "ReportError", "write_report"]
