"""Measured device profiles for :func:`~tfprune.analysis.allocate.allocate` targets.

Two models, each measured once per model object (cached weakly by model):

* :class:`LatencyProfile` (``latency_ms=``): LiteRT 1-thread median latency of the float
  .tflite, measured on the dense model and on two uniformly channel-shrunk copies (keep
  0.75 and 0.5 of every prunable group), fitted by non-negative least squares as
  ``latency_ms ≈ a + b * MACs``. After channel pruning every remaining op is a smaller
  dense op, so latency follows MACs; ``a`` is the per-invoke and per-op overhead.
  (A per-layer ``b_l`` cannot be identified from uniform shrinks, where all layers'
  MACs move together, so one slope is fitted.)
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
    """``latency_ms ≈ a_ms + b_ms_per_mac * MACs`` fitted on ``points`` ``(MACs, ms)``."""

    a_ms: float
    b_ms_per_mac: float
    points: list

    def predict(self, macs) -> float:
        """Predicted LiteRT 1-thread latency (ms) at ``macs``."""
        return float(self.a_ms + self.b_ms_per_mac * float(macs))

    def macs_for(self, ms) -> float:
        """The MACs at which the predicted latency equals ``ms`` (inf with a zero slope)."""
        if self.b_ms_per_mac <= 0:
            return float("inf") if ms >= self.a_ms else -1.0
        return (float(ms) - self.a_ms) / self.b_ms_per_mac


def _fit(points):
    from scipy.optimize import nnls

    m = np.array([p[0] for p in points], float)
    y = np.array([p[1] for p in points], float)
    scale = max(m.max(), 1.0)
    (a, b), _ = nnls(np.stack([np.ones_like(m), m / scale], 1), y)
    return LatencyProfile(float(a), float(b / scale), [list(map(float, p)) for p in points])


def float_latency_ms(model, runs: int = 100) -> float:
    """Median LiteRT 1-thread invoke time of ``model``'s float .tflite (ms)."""
    from tfprune import export

    return export.latency(export._tflite_bytes(model), threads=1, runs=runs,
                          warmup=10).median_ms


def latency_profile(model) -> LatencyProfile:
    """Measure (once per model) and fit the latency model (see the module docstring)."""
    hit = _CACHE.get(model, {}).get("latency")
    if hit is not None:
        return hit
    from tfprune import structured
    from tfprune.analysis.allocate import allocate
    from tfprune.graph.macs import count_macs

    points = [(count_macs(model), float_latency_ms(model))]
    for s in (0.25, 0.5):
        a = allocate(model, sparsity=s, method="uniform", granularity="channel")
        small = structured.shrink(model, a.plan(model))
        points.append((count_macs(small), float_latency_ms(small)))
    prof = _fit(points)
    _CACHE.setdefault(model, {})["latency"] = prof
    return prof


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
        from tfprune import graph as graph_lib

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
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
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
        first = {}
        for step, (_, made) in enumerate(ops):
            for t in made:
                first[t] = step
        steps = []
        for step in range(len(ops)):
            live = [t for t in range(len(sizes))
                    if first.get(t, -1) <= step <= last.get(t, first.get(t, -1))]
            steps.append(np.array(live, int))
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
    from tfprune import export

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
    from tfprune import errors, structured
    from tfprune.analysis.allocate import Allocation

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
