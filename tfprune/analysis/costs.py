"""The cost model of :func:`~tfprune.analysis.allocate.allocate`: parameters, MACs, int8
bytes and density as exact functions of the kept fraction of every unit.

Channel costs are multilinear: a convolution between two pruned groups keeps
``k_in * k_out`` of itself. Head costs are linear: a ``MultiHeadAttention`` keeping a
fraction ``k`` of its heads keeps ``k`` of its query/key/value kernels and biases, of its
output-projection kernel and of all its MACs (projections, attention matmuls, output).

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
    ...                       keras.layers.Dense(4, name="out")])
    >>> c = Costs(m, "channel")
    >>> c.units, c.report(np.array([0.5]))["params"]  # h keeps 8 of 16 units
    (['h'], 108)
"""

from __future__ import annotations

import collections

import numpy as np
import tensorflow as tf

from tfprune import graph as graph_lib
from tfprune import layers
from tfprune.compat import keras
from tfprune.core import masks
from tfprune.graph import heads
from tfprune.graph.macs import count_macs

__all__ = ["Costs", "RESOURCES"]

RESOURCES = ("params", "macs", "bytes", "density", "latency_ms")
_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")
_BYTES_FIXED, _BYTES_PER_LAYER = 2000, 250  # flatbuffer overhead estimate (int8, dense)


def _attribute(layer, path):
    """``layer.<path>`` for a dotted attribute path (``"_query_dense.kernel"``), or None."""
    for part in path.split("."):
        layer = getattr(layer, part, None)
    return layer


def _macs_by_var(model) -> dict:
    """id(variable) -> MACs of one sample attributed to it (summed over calls); MACs of no
    variable (attention matmuls) under the key ``None``."""
    out = collections.Counter()
    for node in graph_lib.nodes(model):
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
            var = _attribute(layer, attr) if attr else None
            out[id(var) if var is not None else None] += int(macs)
    return out


def _head_macs(model) -> dict:
    """id(MultiHeadAttention) -> its MACs of one sample (summed over calls); all of them
    scale with the number of heads."""

    out = collections.Counter()
    for node in graph_lib.nodes(model):
        layer = node.layer
        if isinstance(layer, keras.Model):
            out.update(_head_macs(layer))
        elif heads.is_attention(layer) and node.keras_inputs:
            outs = tf.nest.flatten(node.outputs)
            out[id(layer)] += sum(m for m, _ in layers.layer_macs(
                layer, tuple(node.keras_inputs[0].shape), tuple(outs[0].shape)))
    return out


class Costs:
    """Parameters, MACs, int8 bytes and density as functions of per-unit kept fractions.

    ``total(k)`` with ``k`` an array of kept fractions (one per unit, 1 = dense) returns
    ``{"params", "macs", "bytes", "density"}``. Each weight contributes
    ``base * prod_axes(sum_p w_p * k[unit_p])``: exact for parameters and MACs (bytes
    are an estimate of a dense full-int8 .tflite: 1 byte per kernel entry, 4 per bias,
    plus a fixed overhead).

    ``granularity="head"``: one unit per ``MultiHeadAttention`` (size ``num_heads``).

    Example:
        >>> i = keras.Input((6, 8))
        >>> a = keras.layers.MultiHeadAttention(4, 4, name="att")(i, i)
        >>> m = keras.Model(i, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(a)))
        >>> c = Costs(m, "head")
        >>> c.units, c.report(np.array([0.5]))  # 2 of 4 heads: 280 params, 2112 MACs go
        (['att'], {'params': 315, 'macs': 2136, 'sparsity': 0.5})
    """

    def __init__(self, model, granularity: str):
        self.granularity = granularity
        self.terms, self.units, self.size = [], [], []
        self.owner = []  # per term: the unit whose output channels it computes (-1: none)
        self.fixed = np.zeros(len(RESOURCES))
        self.groups = {}
        self._consts = {}  # term index -> constant part of each factor (pinned positions)
        macs = _macs_by_var(model)
        nlayers = sum(1 for la in layers.leaf_layers(model) if la.weights)
        self.fixed[2] = _BYTES_FIXED + _BYTES_PER_LAYER * nlayers
        if granularity == "head":
            self._head(model)
        elif granularity == "weight":
            self.fixed[1] += macs.get(None, 0)
            self._weight(model, macs)
        else:
            self.fixed[1] += macs.get(None, 0)
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
                self.terms.append((np.array([n, m, 0, n, 0], float),
                                   [(np.array([u]), np.array([1.0]))]))
                self.owner.append(u)
                seen.update(id(w) for w in ws)
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    self.fixed[0] += int(np.prod(w.shape))
                    self.fixed[1] += macs.get(id(w), 0)
        self.fixed[2] = np.nan  # sparse .tflite size is not modelled

    def _head(self, model):
        """One unit per MultiHeadAttention (size ``num_heads``); every other weight and MAC
        is fixed."""

        macs = _head_macs(model)
        self.fixed[0], self.fixed[1] = float(model.count_params()), float(count_macs(model))
        for layer in layers.leaf_layers(model):
            if not heads.is_attention(layer) or not layer.built:
                continue
            u = len(self.units)
            n = int(layer.get_config()["num_heads"])
            params = float(sum(int(np.prod(_attribute(layer, w).shape))
                               for w in heads.weight_names(layer)))
            self.units.append(layer.name)
            self.size.append(n)
            self.terms.append((np.array([params, macs.get(id(layer), 0), 0, n, 0], float),
                               [(np.array([u]), np.array([1.0]))]))
            self.owner.append(u)
            self.fixed[:2] -= (params, macs.get(id(layer), 0))
        self.fixed[2] = np.nan  # no head-pruned .tflite size model

    def _channel(self, model, macs):
        g = graph_lib.build(model)
        unit_of = {}
        for grp in g.prunable():
            unit_of[grp.index] = len(self.units)
            self.units.append(grp.name)
            self.size.append(grp.channels)
            self.groups[grp.name] = grp
            self.terms.append((np.array([0, 0, 0, grp.channels, 0], float),
                               [(np.array([unit_of[grp.index]]), np.array([1.0]))]))
            self.owner.append(unit_of[grp.index])
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
                                                                      size), 0, 0], float)
                factors, owner = [], -1
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
                    if use.role in ("out", "dw") and len(idx) == 1:
                        owner = int(idx[0])  # the group whose channels this weight makes
                    factors.append((idx, frac[in_unit], const))
                if factors:
                    self.terms.append((base, [(i, f) for i, f, _ in factors]))
                    self.owner.append(owner)
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
        return masks.kept_counts(n, sparsities) / n

    def kept_one(self, u, sparsity) -> float:
        """Kept fraction of unit ``u`` at ``sparsity`` (whole units)."""
        n = self.size[u]
        return float(masks.kept_counts(n, sparsity)) / n

    def macs_by_owner(self, k) -> np.ndarray:
        """MACs at kept fractions ``k`` per owning unit, plus a last entry for the MACs no
        unit owns (layers whose output channels are not pruned, fixed layers).

        Example:
            >>> from tfprune.compat import keras
            >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
            ...                       keras.layers.Dense(4, name="out")])
            >>> Costs(m, "channel").macs_by_owner(np.array([0.5])).tolist()  # h, out's
            [64.0, 32.0]
        """
        out = np.zeros(len(self.units) + 1)
        out[-1] = self.fixed[1]
        for t, o in enumerate(self.owner):
            out[o] += self._term(t, k)[1]  # o = -1: the last entry
        return out

    def set_latency(self, a_ms: float, slopes, other: float) -> None:
        """Fill the ``latency_ms`` resource: ``a_ms`` plus, for every MAC, the ms per MAC of
        the unit that owns it (``slopes[unit]``; ``other`` for MACs no unit owns).

        Example:
            >>> from tfprune.compat import keras
            >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="h"),
            ...                       keras.layers.Dense(4, name="out")])
            >>> c = Costs(m, "channel")
            >>> c.set_latency(0.1, [0.001], 0.01)
            >>> round(float(c.totals(np.array([1.0]))[4]), 3)  # 0.1 + 128*0.001 + 64*0.01
            0.868
        """
        slopes = np.asarray(slopes, float)
        for t, o in enumerate(self.owner):
            self.terms[t][0][4] = self.terms[t][0][1] * (slopes[o] if o >= 0 else other)
        self.fixed[4] = float(a_ms) + float(other) * self.fixed[1]

    def report(self, k) -> dict:
        """Totals as a dict in the user's units."""
        t = self.totals(k)
        units = float(sum(self.size))
        out = {"params": int(round(t[0])), "macs": int(round(t[1])),
               "sparsity": float(1.0 - t[3] / units)}
        if self.granularity == "channel":
            out["bytes"] = int(round(t[2]))
        return out


