"""The trial's side of pruning: report validation Dice after every epoch, stop when told to.

A job launched by ``pet_seg.search.sweeper`` carries ``search.storage``, ``search.study`` and
``search.trial`` in its config. ``epoch_hook(cfg)`` turns them into the ``Tracker``'s
``on_epoch`` callable: after each epoch record it reports the best validation Dice so far
(the value the run returns, so the pruner compares like with like) at step = epoch, asks the
study's pruner (stored in the study by the sweeper: ``hydra.sweeper.pruner``), and when the
pruner says the trial cannot catch up, tells the study PRUNED and raises ``TrialPruned``.
``pet_seg.run`` catches it, writes ``"status": "pruned"`` and returns the last reported value.
Runs outside a search (no ``search`` key) get no hook and never touch optuna.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from pet_seg.search.storage import STUDY_ATTR, open_storage


class TrialPruned(Exception):
    """The study's pruner stopped this trial after ``epoch`` epochs at ``value``."""

    def __init__(self, trial: int, epoch: int, value: float) -> None:
        super().__init__(f"trial {trial} pruned after epoch {epoch} (best val Dice {value:.4f})")
        self.trial, self.epoch, self.value = trial, epoch, value

    def summary(self) -> dict[str, Any]:
        """What ``summary.json`` records for a pruned run."""
        return {
            "status": "pruned",
            "error": str(self),
            "epochs": self.epoch,
            "pruned_at_epoch": self.epoch,
            "best/val_dice": self.value,
        }


class TrialReporter:
    """``on_epoch`` for one trial: connects to the study on the first epoch."""

    def __init__(self, storage: str, study: str, trial: int) -> None:
        self.url, self.study_name, self.number = storage, study, int(trial)
        self.best = -math.inf
        self._trial: Any = None

    def _connect(self) -> Any:
        import optuna
        from hydra.utils import instantiate

        storage = open_storage(self.url)
        study_id = storage.get_study_id_from_name(self.study_name)
        pruner_cfg = storage.get_study_user_attrs(study_id).get(STUDY_ATTR, {}).get("pruner")
        study = optuna.load_study(
            study_name=self.study_name,
            storage=storage,
            # no sampling happens here; a random sampler keeps loading cheap
            sampler=optuna.samplers.RandomSampler(),
            pruner=instantiate(pruner_cfg) if pruner_cfg else optuna.pruners.NopPruner(),
        )
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, self.number)
        return optuna.trial.Trial(study, trial_id)

    def __call__(self, record: Mapping[str, Any]) -> None:
        value = record.get("val/dice")
        if record.get("kind", "epoch") != "epoch" or value is None or not math.isfinite(value):
            return
        self.best = max(self.best, float(value))
        if self._trial is None:
            self._trial = self._connect()
        epoch = int(record["epoch"])
        self._trial.report(self.best, epoch)
        if self._trial.should_prune():
            from optuna.trial import TrialState

            self._trial.study.tell(self._trial, state=TrialState.PRUNED)
            raise TrialPruned(self.number, epoch, self.best)


def epoch_hook(cfg: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], None] | None:
    """The ``Tracker``'s ``on_epoch`` for a search trial, ``None`` for any other run."""
    search = cfg.get("search")
    if not search or search.get("trial") is None:
        return None
    return TrialReporter(str(search["storage"]), str(search["study"]), int(search["trial"]))
