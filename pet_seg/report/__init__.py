"""Turn a sweep (or any set of run folders) into the study's tables and comparison figures.

``python -m pet_seg.report SWEEP_DIR`` or, from code, ``write_report([sweep_dir])``. The
experiment configs register ``pet_seg.report.callback.ReportCallback`` so a Hydra multirun ends
with ``<sweep>/report/report.md`` without anyone asking.
"""

from pet_seg.report.build import Report, ReportError, write_report

__all__ = ["Report", "ReportError", "write_report"]
