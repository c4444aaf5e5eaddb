"""Measured device profiles for :func:`~tfprune.analysis.allocate.allocate` targets.

Two models, each measured once per model object (cached weakly by model):

* :class:`LatencyProfile` (``latency_ms=``): by default ``a + b * MACs`` fitted on the dense
  model and two uniform shrinks (keep 0.75 and 0.5). With ``latency_profile(model,
  per_group=True)`` (cached; ``allocate`` then uses it), a per-group LiteRT 1-thread latency
  profile, measured once: the median latency of the float .tflite of the dense model, of one copy
  per group (or per bucket of consecutive groups when there are more than 24) with only
  that group at half its channels, and of two uniform shrinks (keep 0.75 and 0.5). The
  latency is modelled as ``a + sum over MACs of the ms per MAC of the group that owns
  them`` (a convolution's MACs belong to the group of its output channels; MACs of
  layers whose outputs are never pruned share one more slope), fitted by non-negative
  least squares with a weak pull of every slope towards the one ``a + b * MACs`` slope of
  all the points (single-group points move little and are noisy). ``a`` is the
  per-invoke and per-op overhead, which removing channels does not change. (LiteRT's
  Python interpreter exposes no per-op profiler, hence the per-group shrinks.)
* :class:`ArenaProfile` (``arena=``): TFLM int8 tensor arena predicted as
  ``max(peak + chan + c, floor)``: ``peak`` = max over ops of the int8 bytes of the
  tensors live at that op (TFLM's "head"; a tensor lives from its producer to its last
  consumer in Keras execution order; activation, batch-norm and dropout layers fuse
  away; channel dimensions scale with the kept fraction of their group), ``chan`` = 8
  bytes per output channel of each Conv/Depthwise/Dense (the per-channel multiplier and
  shift TFLM keeps), ``c`` (tensor structs, node structs, op data) calibrated with one
  real :func:`tfprune.export.micro` export of the dense model (its ``arena_bytes``), and
  ``floor`` the arena of one real export of a uniform shrink keeping 10 % of every
  group (the smallest useful model; TFLM aborts on some single-channel ones): TFLM needs a fixed amount at initialisation that a tiny model cannot go below.

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(8, 3, name="c"),
    ...                       keras.layers.Flatten(), keras.layers.Dense(2, name="d")])
    >>> p = ArenaProfile.build(m, {"c": 0}, const=0.0)
    >>> p.predict([1.0]), p.predict([0.5])  # conv out 32 + flatten 32, 8 per channel (conv, dense)
    (144.0, 80.0)
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import weakref

import numpy as np

from tfprune import errors, export, structured
from tfprune import graph as graph_lib
from tfprune.analysis.allocation import Allocation
from tfprune.analysis.costs import Costs
from tfprune.compat import keras

__all__ = ["LatencyProfile", "ArenaProfile", "latency_profile", "arena_profile"]

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_ALIAS = (keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D,
          keras.layers.BatchNormalization, keras.layers.Activation, keras.layers.ReLU,
          keras.layers.GaussianNoise)
_CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
         keras.layers.Dense)  # int8 per-channel (output multiplier + shift)


@dataclasses.dataclass
class LatencyProfile:
    """LiteRT 1-thread latency as ``a_ms`` plus ms per MAC of each owning group.

    Attributes:
        a_ms, b_ms_per_mac: the one-slope fit ``a + b * MACs`` of all the points.
        points: ``(MACs, ms)`` per measured model (dense first).
        slopes: group name -> ms per MAC of the MACs it owns (None: ``b_ms_per_mac``).
        other: ms per MAC of the MACs no group owns (None: ``b_ms_per_mac``).
        a_groups_ms: the constant of the per-group fit (None: ``a_ms``).
    """

    a_ms: float
    b_ms_per_mac: float
    points: list
    slopes: dict | None = None
    other: float | None = None
    a_groups_ms: float | None = None

    def predict(self, macs) -> float:
        """Predicted latency (ms) at ``macs`` with the one-slope fit."""
        return float(self.a_ms + self.b_ms_per_mac * float(macs))

    def macs_for(self, ms) -> float:
        """The MACs at which the one-slope prediction equals ``ms`` (inf with a zero slope)."""
        if self.b_ms_per_mac <= 0:
            return float("inf") if ms >= self.a_ms else -1.0
        return (float(ms) - self.a_ms) / self.b_ms_per_mac

    def apply(self, costs) -> None:
        """Fill ``costs``' ``latency_ms`` resource from the per-group fit
        (:meth:`tfprune.analysis.costs.Costs.set_latency`).

        Example:
            >>> from tfprune.analysis.costs import Costs
            >>> from tfprune.compat import keras
            >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
            ...                       keras.layers.Dense(4, name="out")])
            >>> c = Costs(m, "channel")
            >>> LatencyProfile(0.1, 0.001, [], {"h": 0.002}, 0.0).apply(c)
            >>> round(float(c.totals(np.ones(1))[4]), 3)  # 0.1 + 128 MACs * 0.002
            0.356
        """
        b = self.b_ms_per_mac
        slopes = [b if self.slopes is None else self.slopes.get(u, b) for u in costs.units]
        costs.set_latency(self.a_ms if self.a_groups_ms is None else self.a_groups_ms, slopes,
                          b if self.other is None else self.other)


def _fit(points):
    from scipy.optimize import nnls

    m = np.array([p[0] for p in points], float)
    y = np.array([p[1] for p in points], float)
    scale = max(m.max(), 1.0)
    (a, b), _ = nnls(np.stack([np.ones_like(m), m / scale], 1), y)
    return LatencyProfile(float(a), float(b / scale), [list(map(float, p)) for p in points])


def fit_groups(features, ms, prior_ms_per_mac: float, ridge: float = 1e-3):
    """``(a, slopes)``: non-negative least squares of ``ms ≈ a + features @ slopes``
    (``features``: MACs per bucket, one row per measured model), every slope pulled towards
    ``prior_ms_per_mac`` with weight ``ridge`` (in units of the dense model's total MACs).

    Example:
        >>> f = np.array([[100.0, 50], [50, 50], [100, 25], [50, 25]])
        >>> a, s = fit_groups(f, 1.0 + f @ [0.01, 0.02], 0.015, ridge=0.0)
        >>> round(a, 3), np.round(s, 4).tolist()
        (1.0, [0.01, 0.02])
    """
    from scipy.optimize import nnls

    f = np.asarray(features, float)
    y = np.asarray(ms, float)
    scale = max(float(f[0].sum()), 1.0)
    x = np.hstack([np.ones((len(f), 1)), f / scale])
    nb = f.shape[1]
    reg = np.hstack([np.zeros((nb, 1)), np.sqrt(ridge) * np.eye(nb)])
    target = np.full(nb, np.sqrt(ridge) * prior_ms_per_mac * scale)
    theta, _ = nnls(np.vstack([x, reg]), np.concatenate([y, target]))
    return float(theta[0]), theta[1:] / scale


def float_latency_ms(model, runs: int = 100) -> float:
    """Median LiteRT 1-thread invoke time of ``model``'s float .tflite (ms)."""

    return export.latency(export.tflite_bytes(model), threads=1, runs=runs,
                          warmup=10).median_ms


MAX_BUCKETS = 24


def model_cache(model) -> dict:
    """The profiles measured for ``model`` so far (``"latency"``, ``"latency_groups"``,
    ``"arena"``), never measuring anything.

    Example:
        >>> from tfprune.compat import keras
        >>> model_cache(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
        {}
    """
    return dict(_CACHE.get(model, {}))


def latency_profile(model, *, runs: int = 100, per_group: bool = False) -> LatencyProfile:
    """Measure (once per model) and fit the latency model (module docstring).

    Default: the one-slope ``a + b * MACs`` fit on 3 LiteRT measurements (dense, uniform keep
    0.75 and 0.5). ``per_group=True``: also one copy per group (bucket) with that group
    halved, ``len(units) + 3`` measurements (at most ``MAX_BUCKETS + 3``), and the per-group
    slopes. Measured on MobileNetV2(alpha=0.35, 96x96) on a shared 2-core machine
    (bench/allocation.py --only latency) the per-group fit predicted unseen shrunk copies
    worse (mean error 25 % vs 13 %) and its 27 measurements took 14 min, so it is opt-in.
    """
    key = "latency_groups" if per_group else "latency"
    hit = _CACHE.get(model, {}).get(key)
    if hit is not None:
        return hit
    costs = Costs(model, "channel")
    units = list(costs.units)
    nb = min(len(units), MAX_BUCKETS)
    buckets = [list(b) for b in np.array_split(np.arange(len(units)), nb)] if units else []
    owners = np.full(len(units) + 1, nb)  # unit -> bucket; the last entry: "other"
    for j, b in enumerate(buckets):
        owners[b] = j
    designs = [np.zeros(len(units))]  # sparsity per unit; the dense model first
    for b in buckets if per_group else []:
        s = np.zeros(len(units))
        s[b] = 0.5
        designs.append(s)
    designs += [np.full(len(units), 0.25), np.full(len(units), 0.5)]
    feats, ms, points = [], [], []
    for s in designs:
        k = costs.kept(s)
        by_owner = costs.macs_by_owner(k)
        f = np.zeros(nb + 1)
        np.add.at(f, owners, by_owner)
        if s.any():
            a = Allocation({u: float(v) for u, v in zip(units, s, strict=True)}, "channel",
                           "uniform", ("sparsity", 0.0), {}, {})
            small = structured.shrink(model, a.plan(model))
        else:
            small = model
        t = float_latency_ms(small, runs=runs)
        feats.append(f)
        ms.append(t)
        points.append((float(by_owner.sum()), t))
    prof = _fit(points)
    if per_group:
        a, slopes = fit_groups(feats, ms, prof.b_ms_per_mac)
        prof.slopes = {u: float(slopes[owners[i]]) for i, u in enumerate(units)}
        prof.other, prof.a_groups_ms = float(slopes[nb]), a
    _CACHE.setdefault(model, {})[key] = prof
    return prof


def _live_steps(ops, n_tensors, last):
    """Tensor indices live at each op: from the op that makes a tensor (inputs: from the
    start) to its last reader (``last``: tensor -> op index)."""
    first = {}
    for step, (_, made) in enumerate(ops):
        for t in made:
            first[t] = step
    return [np.array([t for t in range(n_tensors)
                      if first.get(t, -1) <= step <= last.get(t, first.get(t, -1))], int)
            for step in range(len(ops))]


@dataclasses.dataclass
class ArenaProfile:
    """Live int8 tensors per op and per-channel persistent bytes, plus a constant.

    ``sizes[t]``/``unit[t]``: dense bytes of tensor ``t`` and the index of the unit whose
    kept fraction scales it (-1: never pruned); ``steps``: tensor indices live at each op;
    ``chan``: ``(bytes, unit)`` per convolution's per-channel data; ``const``: calibrated.
    """

    sizes: np.ndarray
    unit: np.ndarray
    steps: list
    chan: list
    const: float
    dense_measured: float | None = None
    floor: float = 0.0

    @classmethod
    def build(cls, model, unit_index: dict, const: float = 0.0) -> ArenaProfile:
        """Read the tensors of ``model``; ``unit_index``: group name -> unit index."""

        g = graph_lib.build(model)

        def unit_of(name):
            try:
                grp = g.group_of(name)
            except Exception:  # noqa: BLE001 - a layer outside every group keeps its size
                return -1
            return unit_index.get(grp.name, -1) if grp.prunable else -1

        tid, sizes, unit, producers, last = {}, [], [], [], {}

        def new(t, u):
            tid[id(t)] = len(sizes)
            sizes.append(float(np.prod([d or 1 for d in t.shape[1:]])))
            unit.append(u)

        for t in model.inputs:
            new(t, -1)
        ops, chan = [], []
        for node in graph_lib.nodes(model):
            layer = node.layer
            if isinstance(layer, keras.layers.InputLayer):
                continue
            ins = [tid[id(t)] for t in node.keras_inputs if id(t) in tid]
            outs = node.outputs if isinstance(node.outputs, (list, tuple)) else \
                [node.outputs]
            if isinstance(layer, _ALIAS) and len(ins) == 1:
                for t in outs:
                    tid[id(t)] = ins[0]
                continue
            u = unit_of(layer.name)
            made = []
            for t in outs:
                new(t, u)
                made.append(len(sizes) - 1)
                producers.append(len(ops))
            if isinstance(layer, _CONV):
                chan.append((8.0 * int(outs[0].shape[-1]), u))
            for i in ins:
                last[i] = len(ops)
            ops.append((ins, made))
        for t in model.outputs:
            last[tid[id(t)]] = len(ops)
        steps = _live_steps(ops, len(sizes), last)
        return cls(np.array(sizes), np.array(unit, int), steps, chan, float(const))

    def _scale(self, k):
        k = np.append(np.asarray(k, float), 1.0)  # unit -1 -> index len(k): kept fully
        return k

    def peak(self, k) -> float:
        """The largest live-tensor total (bytes) at kept fractions ``k``."""
        kk = self._scale(k)
        b = self.sizes * kk[self.unit]
        return float(max((b[s].sum() for s in self.steps), default=0.0))

    def raw(self, k) -> float:
        """:meth:`peak` plus the per-channel bytes (no constant)."""
        kk = self._scale(k)
        return self.peak(k) + float(sum(n * kk[u] for n, u in self.chan))

    def predict(self, k) -> float:
        """Predicted TFLM arena bytes at kept fractions ``k``."""
        return max(self.raw(k) + self.const, self.floor)

    def surrogate(self, k) -> float:
        """:meth:`raw` plus a small share of every op's total (breaks ties between peaks)."""
        kk = self._scale(k)
        b = self.sizes * kk[self.unit]
        return self.raw(k) + 1e-3 * float(sum(b[s].sum() for s in self.steps))  # no floor


def micro_arena(model, n: int = 8) -> int:
    """``arena_bytes`` of a real :func:`tfprune.export.micro` export (random inputs:
    the arena depends on shapes, not values)."""

    rng = np.random.default_rng(0)
    xs = [rng.random((n,) + tuple(int(d or 1) for d in t.shape[1:]), dtype=np.float32)
          for t in model.inputs]
    x = xs[0] if len(xs) == 1 else xs
    with tempfile.TemporaryDirectory() as d:
        return int(export.micro(model, os.path.join(d, "m"), representative_data=x).arena_bytes)


def arena_profile(model, unit_index: dict) -> ArenaProfile:
    """Build (once per model) and calibrate the arena model on one real dense export."""
    hit = _CACHE.get(model, {}).get("arena")
    if hit is not None:
        return hit
    prof = ArenaProfile.build(model, unit_index)
    dense = micro_arena(model)
    prof.const = float(dense) - prof.raw(np.ones(len(unit_index)))
    prof.dense_measured = float(dense)
    for s in (0.9, 0.75):  # TFLM may abort on single-channel tensors: take the next one
        a = Allocation({u: s for u in unit_index}, "channel", "uniform", ("sparsity", s),
                       {}, {})
        try:
            prof.floor = float(micro_arena(structured.shrink(model, a.plan(model))))
            break
        except errors.ExportError:
            continue
    _CACHE.setdefault(model, {})["arena"] = prof
    return prof
