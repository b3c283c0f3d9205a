"""The benchmark behind ``scripts/bench.py`` (and the sweep plan's cost probe), kept apart from
the modules a user reads to understand training.

- ``steps``: one training or inference step of a model per variant (precision, memory format,
  fused optimizer, compile), timed round-robin through the project's own loop.
- ``pipeline``: the input pipeline, the seed's per-sample loader vs the decoded cache.
- ``machine``: what ran it (CPU flags, GPU) and peak memory.
"""
