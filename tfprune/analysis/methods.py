"""How :func:`~tfprune.analysis.allocate.allocate` spreads a target over units.

``sensitivity``: a greedy knapsack over the measured curves (:func:`greedy`); ``uniform``,
``erk`` (RigL's Erdős–Rényi-Kernel) and ``lamp`` (Lee et al. 2021): one-parameter families
(:func:`family`) whose parameter is found by bisection (:func:`bisect`).

Example:
    >>> from tfprune.compat import keras
    >>> from tfprune.analysis.costs import Costs
    >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
    ...                       keras.layers.Dense(4, name="out")])
    >>> c = Costs(m, "weight")
    >>> family("uniform", m, c, 0.99)(0.5).tolist()
    [0.495, 0.495]
"""

from __future__ import annotations

import numpy as np

from tfprune import graph as graph_lib
from tfprune import layers
from tfprune.analysis.heads import head_scores
from tfprune.analysis.sensitivity import group_scores
from tfprune.core import masks
from tfprune.masking import granularity as granularity_lib

__all__ = ["curves", "family", "bisect", "greedy"]


def curves(result, costs):
    """Per unit: (levels with 0, monotone degradation with 0) from a sensitivity result.

    Example:
        >>> from types import SimpleNamespace
        >>> r = SimpleNamespace(levels=(0.5, 0.9), degradation=lambda u: np.array([0.2, 0.1]))
        >>> [c.tolist() for c in curves(r, SimpleNamespace(units=["h"]))[0]]
        [[0.0, 0.5, 0.9], [0.0, 0.2, 0.2]]
    """
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
    elif costs.granularity == "head":  # squared L2 norm of each head's kernel slices

        by_name = {la.name: la for la in layers.leaf_layers(model)}
        sc = head_scores([by_name[u] for u in costs.units], "l2")
        raw = [sc[u] for u in costs.units]
    else:
        g = graph_lib.build(model)
        groups = [g[u] for u in costs.units]
        sc = group_scores(g, groups, "l2")
        raw = [sc.get(grp.index, np.ones(grp.channels)) for grp in groups]  # summed w^2
    out = []
    for r in raw:
        order = np.argsort(r, kind="stable")
        srt = r[order]
        tail = np.cumsum(srt[::-1])[::-1]
        s = np.empty_like(srt)
        s[order] = srt / np.maximum(tail, 1e-30)
        out.append(s)
    return out


def family(method, model, costs, cap):
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


def bisect(family, costs, value, col, fn=None):
    """The least-pruned member of ``family`` whose resource ``col`` of
    :meth:`Costs.totals` (or ``fn(kept)``) is at most ``value`` (40 halvings).

    Example:
        >>> from tfprune.compat import keras
        >>> from tfprune.analysis.costs import Costs
        >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h")])
        >>> c = Costs(m, "weight")
        >>> s = bisect(family("uniform", m, c, 0.99), c, 80, 0)  # params <= 80
        >>> int(c.totals(c.kept(s))[0])  # 16 biases + 64 of the 128 kernel entries
        80
    """
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
    if granularity_lib.get(costs.granularity).grouped:  # whole channels or heads
        lo = int(masks.kept_counts(n, cap))
        return np.array([(n - c) / n for c in range(n, lo - 1, -1)])
    return np.unique(np.concatenate([np.arange(0.0, cap, 0.005), [cap], levels]))


def greedy(costs, curves, value, col, cap, levels, fn=None):
    """Take the cheapest (least degradation per resource saved) step until the target holds.

    ``fn``: ``(total, surrogate)`` functions of the kept fractions for a non-additive
    resource (the arena: a max over ops); every candidate is then re-evaluated each step.

    Example:
        >>> from tfprune.compat import keras
        >>> from tfprune.analysis.costs import Costs
        >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
        ...                       keras.layers.Dense(4, name="out")])
        >>> c = Costs(m, "weight")
        >>> flat = (np.array([0.0, 0.9]), np.array([0.0, 0.0]))  # nothing hurts
        >>> bool(c.totals(c.kept(greedy(c, [flat, flat], 100, 0, 0.9, [0.9])))[0] <= 100)
        True
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


