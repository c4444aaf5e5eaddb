"""Measurement: evaluate a plain model with channels or heads removed, fast.

Stop of the path: below masking (``one_shot``/``prune`` with criterion "sensitivity") and
analysis (``sensitivity``), which both measure with it. It reads plain models only, never a
pruning wrapper: :mod:`probe` (the channel probe, cached calibration batches, compiled
metrics: :mod:`metric`), :mod:`cutpoints` (where an evaluation may start) and :mod:`batchstats`
(BatchNormalization on batch statistics, as if re-estimated after each removal).
"""

from tfprune.measure import batchstats, cutpoints, metric, probe

__all__ = ["batchstats", "cutpoints", "metric", "probe"]
