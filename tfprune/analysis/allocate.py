"""Allocate per-layer (weight), per-group (channel) or per-attention-layer (head) sparsities
that meet one target.

``allocate(result_or_model, <one target>, method=...)`` returns an :class:`Allocation`: a
mapping ``{layer_or_group: sparsity}`` usable as ``prune(scope=...)``/``one_shot(scope=...)``
(weight granularity; head granularity with ``granularity="head"``: the keys are
MultiHeadAttention layer names, the values the fraction of their heads removed) or turned
into a ``structured.Plan`` with :meth:`Allocation.plan` (channel and head granularity),
plus the predicted totals. Costs come from
:class:`tfprune.analysis.costs.Costs` (exact parameters and MACs as functions of the kept
fraction of every unit); the methods live in :mod:`tfprune.analysis.methods`.

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
    ...                       keras.layers.Dense(4, name="out")])
    >>> a = allocate(m, sparsity=0.5, method="uniform")
    >>> dict(a), round(a.predicted["sparsity"], 2)
    ({'h': 0.5, 'out': 0.5}, 0.5)
"""

from __future__ import annotations

import collections.abc
import dataclasses
import math
import numbers

import numpy as np

from tfprune import errors
from tfprune import graph as graph_lib
from tfprune.analysis import methods, owl
from tfprune.analysis.costs import Costs
from tfprune.analysis.heads import check_heads, head_scores
from tfprune.analysis.sensitivity import GRANULARITIES, SensitivityResult, group_scores
from tfprune.compat import keras, keras3_io
from tfprune.core import masks as masks_lib
from tfprune.structured import Plan, rebuild
from tfprune.structured import heads as heads_lib

__all__ = ["allocate", "Allocation", "Costs", "TARGETS", "METHODS"]

TARGETS = ("sparsity", "params", "macs", "bytes", "latency_ms", "flash", "arena")
METHODS = ("sensitivity", "erk", "lamp", "uniform", "owl")
#: the targets a head allocation supports (the others are refused with this list)
HEAD_TARGETS = ("sparsity", "params", "macs")


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


# -- the public function -----------------------------------------------------------------
def _target(kw, granularity):
    given = {k: v for k, v in kw.items() if v is not None}
    if len(given) != 1:
        raise errors.ConfigError(
            f"allocate() needs exactly one target ({', '.join(TARGETS)}); got "
            f"{sorted(given) or 'none'}.")
    (name, value), = given.items()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0 \
            or not math.isfinite(value):
        raise errors.ConfigError(f"{name} must be a positive number, got {name}={value!r}.")
    if name == "sparsity":
        errors.check_sparsity(value)
    if granularity == "head" and name not in HEAD_TARGETS:
        raise errors.ConfigError(
            f"{name}= is not modelled for granularity='head' (heads of MultiHeadAttention): "
            f"a head allocation takes {', '.join(t + '=' for t in HEAD_TARGETS)} (params and "
            "MACs count every query/key/value/output slice of a head). For "
            f"{name}= allocate channels (sensitivity(..., granularity='channel')).")
    if name in ("flash", "arena") and granularity == "weight":
        raise errors.ConfigError(
            f"{name}= is a microcontroller target: TFLM runs dense int8 weights only (it "
            "cannot use sparse weights), so weight sparsity does not change it. Use "
            "granularity='channel' (sensitivity(..., granularity='channel')).")
    if name == "latency_ms" and granularity == "weight":
        raise errors.ConfigError(
            "latency_ms= is modelled for channel granularity only: LiteRT runs weight-sparse "
            "layers with dense kernels, so weight sparsity does not change latency. Use "
            "granularity='channel' (sensitivity(..., granularity='channel')).")
    if name == "bytes" and granularity == "weight":
        raise errors.ConfigError(
            "bytes= is modelled for channel granularity only (dense int8 .tflite); the size "
            "of a sparse-encoded file is not predicted yet. Use params= or sparsity= for "
            "weight granularity.")
    return name, float(value)


def _check_owl(granularity, data, m, lam) -> None:
    if granularity != "weight":
        raise errors.ConfigError(
            f"method='owl' allocates weight sparsity per layer; granularity={granularity!r} "
            "is not supported: use granularity='weight' or another method.")
    if data is None:
        raise errors.ConfigError(
            "method='owl' measures activation outliers: pass data=x_calibration (e.g. 128 "
            "samples), or choose method='erk', 'lamp' or 'uniform'.")
    owl.check_options(m, lam)


@keras3_io()
def allocate(result_or_model, *, sparsity=None, params=None, macs=None, bytes=None,
             latency_ms=None, flash=None, arena=None, method: str = "sensitivity",
             granularity: str | None = None, data=None, owl_m: float = 5.0,
             owl_lambda: float = 0.08) -> Allocation:
    """Per-unit sparsities that meet exactly one target with the least predicted damage.

    ``method="sensitivity"`` (needs a :class:`SensitivityResult`) takes greedy steps
    (knapsack by ratio): each step raises one unit's sparsity to the next grid point
    with the smallest measured degradation per unit of resource saved (curves are
    interpolated linearly between the measured levels and made monotone; no unit goes
    beyond the highest measured level). ``"uniform"`` uses one sparsity everywhere,
    ``"erk"`` densities proportional to ``sum(shape) / prod(shape)`` (RigL), ``"lamp"``
    one global threshold on ``w_i^2 / sum_{j>=i} w_j^2`` (Lee et al. 2021; channel: on
    squared group L2 scores); these three find their one parameter by bisection, with no
    weight tensor past 99.9 % sparsity (no channel group or attention layer past 99 %).

    Args:
        result_or_model: a :class:`~tfprune.analysis.sensitivity.SensitivityResult`
            (granularity from it) or a model (``granularity`` then defaults to weight).
        sparsity: fraction of units removed (weights, channels of prunable groups, or
            heads of the MultiHeadAttention layers).
        params, macs, bytes, flash: upper bounds, absolute, or a fraction of the dense
            figure when in (0, 1). ``bytes``/``flash`` (channel only): dense full-int8
            .tflite size estimate (TFLM flash of the model data).
        latency_ms: (channel only) LiteRT 1-thread latency in ms (always absolute),
            predicted from a LiteRT profile measured once per model: ``a + b * MACs`` from the
            dense model and two uniform shrinks, or, once ``profiles.latency_profile(model,
            per_group=True)`` has run, ``a`` plus ms per MAC of the group owning the MACs
            (:mod:`tfprune.analysis.profiles`).
        arena: (channel only) TFLM int8 tensor arena bytes (absolute, or a fraction of
            the dense arena when in (0, 1)): the peak of live int8 activations plus
            per-channel data, calibrated with one real ``export.micro`` of the dense model.
        method: ``"sensitivity"``, ``"erk"``, ``"lamp"``, ``"uniform"`` or ``"owl"``
            (weight granularity, needs ``data``; :mod:`tfprune.analysis.owl`: layers
            with more activation outliers ``|w| * ||x||`` keep more weights).
        data: ``method="owl"`` only: calibration inputs (``x``, ``(x, y)``, batches).
        owl_m, owl_lambda: ``method="owl"``: a weight is an outlier when its Wanda score
            exceeds ``owl_m`` times its layer's mean; sparsities spread over
            ``+- owl_lambda`` around a common level (Yin et al.: 5 and 0.08).
        granularity: only with a model: ``"weight"``, ``"channel"`` or ``"head"``.
            ``"head"`` (from a model or a ``sensitivity(..., granularity="head")``
            result): the units are MultiHeadAttention layers, the sparsity the fraction
            of their heads removed; the targets are ``sparsity``, ``params`` and ``macs``
            (a head's parameters and MACs: its query/key/value/output slices and its
            attention matmuls); pass the result as ``one_shot(model, scope=allocation,
            granularity="head")`` or ``structured.apply_masks(model,
            allocation.plan(model))``.

    Returns:
        An :class:`Allocation` (a mapping unit -> sparsity with ``.predicted``).

    Raises:
        ConfigError: no or several targets, a unit that makes no sense for the
            granularity, an unknown method, or an unreachable target (the closest
            reachable value is named) — all before the search.

    References:
        Evci et al., Rigging the Lottery, ICML 2020 (ERK). Lee et al., Layer-adaptive
        Sparsity for the Magnitude-based Pruning, ICLR 2021 (LAMP).

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
        ...                       keras.layers.Dense(4, name="out")])
        >>> a = allocate(m, params=0.5, method="erk")
        >>> a.predicted["params"] <= 0.5 * m.count_params()
        True

        Heads of a MultiHeadAttention (a dict for ``one_shot(..., granularity="head")``):

        >>> i = keras.Input((6, 8))
        >>> att = keras.layers.MultiHeadAttention(4, 4, name="att")(i, i)
        >>> t = keras.Model(i, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(att)))
        >>> dict(allocate(t, macs=0.6, method="uniform", granularity="head"))
        {'att': 0.5}
    """

    result = result_or_model if isinstance(result_or_model, SensitivityResult) else None
    model = result.model if result is not None else result_or_model
    if result is not None and granularity not in (None, result.granularity):
        raise errors.ConfigError(
            f"granularity={granularity!r} differs from the sensitivity result's "
            f"{result.granularity!r}; omit granularity.")
    gran = result.granularity if result is not None else (granularity or "weight")
    if gran not in GRANULARITIES:
        raise errors.unknown_name("granularity", gran, GRANULARITIES)
    if method not in METHODS:
        raise errors.unknown_name("method", method, METHODS)
    name, value = _target(dict(sparsity=sparsity, params=params, macs=macs, bytes=bytes,
                               latency_ms=latency_ms, flash=flash, arena=arena), gran)
    if method == "sensitivity" and result is None:
        raise errors.ConfigError(
            "method='sensitivity' needs a sensitivity result: allocate(sensitivity(model, "
            "data), ...), or choose method='erk', 'lamp' or 'uniform'.")
    if not isinstance(model, keras.Model):
        raise errors.ConfigError(
            "allocate() needs a tf_keras model or a SensitivityResult that carries its model "
            "(SensitivityResult.from_dict(d, model=...)).")
    if gran == "head":
        check_heads(model)  # no MultiHeadAttention: say which granularity to use
    if method == "owl":
        _check_owl(gran, data, owl_m, owl_lambda)
    costs = Costs(model, gran)
    if not costs.units:
        raise errors.NothingToPruneError(f"Model {model.name!r} has nothing prunable at "
                                         f"granularity={gran!r}.")
    col = {"params": 0, "macs": 1, "bytes": 2, "flash": 2, "sparsity": 3, "latency_ms": 4,
           "arena": 5}[name]
    fn = lat = None
    if name == "latency_ms":
        from tfprune.analysis.profiles import latency_profile
        from tfprune.analysis.profiles import model_cache as profiles_cache

        cached = profiles_cache(model)
        lat = cached.get("latency_groups") or latency_profile(model)  # per-group if measured
        lat.apply(costs)
    dense = costs.totals(np.ones(len(costs.units)))
    if name == "latency_ms":
        goal = value
    elif name == "arena":
        from tfprune.analysis.profiles import arena_profile

        arena = arena_profile(model, costs.index)
        fn = (arena.predict, arena.surrogate)
        dense = np.append(dense, arena.predict(np.ones(len(costs.units))))
        goal = value * dense[col] if value < 1 else value
    elif name == "sparsity":
        goal = (1.0 - value) * dense[3]
    else:
        goal = value * dense[col] if value < 1 else value
    # the rule-based methods may take a weight tensor to 99.9 % (a 99 % target must leave
    # room above it: LAMP/ERK put the large layers past 99 %); channels and heads stop at
    # 99 % (kept_count keeps at least one anyway)
    cap = max(result.levels) if method == "sensitivity" else (0.999 if gran == "weight" else 0.99)
    curves = methods.curves(result, costs) if result is not None else None
    family = methods.family(method, model, costs, cap) if method not in ("sensitivity",
                                                                         "owl") else None
    if method == "owl":
        ratios = owl.outlier_ratios(model, data, costs.units, m=owl_m)
        family = owl.owl_family([ratios[u] for u in costs.units], owl_lambda, cap)
    k_least = costs.kept(np.full(len(costs.units), cap) if family is None else family(1.0))
    least = fn[0](k_least) if fn else costs.totals(k_least)[col]
    if goal < least - 1e-9:
        closest_txt = (f"{1.0 - least / dense[3]:.4f}" if name == "sparsity"
                       else f"{least:.4g}" if lat is not None
                       else str(int(math.ceil(least))))
        dense_txt = ("" if name == "sparsity" else
                     f" (dense: {dense[4]:.4g})" if lat is not None
                     else f" (dense: {int(round(dense[col])):,})")
        why = (f"beyond the highest measured level ({cap}) of every unit"
               if method == "sensitivity" else f"with {method} up to sparsity {cap}")
        raise errors.ConfigError(
            f"{name}={value} is unreachable {why}: the closest reachable value is "
            f"{name}={closest_txt}{dense_txt}. "
            "Relax the target" + (" or measure higher levels." if family is None else "."))
    if family is None:
        s = methods.greedy(costs, curves, goal, col, cap, np.array(result.levels), fn)
    else:
        s = methods.bisect(family, costs, goal, col, fn[0] if fn else None)
    k = costs.kept(s)
    s = 1.0 - k  # the sparsity actually applied (whole units)
    predicted, dense_rep = costs.report(k), costs.report(np.ones(len(costs.units)))
    if lat is not None:
        predicted["latency_ms"] = float(costs.totals(k)[4])
        dense_rep["latency_ms"] = float(dense[4])
    if fn is not None:
        predicted["arena"] = int(round(fn[0](k)))
        dense_rep["arena"] = int(round(dense[5]))
    if curves is not None:
        predicted["metric_delta"] = float(sum(np.interp(si, *c) for si, c in
                                              zip(s, curves, strict=True)))
    scope = {u: float(round(si, 6)) for u, si in zip(costs.units, s, strict=True)}
    return Allocation(scope, gran, method, (name, value), predicted, dense_rep)
