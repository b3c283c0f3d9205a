"""pet_seg: Hydra-configured ablation and sweep toolkit for binary pet segmentation.

Entry points sit at the top (``run``, ``evaluate``, ``predict``, ``plan``, ``report``); the
training machinery lives in ``training/``, per-image scoring in ``scoring``, checkpoint loading
for evaluation and prediction in ``trained_model``, autocast in ``precision`` and the benchmark
in ``bench/`` (docs/architecture.md: "Where things live").
"""

__version__ = "0.1.0"
