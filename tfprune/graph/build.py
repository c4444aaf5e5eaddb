"""Walk a tf_keras model's node graph and tie channels together.

Every channel that a layer creates is an *atom*. A tensor's channel axis (the
last axis, channels_last) is described by an array of atoms, one per position:
a Concatenate concatenates the arrays, a Flatten tiles them, an Add ties the
atoms of its inputs position by position (union-find). Atoms that end up tied are
one channel; channels created together (by one layer) or tied are one group.
This is the only module that reads Keras' node graph.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import compat, errors
from tfprune.compat import keras, keras3_io
from tfprune.graph import group as group_lib
from tfprune.graph import keras_nodes
from tfprune.graph import rules as rules_lib

__all__ = ["build", "Context"]


class _UnionFind:
    def __init__(self):
        self.parent = []

    def add(self, n):
        start = len(self.parent)
        self.parent.extend(range(start, start + n))

    def find(self, a):
        p = self.parent
        root = a
        while p[root] != root:
            root = p[root]
        while p[a] != root:
            p[a], a = root, p[a]
        return root

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class Context:
    """What a layer rule uses to describe how its layer maps channels.

    A rule is ``rule(layer, inputs, ctx) -> outputs``: ``inputs`` holds one atom
    array per input tensor (length = the tensor's channel count), and the rule
    returns one atom array per output tensor, using the methods below.
    """

    def __init__(self, exclude=()):
        self._chan = _UnionFind()
        self._grp = _UnionFind()
        self._pins = {}
        self._made = {}
        self._uses = {}
        self.uses, self.edits, self.notes = [], [], []
        self.exclude = set(exclude)
        self._creator = {}
        self.seen = set()
        self.layer = self.node = None
        self.path = ""

    # --- atoms -------------------------------------------------------------
    def new(self, n: int, key: str = "out", pinned: str | None = None) -> np.ndarray:
        """``n`` new channels created by the current layer (the same ones on every call)."""
        k = (id(self.layer), key)
        if k not in self._made:
            start = len(self._chan.parent)
            self._chan.add(n)
            self._grp.add(n)
            for a in range(start + 1, start + n):
                self._grp.union(start, a)
            atoms = np.arange(start, start + n, dtype=np.int64)
            self._made[k] = atoms
            self._creator[start] = self.path
            if pinned:
                self.pin(atoms, pinned)
        return self._made[k]

    def tie(self, a: np.ndarray, b: np.ndarray) -> None:
        """Tie channel ``a[i]`` to channel ``b[i]`` for every position ``i``."""
        if len(a) != len(b):
            raise errors.UnsupportedLayerError(
                f"Layer {self.path!r} ({type(self.layer).__name__}) combines tensors with "
                f"{len(a)} and {len(b)} channels; cannot tie them. Add {self.path!r} to "
                "exclude=[...] or register a rule with tfprune.graph.register_rule."
            )
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            self._chan.union(x, y)
            self._grp.union(x, y)

    def pin(self, atoms: np.ndarray, reason: str, first: bool = False) -> None:
        """Forbid removing these channels; ``reason`` is shown when the group prints (the
        first reason given, unless ``first``: then this one, e.g. "model output")."""
        for a in np.asarray(atoms).tolist():
            if first:
                self._pins[a] = reason
            else:
                self._pins.setdefault(a, reason)

    # --- records -----------------------------------------------------------
    def weight(self, attr: str, axis: int, atoms: np.ndarray, role: str, how: str = "") -> None:
        """Position ``p`` along ``axis`` of weight ``layer.<attr>`` carries channel ``atoms[p]``."""
        if getattr(self.layer, attr, None) is None:
            return
        k = (id(self.layer), attr, axis)
        if k in self._uses:  # a shared layer: every call must use the same channels
            self.tie(self._uses[k].atoms, atoms)
            return
        use = group_lib.WeightUse(self.path, self.layer, attr, axis, role, np.asarray(atoms))
        self._uses[k] = use
        self.uses.append(use)
        self.note(atoms, how or f"{role} weight {attr}")

    def config(self, key: str, atoms: np.ndarray) -> None:
        """Config ``key`` of the current layer equals the number of kept ``atoms``."""
        if not any(e.layer is self.layer and e.key == key for e in self.edits):
            self.edits.append(group_lib.ConfigEdit(self.path, self.layer, key, np.asarray(atoms)))

    def note(self, atoms: np.ndarray, how: str) -> None:
        """Record that the current layer carries ``atoms`` (for printing groups)."""
        self.notes.append((self.path, type(self.layer).__name__, how, np.asarray(atoms)))

    # --- shapes ------------------------------------------------------------
    def input_shape(self, i: int = 0) -> tuple:
        """Static shape of input tensor ``i`` of the current call."""
        return tuple(self.node.keras_inputs[i].shape)

    def output_shape(self, i: int = 0) -> tuple:
        """Static shape of output tensor ``i`` of the current call."""
        return tuple(tf.nest.flatten(self.node.outputs)[i].shape)

    # --- finishing ---------------------------------------------------------
    def finish(self, model) -> group_lib.DependencyGraph:
        n = len(self._chan.parent)
        chan = np.array([self._chan.find(a) for a in range(n)], dtype=np.int64)
        grp = np.array([self._grp.find(a) for a in range(n)], dtype=np.int64)
        atom_group = np.full(n, -1, np.int64)
        atom_channel = np.full(n, -1, np.int64)
        groups, order = [], {}
        for a in range(n):  # atoms are numbered in graph order
            g = grp[a]
            if g not in order:
                order[g] = (len(order), {})
            gi, chans = order[g]
            c = chans.setdefault(chan[a], len(chans))
            atom_group[a], atom_channel[a] = gi, c
        names = {}
        for start, path in sorted(self._creator.items()):
            names.setdefault(atom_group[start], path)
        members = {gi: [] for gi, _ in order.values()}
        seen = set()
        for path, cls, how, atoms in self.notes:
            for gi in np.unique(atom_group[atoms]) if len(atoms) else []:
                if (gi, path, how) in seen:
                    continue
                seen.add((gi, path, how))
                pos = np.where(atom_group[atoms] == gi, atom_channel[atoms], -1)
                members[gi].append(group_lib.Member(path, cls, how, pos))
        pins = {}
        for a, reason in self._pins.items():
            pins.setdefault(atom_group[a], []).append(reason)
        for gi, chans in order.values():
            reasons = tuple(dict.fromkeys(pins.get(gi, [])))
            groups.append(
                group_lib.Group(names.get(gi, f"group{gi}"), gi, len(chans), members[gi], reasons)
            )
        return group_lib.DependencyGraph(
            model, groups, self.uses, self.edits, atom_group, atom_channel
        )


def _key(t):
    layer, node_index, tensor_index = t._keras_history
    return id(layer), node_index, tensor_index


def _walk(model, in_atoms, ctx, prefix, done):
    if not getattr(model, "_is_graph_network", False):
        raise errors.ModelTypeError(
            f"Nested model {model.name!r} ({type(model).__name__}) is not a Functional or "
            "built Sequential model; tfprune cannot read its layer graph."
        )
    known = {_key(t): a for t, a in zip(model.inputs, in_atoms, strict=True)}
    for node in keras_nodes.nodes(model):
        layer = node.layer
        if isinstance(layer, keras.layers.InputLayer):
            continue
        ins = [known[_key(t)] for t in node.keras_inputs]
        path = prefix + layer.name
        ctx.seen.add(path)
        if isinstance(layer, keras.Model):
            if id(layer) in done:
                first_in, outs = done[id(layer)]
                for a, b in zip(first_in, ins, strict=True):
                    ctx.tie(a, b)
            else:
                for t, a in zip(layer.inputs, ins, strict=True):  # its InputLayer shapes follow
                    inp = t._keras_history[0]
                    ctx.edits.append(
                        group_lib.ConfigEdit(
                            f"{path}/{inp.name}", inp, "batch_input_shape", np.asarray(a)
                        )
                    )
                outs = _walk(layer, ins, ctx, path + "/", done)
                done[id(layer)] = (ins, outs)
        else:
            ctx.layer, ctx.node, ctx.path = layer, node, path
            outs = rules_lib.apply(layer, ins, ctx)
        for t, a in zip(tf.nest.flatten(node.outputs), outs, strict=True):
            known[_key(t)] = np.asarray(a, dtype=np.int64)
    return [known[_key(t)] for t in model.outputs]


@keras3_io()
def build(model, *, exclude=None) -> group_lib.DependencyGraph:
    """Build the channel dependency graph of a Functional or Sequential tf_keras model.

    Args:
        model: a built ``tf_keras`` Functional or Sequential model (nested models
            are followed).
        exclude: layer names (``outer/inner`` inside nested models) whose output
            channels must not be removed (for a producer: its filters; for an
            element-wise layer: the channels it carries). A layer without a rule
            listed here is treated as a black box whose input and output channels
            are kept.

    Returns:
        A :class:`DependencyGraph`; ``print(graph[name])`` shows a group.

    Raises:
        UnsupportedLayerError: a layer has no rule (the message says how to
            exclude it or register one).

    Example:
        >>> i = keras.Input((8, 8, 3))
        >>> x = keras.layers.Conv2D(4, 3, name="a")(i)
        >>> y = keras.layers.Conv2D(4, 1, name="b")(x)
        >>> z = keras.layers.Add(name="add")([x, y])
        >>> g = build(keras.Model(i, keras.layers.Conv2D(2, 1, name="head")(z)))
        >>> g["a"].channels, g["a"].layers()
        (4, ['a', 'b', 'add', 'head'])
    """
    compat.check_tf_keras_model(model)
    exclude = list(exclude or [])
    for e in exclude:
        if not isinstance(e, str):
            raise errors.ConfigError(f"exclude must list layer names (str), got {e!r}.")
    ctx = Context(exclude)
    ins = []
    for t in model.inputs:
        ctx.layer, ctx.path = t._keras_history[0], t._keras_history[0].name
        ins.append(ctx.new(int(t.shape[-1] or 1), pinned=f"model input {ctx.path!r}"))
        ctx.note(ins[-1], "model input")
    outs = _walk(model, ins, ctx, "", {})
    for e in exclude:
        if e not in ctx.seen:
            raise errors.unknown_name("layer in exclude", e, ctx.seen)
    for t, atoms in zip(model.outputs, outs, strict=True):
        ctx.pin(atoms, f"model output {t._keras_history[0].name!r}", first=True)
    return ctx.finish(model)
