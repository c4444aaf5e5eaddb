"""Criterion scores and masks of a :class:`tfprune.masking.wrapper.PruningWrapper`
(a mixin; the mask math itself is in :mod:`tfprune.core.masks`, the statistics the scores
read in :class:`tfprune.masking.stats.StatisticsMixin`)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune.core import criteria as criteria_lib
from tfprune.core.criteria import grouping
from tfprune.masking import granularity as granularity_lib

__all__ = ["ScoringMixin"]


class ScoringMixin:
    """Scores and masks of the wrapper's prunable weights (needs the wrapper's
    ``pruning_vars``, ``criterion``, ``granularity`` and its statistics:
    :class:`tfprune.masking.stats.StatisticsMixin`)."""

    # -- mask math (pure functions from tfprune.core.masks) ------------------------------
    def scores(self, index: int, axis: int | None = None) -> tf.Tensor:
        """Criterion scores of prunable weight ``index``: the weight's shape, or one per
        channel for per-channel criteria (``axis``: the channel axis for FPGM), checked by
        :func:`tfprune.core.criteria.checked_scores`.

        Raises:
            ConfigError: the criterion returned another shape (both shapes are named) or
                NaN/inf scores.
        """
        stats = self.statistics(index)
        if axis is not None:
            stats["axis"] = axis
        return criteria_lib.checked_scores(self.criterion, self.pruning_vars[index][0], stats,
                                           where=self._where(index))

    def _where(self, index: int) -> str:
        return f"weight {self.pruning_vars[index][0].name} of layer {self.layer.name!r}"

    def position_scores(self, index: int, axis: int) -> tf.Tensor:
        """Scores per position along ``axis`` of prunable weight ``index`` (channel
        granularity): :func:`tfprune.core.criteria.grouping.score_positions` with the
        wrapper's statistics, as a plain layer is scored."""
        return grouping.score_positions(self.criterion, self.pruning_vars[index][0],
                                        self.statistics(index), axis, where=self._where(index))

    def unit_scores(self, index: int) -> tf.Tensor:
        """Scores per pruning unit of the granularity's strategy (element or block);
        pruned units score -inf."""
        strategy = granularity_lib.get(self.granularity)
        alive = strategy.alive(self.pruning_vars[index][1] > 0, self)
        return strategy.pool(tf.where(alive, self.scores(index), -np.inf), self)

    def expand(self, index: int, unit_mask) -> tf.Tensor:
        """A per-unit 0/1 mask expanded to the weight's shape."""
        shape = self.pruning_vars[index][0].shape.as_list()
        return granularity_lib.get(self.granularity).expand(unit_mask, shape, self)

    def mask_for(self, index: int, sparsity):
        """(threshold, mask) for prunable weight ``index`` at ``sparsity``.

        A data-driven criterion with nothing recorded yet keeps the current mask (no
        arbitrary mask from all-zero statistics at step 0).
        """
        recorded = self.recorded()
        if recorded is None:
            return self._new_mask(index, sparsity)
        _, mask_var, thr_var = self.pruning_vars[index]
        return tf.cond(recorded > 0, lambda: self._new_mask(index, sparsity),
                       lambda: (tf.identity(thr_var), tf.identity(mask_var)))

    def _new_mask(self, index: int, sparsity):
        weight = self.pruning_vars[index][0]
        strategy = granularity_lib.get(self.granularity)
        unit = strategy.select(self.unit_scores(index), sparsity, self)
        mask = self.expand(index, unit)
        return self._threshold(index, mask), tf.cast(mask, weight.dtype)

    def _threshold(self, index, mask):
        weight = self.pruning_vars[index][0]
        scores = self.scores(index)
        kept = tf.where(mask > 0, scores, np.inf)
        return tf.cast(tf.reduce_min(kept), weight.dtype)
