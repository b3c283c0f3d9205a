"""Hydra finds sweepers only under the ``hydra_plugins`` namespace package
(``hydra.core.plugins.Plugins``), so this shim names pet_seg's seed-adaptive sweeper there; the
code lives in ``pet_seg.adaptive.sweeper``."""

from pet_seg.adaptive import sweeper as _impl


class PetSegVerdictSweeper(_impl.VerdictSweeper):
    """``hydra/sweeper=verdict``: see ``pet_seg.adaptive.sweeper.VerdictSweeper``."""
