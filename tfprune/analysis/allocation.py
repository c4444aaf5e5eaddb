"""The result of :func:`tfprune.analysis.allocate`: an :class:`Allocation` maps each unit
(layer, channel group or MultiHeadAttention layer) to a sparsity and carries the predicted
costs; it is a ``scope`` for ``prune``/``one_shot`` and turns into a ``structured.Plan``.

Example:
    >>> a = Allocation({"h": 0.5}, "weight", "uniform", ("sparsity", 0.5),
    ...                {"params": 10, "macs": 10, "sparsity": 0.5}, {"params": 20, "macs": 20})
    >>> dict(a), a.to_dict()["target"]
    ({'h': 0.5}, ['sparsity', 0.5])
"""

from __future__ import annotations

import collections.abc
import dataclasses

import numpy as np

from tfprune import errors
from tfprune import graph as graph_lib
from tfprune.analysis.heads import head_scores
from tfprune.analysis.sensitivity import group_scores
from tfprune.core import masks as masks_lib
from tfprune.structured import Plan, rebuild
from tfprune.structured import heads as heads_lib

__all__ = ["Allocation"]


@dataclasses.dataclass
class Allocation(collections.abc.Mapping):
    """``{unit: sparsity}`` plus what it is predicted to cost.

    Attributes:
        scope: unit (layer or group name) -> sparsity in [0, 1).
        granularity: ``"weight"``, ``"channel"`` or ``"head"``.
        method: how it was chosen.
        target: ``(name, value)`` in the user's units.
        predicted: ``params``, ``macs``, ``bytes`` (int8 estimate, channel only),
            ``sparsity``, ``latency_ms``/``arena`` for those targets and, with a sensitivity result, ``metric_delta`` (sum of the
            measured per-unit degradations).
        dense: the same figures for the unpruned model.
    """

    scope: dict
    granularity: str
    method: str
    target: tuple
    predicted: dict
    dense: dict

    def __getitem__(self, key):
        return self.scope[key]

    def __iter__(self):
        return iter(self.scope)

    def __len__(self):
        return len(self.scope)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {"scope": dict(self.scope), "granularity": self.granularity,
                "method": self.method, "target": list(self.target),
                "predicted": dict(self.predicted), "dense": dict(self.dense)}

    def plan(self, model, *, criterion: str = "magnitude", scores: dict | None = None):
        """A ``structured.Plan`` keeping each group's best channels (channel granularity)
        or each attention layer's best heads (head granularity: groups
        ``"<layer path>/heads"``).

        Channels are ranked as in :func:`tfprune.analysis.sensitivity` (summed filter
        norms of the group's members, ``criterion`` ``"magnitude"``/``"l1"``/``"l2"``;
        heads: ``criterion`` summed over the head's kernel slices), so the plan removes
        what was measured — or by ``scores`` (group name -> per-channel score, larger =
        keep), e.g. from :func:`~tfprune.analysis.sensitivity.channel_loss_delta` (the
        measured ``"sensitivity"`` criterion; ``granularity="head"`` for heads).

        Example:
            >>> from tfprune.compat import keras
            >>> i = keras.Input((6, 8))
            >>> a = keras.layers.MultiHeadAttention(4, 4, name="att")(i, i)
            >>> m = keras.Model(i, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(a)))
            >>> from tfprune.analysis import allocate
            >>> alloc = allocate(m, sparsity=0.5, method="uniform", granularity="head")
            >>> p = alloc.plan(m)
            >>> list(p.keep), len(p.keep["att/heads"]), p.channels
            (['att/heads'], 2, {'att/heads': 4})
        """
        if self.granularity == "head":
            return self._head_plan(model, criterion, scores)
        if self.granularity != "channel":
            raise errors.ConfigError(
                "Allocation.plan() needs a channel allocation; for weight granularity pass "
                "the allocation as prune(scope=allocation.scope) or one_shot(scope=...).")

        g = graph_lib.build(model)
        groups = [x for x in g.prunable() if x.name in self.scope]
        if scores is None:
            scores = group_scores(g, groups, criterion)
        else:
            scores = {grp.index: np.asarray(scores[grp.name], float) for grp in groups
                      if grp.name in scores}
        keep, channels = {}, {}
        for grp in groups:
            k = int(masks_lib.kept_count(grp.channels, self.scope[grp.name]))
            if k < grp.channels and grp.index in scores:
                keep[grp.name] = tuple(sorted(np.argsort(-scores[grp.index],
                                                         kind="stable")[:k].tolist()))
                channels[grp.name] = grp.channels
        return Plan(keep, channels)

    def _head_plan(self, model, criterion, scores):
        attn = heads_lib.attention_layers(rebuild.layers_by_path(model))
        found = {lyr.name: (path, lyr) for path, lyr in attn.items() if lyr.name in self.scope}
        if scores is None:
            scores = head_scores([lyr for _, lyr in found.values()], criterion)
        keep, count = {}, {}
        for name, (path, layer) in found.items():
            n = int(layer.get_config()["num_heads"])
            k = int(masks_lib.kept_count(n, self.scope[name]))
            s = scores.get(name, scores.get(name + heads_lib.SUFFIX))
            if k < n and s is not None:
                group = path + heads_lib.SUFFIX
                keep[group] = tuple(sorted(np.argsort(-np.asarray(s, float),
                                                      kind="stable")[:k].tolist()))
                count[group] = n
        return Plan(keep, count)

    def __str__(self) -> str:
        name, value = self.target
        p, d = self.predicted, self.dense
        head = (f"Allocation ({self.granularity}, {self.method}) for {name}={value}: "
                f"params {d['params']:,} -> {p['params']:,}, MACs {d['macs']:,} -> "
                f"{p['macs']:,}, sparsity {p['sparsity']:.1%}")
        rows = [f"  {u}: {s:.3f}" for u, s in self.scope.items() if s > 0]
        return "\n".join([head] + rows)

