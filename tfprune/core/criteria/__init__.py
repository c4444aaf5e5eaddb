"""Importance criteria: ``Criterion.score(weight, stats) -> scores``; one registry.

Every criterion scores weights per element (activation criteria and FPGM: per channel
by nature) and declares the granularities it supports; at ``granularity="channel"`` the
scores of a dependency group's members are reduced and normalised in
:mod:`tfprune.core.criteria.grouping`.

A criterion is a small registered object. It declares the statistics it needs in
``needs`` (a frozenset of names from ``STAT_NAMES``); the wrapper gathers them and
passes them in ``stats``. Scores have the weight's shape (larger = keep).

Example:
    >>> import tensorflow as tf
    >>> get("magnitude").score(tf.constant([-3., 1.]), {}).numpy()
    array([3., 1.], dtype=float32)
"""

from tfprune.core.criteria import grouping
from tfprune.core.criteria.activation import APoZ, HRank, MeanActivation
from tfprune.core.criteria.base import (
    DATA_STATS,
    GRANULARITIES,
    STAT_NAMES,
    Criterion,
    Magnitude,
    Random,
    available,
    check_granularity,
    checked_scores,
    get,
    register_criterion,
    resolve_granularity,
    serialize,
    weight_key,
)
from tfprune.core.criteria.channel import FPGM, L1, L2, BNScale
from tfprune.core.criteria.gradient import OBD, SNIP, Movement, Taylor
from tfprune.core.criteria.obs import OBS
from tfprune.core.criteria.sensitivity import Sensitivity
from tfprune.core.criteria.sparsegpt import SparseGPT
from tfprune.core.criteria.wanda import Wanda

__all__ = [
    "APoZ",
    "BNScale",
    "DATA_STATS",
    "GRANULARITIES",
    "FPGM",
    "HRank",
    "L1",
    "L2",
    "MeanActivation",
    "Movement",
    "OBD",
    "OBS",
    "SNIP",
    "Sensitivity",
    "SparseGPT",
    "STAT_NAMES",
    "Taylor",
    "Wanda",
    "Criterion",
    "Magnitude",
    "Random",
    "available",
    "check_granularity",
    "checked_scores",
    "grouping",
    "resolve_granularity",
    "get",
    "register_criterion",
    "serialize",
    "weight_key",
]
