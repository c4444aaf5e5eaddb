"""Layer pruning: find residual blocks ``y = x + f(x)`` and replace them by the identity."""

from __future__ import annotations

import copy
import dataclasses
import numbers

import numpy as np
import tensorflow as tf

from tfprune import compat, errors
from tfprune.compat import keras
from tfprune.structured import rebuild as rebuild_lib

__all__ = ["Block", "DropReport", "find_blocks", "drop_blocks"]

CRITERIA = ("norm", "loss")


@dataclasses.dataclass(frozen=True)
class Block:
    """A residual block: ``add`` adds ``layers``' output to the identity shortcut."""

    add: str
    shortcut: str
    layers: tuple


@dataclasses.dataclass(frozen=True)
class DropReport:
    """What :func:`drop_blocks` did.

    Attributes:
        criterion: ``"norm"`` or ``"loss"``.
        scores: Add layer name -> score (lower = dropped first).
        dropped: names of the Add layers of the dropped blocks.
        blocks: every candidate :class:`Block`.
    """

    criterion: str
    scores: dict
    dropped: tuple
    blocks: tuple

    def __str__(self) -> str:
        rows = [
            f"{len(self.dropped)} of {len(self.blocks)} residual blocks dropped "
            f"(criterion={self.criterion!r})"
        ]
        for b in self.blocks:
            mark = "dropped" if b.add in self.dropped else "kept"
            rows.append(
                f"  {b.add}: score {self.scores[b.add]:.4g}, {len(b.layers)} layers, {mark}"
            )
        return "\n".join(rows)


def _key(t):
    layer, node_index, tensor_index = t._keras_history
    return id(layer), node_index, tensor_index


def _is_add(layer):
    if isinstance(layer, keras.layers.Add):
        return True
    fn = layer.get_config().get("function") if type(layer).__name__ == "TFOpLambda" else None
    return fn in ("__operators__.add", "math.add")


def _branch(y, x, add_node, producer, consumers, outputs):
    nodes, stack = {}, [y]
    while stack:
        t = stack.pop()
        if _key(t) == _key(x):
            continue
        node = producer[_key(t)]
        if isinstance(node.layer, keras.layers.InputLayer) or not node.keras_inputs:
            return None
        if id(node) not in nodes:
            nodes[id(node)] = node
            stack.extend(node.keras_inputs)
    for node in nodes.values():
        if len(node.layer._inbound_nodes) != 1 or isinstance(node.layer, keras.Model):
            return None
        for t in tf.nest.flatten(node.outputs):
            if _key(t) in outputs:
                return None
            for c in consumers.get(_key(t), []):
                if id(c) not in nodes and not (c is add_node and _key(t) == _key(y)):
                    return None
    return [n.layer.name for n in nodes.values()]


def find_blocks(model) -> list:
    """Residual blocks of the top-level graph whose output is added to an identity shortcut.

    Example:
        >>> i = keras.Input((4,), name="x")
        >>> h = keras.layers.Dense(4, name="f")(i)
        >>> m = keras.Model(i, keras.layers.Add(name="add")([i, h]))
        >>> find_blocks(m)
        [Block(add='add', shortcut='x', layers=('f',))]
    """
    compat.check_tf_keras_model(model)
    nodes = [n for d in model._nodes_by_depth for n in model._nodes_by_depth[d]]
    producer, consumers = {}, {}
    for n in nodes:
        for t in tf.nest.flatten(n.outputs):
            producer[_key(t)] = n
        for t in n.keras_inputs:
            consumers.setdefault(_key(t), []).append(n)
    outputs = {_key(t) for t in model.outputs}
    blocks = []
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            ins = node.keras_inputs
            if not _is_add(node.layer) or len(ins) != 2:
                continue
            for x, y in ((ins[0], ins[1]), (ins[1], ins[0])):
                if x.shape.as_list() != y.shape.as_list():
                    continue
                br = _branch(y, x, node, producer, consumers, outputs)
                if br:
                    blocks.append(
                        Block(node.layer.name, x._keras_history[0].name, tuple(sorted(br)))
                    )
                    break
    return blocks


def _find_ref(obj, name):
    if isinstance(obj, list):
        if len(obj) >= 3 and obj[0] == name and isinstance(obj[1], int) and isinstance(obj[2], int):
            return list(obj[:3])
        items = obj
    elif isinstance(obj, dict):
        items = obj.values()
    else:
        return None
    for v in items:
        r = _find_ref(v, name)
        if r:
            return r
    return None


def _rewire(obj, coords):
    if isinstance(obj, list):
        if (
            len(obj) >= 3
            and obj[0] in coords
            and isinstance(obj[1], int)
            and isinstance(obj[2], int)
        ):
            obj[:3] = coords[obj[0]]
        for v in obj:
            _rewire(v, coords)
    elif isinstance(obj, dict):
        for v in obj.values():
            _rewire(v, coords)


def _without(model, blocks):
    config = copy.deepcopy(model.get_config())
    by_name = {e["name"]: e for e in config["layers"]}
    coords = {b.add: _find_ref(by_name[b.add]["inbound_nodes"], b.shortcut) for b in blocks}
    for name, c in coords.items():
        while c[0] in coords:
            c = coords[c[0]]
        coords[name] = c
    gone = {b.add for b in blocks} | {n for b in blocks for n in b.layers}
    config["layers"] = [e for e in config["layers"] if e["name"] not in gone]
    for e in config["layers"]:
        _rewire(e["inbound_nodes"], coords)
    _rewire(config["output_layers"], coords)
    new = type(model).from_config(config, custom_objects=rebuild_lib.custom_objects(model))
    rebuild_lib.copy_weights(model, new)
    return new


def _norm_scores(model, blocks, x):
    layers = {b.add: model.get_layer(b.add) for b in blocks}
    tensors = []
    for b in blocks:
        node = layers[b.add]._inbound_nodes[0]
        ins = node.keras_inputs
        xs = [t for t in ins if t._keras_history[0].name == b.shortcut][0]
        ys = [t for t in ins if t is not xs][0]
        tensors += [xs, ys]
    probe = keras.Model(model.inputs, tensors)
    outs = probe.predict(x, verbose=0)
    scores = {}
    for i, b in enumerate(blocks):
        xs, ys = outs[2 * i].reshape(len(x), -1), outs[2 * i + 1].reshape(len(x), -1)
        ratio = np.linalg.norm(ys, axis=1) / (np.linalg.norm(xs, axis=1) + 1e-12)
        scores[b.add] = float(ratio.mean())
    return scores


def _loss_scores(model, blocks, data):
    if not getattr(model, "loss", None):
        raise errors.ConfigError(
            "criterion='loss' needs a compiled model (model.compile(loss=...))."
        )
    fn = keras.losses.get(model.loss)
    x, y = data

    def loss(m):
        return float(tf.reduce_mean(fn(y, m.predict(x, verbose=0))))

    base = loss(model)
    return {b.add: loss(_without(model, [b])) - base for b in blocks}


def drop_blocks(model, n, *, criterion: str = "norm", data=None):
    """Replace the ``n`` least important residual blocks by the identity.

    A block is ``y = x + f(x)`` where ``f``'s layers are used only inside the block
    (see :func:`find_blocks`); dropping it makes ``y = x``.
    ``criterion="norm"`` scores ``mean ||f(x)|| / ||x||`` over ``data`` (inputs; a
    seeded normal batch of 8 if None); ``criterion="loss"`` scores the increase of
    the compiled loss on ``data=(x, y)`` when only that block is dropped.

    Args:
        model: a Functional tf_keras model (top-level blocks only).
        n: number of blocks (int) or fraction of the candidates (float in (0, 1)).
        criterion: ``"norm"`` or ``"loss"``.
        data: input batch, or ``(x, y)`` for ``"loss"``.

    Returns:
        ``(new_model, DropReport)``.

    Example:
        >>> i = keras.Input((4,), name="x")
        >>> h = keras.layers.Dense(4, name="f")(i)
        >>> m = keras.Model(i, keras.layers.Add(name="add")([i, h]))
        >>> small, report = drop_blocks(m, 1)
        >>> report.dropped, [l.name for l in small.layers]
        (('add',), ['x'])
    """
    if criterion not in CRITERIA:
        raise errors.unknown_name("criterion", criterion, CRITERIA)
    blocks = find_blocks(model)
    if isinstance(n, numbers.Integral) and not isinstance(n, bool):
        count = int(n)
    elif isinstance(n, numbers.Real) and 0 < n < 1:
        count = int(round(n * len(blocks)))
    else:
        raise errors.ConfigError(f"n must be an int >= 0 or a fraction in (0, 1), got {n!r}.")
    if not 0 <= count <= len(blocks):
        raise errors.ConfigError(f"n={n!r}: the model has {len(blocks)} residual blocks.")
    if criterion == "loss":
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise errors.ConfigError("criterion='loss' needs data=(x, y).")
        scores = _loss_scores(model, blocks, data)
    else:
        if data is None:
            shape = model.inputs[0].shape.as_list()[1:]
            if len(model.inputs) != 1 or None in shape:
                raise errors.ConfigError("criterion='norm' needs data= for this model's inputs.")
            data = tf.random.stateless_normal([8] + shape, seed=[0, 1]).numpy()
        scores = _norm_scores(model, blocks, data)
    chosen, gone = [], set()
    for b in sorted(blocks, key=lambda b: scores[b.add]):
        if len(chosen) == count:
            break
        if b.add in gone or gone & set(b.layers):
            continue
        chosen.append(b)
        gone |= {b.add, *b.layers}
    new = _without(model, chosen) if chosen else _without(model, [])
    return new, DropReport(criterion, scores, tuple(b.add for b in chosen), tuple(blocks))
