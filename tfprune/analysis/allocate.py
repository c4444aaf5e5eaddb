"""Allocate per-layer (weight) or per-group (channel) sparsities that meet one target.

``allocate(result_or_model, <one target>, method=...)`` returns an :class:`Allocation`: a
mapping ``{layer_or_group: sparsity}`` usable as ``prune(scope=...)``/``one_shot(scope=...)``
(weight granularity) or turned into a ``structured.Plan`` with :meth:`Allocation.plan`
(channel granularity), plus the predicted totals. Costs come from :class:`Costs`, an exact
model of parameters and MACs as a function of the kept fraction of every unit (channel
costs are multilinear: a conv between two pruned groups keeps ``k_in * k_out`` of itself).

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

from tfprune import errors, layers
from tfprune.compat import keras, keras3_io

__all__ = ["allocate", "Allocation", "Costs", "TARGETS", "METHODS"]

TARGETS = ("sparsity", "params", "macs", "bytes", "latency_ms", "flash", "arena")
METHODS = ("sensitivity", "erk", "lamp", "uniform")
RESOURCES = ("params", "macs", "bytes", "density")
_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")
_BYTES_FIXED, _BYTES_PER_LAYER = 2000, 250  # flatbuffer overhead estimate (int8, dense)


@dataclasses.dataclass
class Allocation(collections.abc.Mapping):
    """``{unit: sparsity}`` plus what it is predicted to cost.

    Attributes:
        scope: unit (layer or group name) -> sparsity in [0, 1).
        granularity: ``"weight"`` or ``"channel"``.
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
        """A ``structured.Plan`` keeping each group's best channels (channel granularity).

        Channels are ranked as in :func:`tfprune.analysis.sensitivity` (summed filter
        norms of the group's members, ``criterion`` ``"magnitude"``/``"l1"``/``"l2"``), so
        the plan removes what was measured — or by ``scores`` (group name -> per-channel
        score, larger = keep), e.g. from
        :func:`~tfprune.analysis.sensitivity.channel_loss_delta` (the measured
        ``"sensitivity"`` criterion).
        """
        if self.granularity != "channel":
            raise errors.ConfigError(
                "Allocation.plan() needs a channel allocation; for weight granularity pass "
                "the allocation as prune(scope=allocation.scope) or one_shot(scope=...).")
        from tfprune import graph as graph_lib
        from tfprune.analysis.sensitivity import group_scores
        from tfprune.core import masks as masks_lib
        from tfprune.structured import Plan

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

    def __str__(self) -> str:
        name, value = self.target
        p, d = self.predicted, self.dense
        head = (f"Allocation ({self.granularity}, {self.method}) for {name}={value}: "
                f"params {d['params']:,} -> {p['params']:,}, MACs {d['macs']:,} -> "
                f"{p['macs']:,}, sparsity {p['sparsity']:.1%}")
        rows = [f"  {u}: {s:.3f}" for u, s in self.scope.items() if s > 0]
        return "\n".join([head] + rows)


# -- the cost model ----------------------------------------------------------------------
def _macs_by_var(model) -> dict:
    """id(variable) -> MACs of one sample attributed to it (summed over calls)."""
    out = collections.Counter()
    for depth in model._nodes_by_depth:
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            if isinstance(layer, keras.Model):
                out.update(_macs_by_var(layer))
                continue
            ins, outs = node.keras_inputs, node.outputs
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            if not ins or not outs:
                continue
            for macs, attr in layers.layer_macs(layer, tuple(ins[0].shape),
                                                tuple(outs[0].shape)):
                var = getattr(layer, attr, None) if attr else None
                if var is not None:
                    out[id(var)] += int(macs)
    return out


class Costs:
    """Parameters, MACs, int8 bytes and density as functions of per-unit kept fractions.

    ``total(k)`` with ``k`` an array of kept fractions (one per unit, 1 = dense) returns
    ``{"params", "macs", "bytes", "density"}``. Each weight contributes
    ``base * prod_axes(sum_p w_p * k[unit_p])``: exact for parameters and MACs (bytes
    are an estimate of a dense full-int8 .tflite: 1 byte per kernel entry, 4 per bias,
    plus a fixed overhead).
    """

    def __init__(self, model, granularity: str):
        self.granularity = granularity
        self.terms, self.units, self.size = [], [], []
        self.fixed = np.zeros(len(RESOURCES))
        self.groups = {}
        self._consts = {}  # term index -> constant part of each factor (pinned positions)
        macs = _macs_by_var(model)
        nlayers = sum(1 for la in layers.leaf_layers(model) if la.weights)
        self.fixed[2] = _BYTES_FIXED + _BYTES_PER_LAYER * nlayers
        if granularity == "weight":
            self._weight(model, macs)
        else:
            self._channel(model, macs)
        self.of_unit = [[] for _ in self.units]
        for t, (_, factors) in enumerate(self.terms):
            for idx, _w in factors:
                for u in set(idx.tolist()):
                    self.of_unit[u].append(t)
        self.index = {u: i for i, u in enumerate(self.units)}

    @staticmethod
    def _bytes(attr, size):
        if attr.split("/")[-1] in _KERNELS:
            return size
        return 4 * size if attr.split("/")[-1] == "bias" else 0

    def _weight(self, model, macs):
        seen = set()
        for layer in layers.leaf_layers(model):
            names = layers.prunable_weight_names(layer)
            ws = layers.prunable_weights(layer, names) if names is not None and layer.weights \
                else []
            if ws:
                u = len(self.units)
                self.units.append(layer.name)
                n = sum(int(np.prod(w.shape)) for w in ws)
                self.size.append(n)
                m = sum(macs.get(id(w), 0) for w in ws)
                self.terms.append((np.array([n, m, 0, n], float),
                                   [(np.array([u]), np.array([1.0]))]))
                seen.update(id(w) for w in ws)
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    self.fixed[0] += int(np.prod(w.shape))
                    self.fixed[1] += macs.get(id(w), 0)
        self.fixed[2] = np.nan  # sparse .tflite size is not modelled

    def _channel(self, model, macs):
        from tfprune import graph as graph_lib

        g = graph_lib.build(model)
        unit_of = {}
        for grp in g.prunable():
            unit_of[grp.index] = len(self.units)
            self.units.append(grp.name)
            self.size.append(grp.channels)
            self.groups[grp.name] = grp
            self.terms.append((np.array([0, 0, 0, grp.channels], float),
                               [(np.array([unit_of[grp.index]]), np.array([1.0]))]))
        axes = {}
        for u in g.uses:
            axes.setdefault(id(getattr(u.layer, u.attr)), {}).setdefault(u.axis, u)
        seen = set()
        for layer in layers.leaf_layers(model):
            for w in layer.weights:
                if id(w) in seen:
                    continue
                seen.add(id(w))
                size = int(np.prod(w.shape))
                base = np.array([size, macs.get(id(w), 0), self._bytes(w.name.split(":")[0],
                                                                      size), 0], float)
                factors = []
                for use in axes.get(id(w), {}).values():
                    grp_idx = g.atom_group[use.atoms]
                    gids, counts = np.unique(grp_idx, return_counts=True)
                    frac = counts / len(grp_idx)
                    in_unit = np.array([gi in unit_of for gi in gids.tolist()])
                    if not in_unit.any():
                        continue
                    # positions of unprunable groups keep 1: fold them into a constant
                    const = float(frac[~in_unit].sum())
                    idx = np.array([unit_of[gi] for gi in gids[in_unit].tolist()])
                    factors.append((idx, frac[in_unit], const))
                if factors:
                    self.terms.append((base, [(i, f) for i, f, _ in factors]))
                    self._consts[len(self.terms) - 1] = [c for _, _, c in factors]
                else:
                    self.fixed += base
        self.dense_units = float(sum(self.size))

    def _term(self, t, k):
        base, factors = self.terms[t]
        consts = self._consts.get(t)
        val = 1.0
        for j, (idx, w) in enumerate(factors):
            val *= float(w @ k[idx]) + (consts[j] if consts else 0.0)
        return base * val

    def totals(self, k) -> np.ndarray:
        """Resource vector (params, macs, bytes, kept units) for kept fractions ``k``."""
        out = self.fixed.copy()
        for t in range(len(self.terms)):
            out += self._term(t, k)
        return out

    def delta(self, k, u, new) -> np.ndarray:
        """Change of :meth:`totals` when unit ``u`` goes to kept fraction ``new``."""
        old = k[u]
        before = sum((self._term(t, k) for t in self.of_unit[u]), np.zeros(len(RESOURCES)))
        k[u] = new
        after = sum((self._term(t, k) for t in self.of_unit[u]), np.zeros(len(RESOURCES)))
        k[u] = old
        return after - before

    def kept(self, sparsities) -> np.ndarray:
        """Kept fractions after rounding to whole units (``kept_count``)."""
        n = np.asarray(self.size, float)
        s = np.asarray(sparsities, float)
        return np.minimum(np.maximum(np.round(n * (1.0 - s)), 1.0), n) / n

    def kept_one(self, u, sparsity) -> float:
        """Kept fraction of unit ``u`` at ``sparsity`` (whole units)."""
        n = self.size[u]
        return min(max(round(n * (1.0 - sparsity)), 1), n) / n

    def report(self, k) -> dict:
        """Totals as a dict in the user's units."""
        t = self.totals(k)
        units = float(sum(self.size))
        out = {"params": int(round(t[0])), "macs": int(round(t[1])),
               "sparsity": float(1.0 - t[3] / units)}
        if self.granularity == "channel":
            out["bytes"] = int(round(t[2]))
        return out


# -- methods -----------------------------------------------------------------------------
def _curves(result, costs):
    """Per unit: (levels with 0, monotone degradation with 0) from a sensitivity result."""
    xs = np.array([0.0] + list(result.levels))
    out = []
    for u in costs.units:
        d = np.maximum.accumulate(np.concatenate([[0.0], result.degradation(u)]))
        out.append((xs, np.maximum(d, 0.0)))
    return out


def _erk_ratio(model, costs):
    """RigL's Erdős–Rényi-Kernel ratio ``sum(shape) / prod(shape)`` per unit."""
    by_name = {la.name: la for la in layers.leaf_layers(model)}
    out = []
    for u in costs.units:
        layer = by_name.get(u)
        if costs.granularity == "channel":
            layer = by_name.get(costs.groups[u].layers()[0], layer)
        names = layers.prunable_weight_names(layer) if layer is not None else None
        ws = layers.prunable_weights(layer, names) if names is not None else []
        shape = max((tuple(w.shape) for w in ws), key=lambda s: int(np.prod(s)), default=(1,))
        out.append(float(sum(shape)) / float(np.prod(shape)))
    return np.array(out)


def _lamp_scores(model, costs):
    """LAMP scores per unit: ``w_i^2 / sum_{j >= i} w_j^2`` within the unit (sorted)."""
    if costs.granularity == "weight":
        by_name = {la.name: la for la in layers.leaf_layers(model)}
        raw = []
        for u in costs.units:
            la = by_name[u]
            ws = layers.prunable_weights(la, layers.prunable_weight_names(la))
            raw.append(np.concatenate([np.square(w.numpy()).ravel() for w in ws]))
    else:
        from tfprune import graph as graph_lib
        from tfprune.analysis.sensitivity import group_scores

        g = graph_lib.build(model)
        groups = [g[u] for u in costs.units]
        sc = group_scores(g, groups, "l2")
        raw = [np.square(sc.get(grp.index, np.ones(grp.channels))) for grp in groups]
    out = []
    for r in raw:
        order = np.argsort(r, kind="stable")
        srt = r[order]
        tail = np.cumsum(srt[::-1])[::-1]
        s = np.empty_like(srt)
        s[order] = srt / np.maximum(tail, 1e-30)
        out.append(s)
    return out


def _family(method, model, costs, cap):
    """``t in [0, 1] -> per-unit sparsities`` (0 dense, 1 most pruned; monotone)."""
    n = len(costs.units)
    if method == "uniform":
        return lambda t: np.full(n, t * cap)
    if method == "erk":
        r = _erk_ratio(model, costs)
        eps_max = 1.0 / r.min()
        return lambda t: np.clip(1.0 - (1.0 - t) * eps_max * r, 0.0, cap)
    scores = _lamp_scores(model, costs)
    flat = np.sort(np.concatenate(scores))

    def lamp(t):
        k = int(round(t * len(flat)))
        if k <= 0:
            return np.zeros(n)
        thr = flat[min(k, len(flat)) - 1]
        return np.array([min(float((s <= thr).mean()), cap) for s in scores])

    return lamp


def _bisect(family, costs, value, col, fn=None):
    lo, hi = 0.0, 1.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        k = costs.kept(family(mid))
        if (fn(k) if fn is not None else costs.totals(k)[col]) <= value:
            hi = mid
        else:
            lo = mid
    return family(hi)


def _grid(costs, u, cap, levels):
    n = costs.size[u]
    if costs.granularity == "channel":
        lo = max(1, int(round(n * (1.0 - cap))))
        return np.array([(n - c) / n for c in range(n, lo - 1, -1)])
    return np.unique(np.concatenate([np.arange(0.0, cap, 0.005), [cap], levels]))


def _greedy(costs, curves, value, col, cap, levels, fn=None):
    """Take the cheapest (least degradation per resource saved) step until the target holds.

    ``fn``: ``(total, surrogate)`` functions of the kept fractions for a non-additive
    resource (the arena: a max over ops); every candidate is then re-evaluated each step.
    """
    k = np.ones(len(costs.units))
    grids = [_grid(costs, u, cap, levels) for u in range(len(costs.units))]
    pos = [0] * len(grids)
    total = fn[0](k) if fn else costs.totals(k)[col]

    def saved(u, new):
        if not fn:
            return -costs.delta(k, u, new)[col]
        before = fn[1](k)
        old, k[u] = k[u], new
        after = fn[1](k)
        k[u] = old
        return before - after

    def candidate(u):
        g = grids[u]
        for j in range(pos[u] + 1, len(g)):
            new = costs.kept_one(u, g[j])
            dr = saved(u, new)
            if dr > 0:
                dc = np.interp(g[j], *curves[u]) - np.interp(g[pos[u]], *curves[u])
                return (max(dc, 0.0) / dr, -dr, j)
        return None

    cand = {u: candidate(u) for u in range(len(grids))}
    neighbours = [set(v for t in costs.of_unit[u] for idx, _ in costs.terms[t][1]
                      for v in idx.tolist()) for u in range(len(grids))]
    while total > value:
        live = [(c, u) for u, c in cand.items() if c is not None]
        if not live:
            break
        (_, _, j), u = min(live)
        pos[u] = j
        k[u] = costs.kept_one(u, grids[u][j])
        total = fn[0](k) if fn else costs.totals(k)[col]
        for v in (range(len(grids)) if fn else neighbours[u] | {u}):
            cand[v] = candidate(v)
    return np.array([grids[u][pos[u]] for u in range(len(grids))])


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


@keras3_io()
def allocate(result_or_model, *, sparsity=None, params=None, macs=None, bytes=None,
             latency_ms=None, flash=None, arena=None, method: str = "sensitivity",
             granularity: str | None = None) -> Allocation:
    """Per-unit sparsities that meet exactly one target with the least predicted damage.

    ``method="sensitivity"`` (needs a :class:`SensitivityResult`) takes greedy steps
    (knapsack by ratio): each step raises one unit's sparsity to the next grid point
    with the smallest measured degradation per unit of resource saved (curves are
    interpolated linearly between the measured levels and made monotone; no unit goes
    beyond the highest measured level). ``"uniform"`` uses one sparsity everywhere,
    ``"erk"`` densities proportional to ``sum(shape) / prod(shape)`` (RigL), ``"lamp"``
    one global threshold on ``w_i^2 / sum_{j>=i} w_j^2`` (Lee et al. 2021; channel: on
    squared group L2 scores); these three find their one parameter by bisection.

    Args:
        result_or_model: a :class:`~tfprune.analysis.sensitivity.SensitivityResult`
            (granularity from it) or a model (``granularity`` then defaults to weight).
        sparsity: fraction of units removed (weights, or channels of prunable groups).
        params, macs, bytes, flash: upper bounds, absolute, or a fraction of the dense
            figure when in (0, 1). ``bytes``/``flash`` (channel only): dense full-int8
            .tflite size estimate (TFLM flash of the model data).
        latency_ms: (channel only) LiteRT 1-thread latency in ms (always absolute),
            predicted as ``a + b * MACs`` from the dense model and two uniformly shrunk
            copies, measured once per model (:mod:`tfprune.analysis.profiles`).
        arena: (channel only) TFLM int8 tensor arena bytes (absolute, or a fraction of
            the dense arena when in (0, 1)): the peak of live int8 activations plus
            per-channel data, calibrated with one real ``export.micro`` of the dense model.
        method: ``"sensitivity"``, ``"erk"``, ``"lamp"`` or ``"uniform"``.
        granularity: only with a model: ``"weight"`` or ``"channel"``.

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
    """
    from tfprune.analysis.sensitivity import GRANULARITIES, SensitivityResult

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
    costs = Costs(model, gran)
    if not costs.units:
        raise errors.NothingToPruneError(f"Model {model.name!r} has nothing prunable at "
                                         f"granularity={gran!r}.")
    col = {"params": 0, "macs": 1, "bytes": 2, "flash": 2, "sparsity": 3, "latency_ms": 1,
           "arena": 4}[name]
    dense = costs.totals(np.ones(len(costs.units)))
    fn = lat = None
    if name == "latency_ms":
        from tfprune.analysis.profiles import latency_profile

        lat = latency_profile(model)
        goal = lat.macs_for(value)
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
    cap = max(result.levels) if method == "sensitivity" else 0.99
    curves = _curves(result, costs) if result is not None else None
    family = _family(method, model, costs, cap) if method != "sensitivity" else None
    k_least = costs.kept(np.full(len(costs.units), cap) if family is None else family(1.0))
    least = fn[0](k_least) if fn else costs.totals(k_least)[col]
    if goal < least - 1e-9:
        closest_txt = (f"{1.0 - least / dense[3]:.4f}" if name == "sparsity"
                       else f"{lat.predict(least):.4g}" if lat is not None
                       else str(int(math.ceil(least))))
        dense_txt = ("" if name == "sparsity" else
                     f" (dense: {lat.predict(dense[1]):.4g})" if lat is not None
                     else f" (dense: {int(round(dense[col])):,})")
        why = (f"beyond the highest measured level ({cap}) of every unit"
               if method == "sensitivity" else f"with {method} up to sparsity {cap}")
        raise errors.ConfigError(
            f"{name}={value} is unreachable {why}: the closest reachable value is "
            f"{name}={closest_txt}{dense_txt}. "
            "Relax the target" + (" or measure higher levels." if family is None else "."))
    if family is None:
        s = _greedy(costs, curves, goal, col, cap, np.array(result.levels), fn)
    else:
        s = _bisect(family, costs, goal, col, fn[0] if fn else None)
    k = costs.kept(s)
    s = 1.0 - k  # the sparsity actually applied (whole units)
    predicted, dense_rep = costs.report(k), costs.report(np.ones(len(costs.units)))
    if lat is not None:
        predicted["latency_ms"] = lat.predict(predicted["macs"])
        dense_rep["latency_ms"] = lat.predict(dense_rep["macs"])
    if fn is not None:
        predicted["arena"] = int(round(fn[0](k)))
        dense_rep["arena"] = int(round(dense[4]))
    if curves is not None:
        predicted["metric_delta"] = float(sum(np.interp(si, *c) for si, c in
                                              zip(s, curves, strict=True)))
    scope = {u: float(round(si, 6)) for u, si in zip(costs.units, s, strict=True)}
    return Allocation(scope, gran, method, (name, value), predicted, dense_rep)
