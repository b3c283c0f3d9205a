"""The search space of a ``hydra.sweeper.params`` block, in the syntax of Hydra's Optuna plugin.

``interval(a, b)`` is a float range, ``int(interval(a, b))`` / ``range(a, b)`` an int range,
``tag(log, ...)`` makes it logarithmic and ``choice(...)`` categorical; a key the command line
gives a plain value is fixed. The sweeper asks each trial for values from it, and the results
rebuild the best command line from its fixed part.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override, RangeSweep, Transformer


def distribution_of(override: Override) -> Any:
    """The optuna distribution of one sweep override, or its plain value when it sweeps nothing.

    ``choice(a, b)`` and shuffled ranges are categorical; ``range(a, b, step)`` is a stepped
    int (float if any bound is); ``interval(a, b)`` is uniform, log-uniform with ``tag(log, …)``,
    int when both ends are ints.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if not override.is_sweep_override():
        return override.get_value_element_as_str()
    value = override.value()
    if override.is_choice_sweep() or (
        override.is_range_sweep() and isinstance(value, RangeSweep) and value.shuffle
    ):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))
        return CategoricalDistribution(choices)
    if override.is_range_sweep():
        assert isinstance(value, RangeSweep)
        # range's stop is exclusive, optuna's high inclusive: high = the range's last value
        count = math.ceil((value.stop - value.start) / value.step)
        if any(isinstance(v, float) for v in (value.start, value.stop, value.step)):
            high = value.start + (count - 1) * value.step
            return FloatDistribution(value.start, high, step=value.step)
        high = int(value.start) + (count - 1) * int(value.step)
        return IntDistribution(int(value.start), high, step=int(value.step))
    if override.is_interval_sweep():
        assert isinstance(value, IntervalSweep)
        log_scale = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log_scale)
        return FloatDistribution(float(value.start), float(value.end), log=log_scale)
    raise NotImplementedError(f"{override} is not supported by the Optuna sweeper")


def search_space(
    params: Mapping[str, Any] | None, arguments: Sequence[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(distributions, fixed overrides) from ``hydra.sweeper.params`` and the command line.

    A key given a plain value on the command line is fixed even if ``params`` sweeps it.
    """
    texts = [f"{key}={value}" for key, value in (params or {}).items()] + list(arguments)
    space: dict[str, Any] = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(texts):
        key = override.get_key_element()
        value = distribution_of(override)
        if isinstance(value, str):
            fixed[key] = value
            space.pop(key, None)
        else:
            space[key] = value
            fixed.pop(key, None)
    return space, fixed


def suggest(trial: Any, name: str, distribution: Any) -> Any:
    """``trial.suggest_*`` for one distribution (the public API: no ``trial._suggest``)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    kwargs = {"log": distribution.log}
    if distribution.step is not None and not distribution.log:
        kwargs["step"] = distribution.step
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, **kwargs)
    return trial.suggest_float(name, distribution.low, distribution.high, **kwargs)
