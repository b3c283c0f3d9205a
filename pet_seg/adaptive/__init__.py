"""Seed-adaptive sweeps: add seeds only where a comparison is still undecided.

``sequential`` holds the group-sequential statistics (alpha spending, boundaries, repeated
confidence intervals), ``design`` the round rule on score matrices (shared by the sweeper and
the simulations), ``simulation`` the known-truth simulations, ``ledger`` the sweep's state
file ``adaptive.json``, and ``sweeper`` the Hydra sweeper (``hydra/sweeper=verdict``).
"""
