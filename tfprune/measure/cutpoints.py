"""Where a channel probe may start its evaluation: single-tensor cut points and their choice.

A dependency group that lies wholly after a *cut* (a layer whose output alone carries
everything later layers and the outputs need) can be measured on the model from that cut
on, on activations computed once: the same value, less work. Each cut used costs one
trace and one compilation, so :func:`choose` picks the set of cuts that minimises the
predicted total cost

    sum over chosen cuts of setup(cut) + sum over groups of points(group) * eval(cut of group)

by dynamic programming, where ``eval(cut)`` is the measured whole-model evaluation time
scaled by the share of the model's cost after the cut (per layer: MACs plus 16 x output
elements, a fit to measured MobileNetV2 suffix times) and ``setup(cut)`` the measured
whole-model trace-and-compile time scaled the same way.

Example:
    >>> from tfprune.compat import keras
    >>> i = keras.Input((4,))
    >>> h = keras.layers.Dense(4, name="a")(i)
    >>> m = keras.Model(i, keras.layers.Dense(2, name="b")(h))
    >>> [m.layers[c].name for c in candidates(m)]
    ['a', 'b']
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tfprune import layers as layers_lib
from tfprune.compat import keras

__all__ = ["candidates", "layer_costs", "first_positions", "choose", "Cuts", "MAX_CUT_BYTES"]

#: activations cached for one cut may not exceed this (bytes): larger cuts are skipped
MAX_CUT_BYTES = 256 * 2**20
ELEMENT_WEIGHT = 16  # cost of one output element in MAC units (memory traffic, per-op work)


def candidates(model) -> list:
    """Indexes ``i`` of ``model.layers`` whose output alone carries everything later layers
    and the outputs need (a single-tensor cut), or [] when the model does not allow it
    (nested models, shared layers, several outputs per layer).

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> candidates(m)
        []
    """
    ls = list(model.layers)
    if not getattr(model, "_is_graph_network", False) or any(
            isinstance(la, keras.Model) or len(la._inbound_nodes) != 1 for la in ls):
        return []
    pos = {id(la): i for i, la in enumerate(ls)}
    last = list(range(len(ls)))  # last position that reads layer i's output
    for j, la in enumerate(ls):
        for t in tf.nest.flatten(la.input) if j else []:
            i = pos.get(id(t._keras_history.layer))
            if i is None:
                return []
            last[i] = max(last[i], j)
    for t in model.outputs:
        last[pos[id(t._keras_history.layer)]] = len(ls)
    out, reach = [], 0
    for i, la in enumerate(ls):
        if i and reach <= i and last[i] > i and len(tf.nest.flatten(la.output)) == 1:
            out.append(i)  # nothing before i is read after i: its output is a cut
        reach = max(reach, last[i])
    return out


def layer_costs(model) -> np.ndarray:
    """Predicted evaluation cost of each of ``model.layers`` for one sample: MACs
    (:func:`tfprune.layers.layer_macs`) plus 16 per output element.

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> layer_costs(m).tolist()  # 3*2 MACs + 16 * 2 outputs
        [38.0]
    """

    out = np.zeros(len(model.layers))
    for i, la in enumerate(model.layers):
        if isinstance(la, keras.layers.InputLayer):
            continue
        ins = [t for t in tf.nest.flatten(la.input) if hasattr(t, "shape")]
        outs = [t for t in tf.nest.flatten(la.output) if hasattr(t, "shape")]
        if not ins or not outs:
            continue
        macs = sum(m for m, _ in layers_lib.layer_macs(la, tuple(ins[0].shape),
                                                        tuple(outs[0].shape)))
        elements = sum(int(np.prod([d or 1 for d in t.shape[1:]])) for t in outs)
        out[i] = float(macs) + ELEMENT_WEIGHT * elements
    return out


def first_positions(model, graph, groups) -> dict:
    """group name -> index in ``model.layers`` of the first layer holding the group.

    ``graph=None``: groups that name their layers themselves (``groups[name].layers()``,
    e.g. the attention heads of :class:`tfprune.graph.heads.HeadGroup`); a layer that is
    not a top-level layer of ``model`` (inside a nested model) gives 0, the whole model.

    Example:
        >>> from types import SimpleNamespace
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="a"),
        ...                       keras.layers.Dense(2, name="b")])
        >>> first_positions(m, None, {"b/x": SimpleNamespace(layers=lambda: ["b"])})
        {'b/x': 1}
    """
    pos = {la.name: i for i, la in enumerate(model.layers)}
    if graph is None:
        return {name: min(pos.get(n, 0) for n in grp.layers()) for name, grp in groups.items()}
    index = {grp.index: name for name, grp in groups.items()}
    first = {}
    for u in graph.uses:
        p = pos.get(u.path.split("/")[0], 0)
        for gi in np.unique(graph.atom_group[u.atoms]).tolist():
            name = index.get(gi)
            if name is not None:
                first[name] = min(first.get(name, p), p)
    return first


def _dp(frac, pts, setup, per_eval, cap=None):
    """Positions 0..n (0 = the whole model, always there); ``pts[p]`` evaluations served
    best by position p. Returns the chosen positions minimising setup + evaluations, at
    most ``cap`` besides position 0 (None: no limit)."""
    n = len(pts) - 1
    inf = float("inf")
    rows = 1 if cap is None else cap + 1
    # best[r][i]: least cost of positions >= i given i is chosen and r more may be
    best = [[inf] * (n + 2) for _ in range(rows)]
    nxt = [[None] * (n + 2) for _ in range(rows)]
    for r in range(rows):
        prev = best[r] if cap is None else (best[r - 1] if r else None)
        best[r][n + 1] = 0.0
        for i in range(n, -1, -1):
            served = 0.0
            for j in range(i + 1, n + 2):
                served += pts[j - 1]
                tail = 0.0 if j == n + 1 else (setup[j] + prev[j] if prev else inf)
                c = per_eval * frac[i] * served + tail
                if c < best[r][i]:
                    best[r][i], nxt[r][i] = c, j
    chosen, i, r = [0], 0, rows - 1
    while nxt[r][i] is not None and nxt[r][i] <= n:
        i, r = nxt[r][i], (r if cap is None else r - 1)
        chosen.append(i)
    return chosen


@dataclasses.dataclass(frozen=True)
class Cuts:
    """Which cuts :func:`choose` may pick: how many, and the evaluations they serve.

    Attributes:
        count: ``"auto"`` (the cost model decides how many), an int ``n`` (at most ``n``
            cuts, chosen to minimise evaluation time alone: trace cost ignored) or 0 (none).
        points: evaluations expected per group (an int, or a dict group -> int;
            :class:`tfprune.measure.probe.ChannelProbe` also takes ``"channels"``).
        max_bytes: largest activation a cut may cache (all samples), in bytes.

    Example:
        >>> Cuts(2).points, Cuts().count
        (4, 'auto')
    """

    count: object = "auto"
    points: object = 4
    max_bytes: int = MAX_CUT_BYTES


def choose(model, graph, groups, samples: int, *, cuts: Cuts | None = None,
           setup: float = 1.0, per_eval: float = 1.0) -> dict:
    """group name -> index of the cut its evaluations start from (groups measured on the
    whole model are left out).

    Args:
        cuts: how many cuts and the evaluations per group (:class:`Cuts`; default
            ``Cuts()``: ``"auto"``, 4 per group).
        setup, per_eval: measured trace-and-first-call and evaluation time of the whole
            model (any unit; only their ratio matters).

    Example:
        >>> from tfprune import graph as graph_lib
        >>> i = keras.Input((4,))
        >>> x = keras.layers.Dense(4, name="a")(i)
        >>> x = keras.layers.Dense(4, name="b")(x)
        >>> m = keras.Model(i, keras.layers.Dense(2, name="c")(x))
        >>> g = graph_lib.build(m)
        >>> groups = {grp.name: grp for grp in g.prunable()}
        >>> choose(m, g, groups, 64, cuts=Cuts(1))
        {'b': 1}

    ``graph`` may be ``None`` when every group names its layers (:func:`first_positions`).
    """
    cuts = cuts or Cuts()
    count, points, max_bytes = cuts.count, cuts.points, cuts.max_bytes
    if count == 0 or count is None:
        return {}
    if count != "auto" and not (isinstance(count, int) and count > 0):
        raise ValueError(f"cuts must be 'auto' or an int >= 0, got {count!r}.")
    ls = list(model.layers)
    ok = []
    for c in candidates(model):
        t = ls[c].output
        size = samples * int(np.prod([d or 1 for d in t.shape[1:]])) * t.dtype.size
        if size <= max_bytes:
            ok.append(c)
    if not ok:
        return {}
    cost = layer_costs(model)
    after = np.cumsum(cost[::-1])[::-1]  # after[i] = cost of layers i..end
    total = max(float(after[0]), 1e-12)
    first = first_positions(model, graph, groups)
    latest = {}
    for name in groups:
        before = [c for c in ok if c < first.get(name, 0)]
        if before:
            latest[name] = before[-1]
    if not latest:
        return {}
    pos = sorted(set(latest.values()))
    index = {c: k + 1 for k, c in enumerate(pos)}
    pts = [0.0] * (len(pos) + 1)
    for name in groups:
        n = points.get(name, 4) if isinstance(points, dict) else points
        pts[index.get(latest.get(name), 0)] += float(n)
    frac = [1.0] + [float(after[c + 1]) / total if c + 1 < len(ls) else 0.0 for c in pos]
    if count == "auto":
        setup_of = [0.0] + [setup * (0.25 + 0.75 * f) for f in frac[1:]]
        cap = None
    else:
        setup_of, cap = [0.0] * len(frac), min(int(count), len(pos))
    chosen = _dp(frac, pts, setup_of, per_eval, cap)
    out = {}
    for name, c in latest.items():
        served = max(k for k in chosen if k <= index[c])
        if served:
            out[name] = pos[served - 1]
    return out
