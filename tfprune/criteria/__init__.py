"""Importance criteria: ``Criterion.score(weight, stats) -> scores``.

A criterion is a small registered object. It declares the statistics it needs in
``needs`` (a frozenset of names from ``STAT_NAMES``); the wrapper gathers them and
passes them in ``stats``. Scores have the weight's shape (larger = keep).

Example:
    >>> import tensorflow as tf
    >>> get("magnitude").score(tf.constant([-3., 1.]), {}).numpy()
    array([3., 1.], dtype=float32)
"""

from tfprune.criteria.base import (
    STAT_NAMES,
    Criterion,
    Magnitude,
    Random,
    available,
    get,
    register_criterion,
    serialize,
)

__all__ = [
    "STAT_NAMES",
    "Criterion",
    "Magnitude",
    "Random",
    "available",
    "get",
    "register_criterion",
    "serialize",
]
