"""Hydra finds sweepers only under the ``hydra_plugins`` namespace package
(``hydra.core.plugins.Plugins``), so this shim names pet_seg's sweeper there; the code lives
in ``pet_seg.search.sweeper``."""

from pet_seg.search import sweeper as _impl


class PetSegOptunaSweeper(_impl.OptunaSweeper):
    """``hydra/sweeper=optuna``: see ``pet_seg.search.sweeper.OptunaSweeper``."""
