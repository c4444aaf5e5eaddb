"""Bare Keras 3 ops in a functional graph, for the translation to tf_keras: binary ops
(``x + y``, ``x * c``, ...) become the tf_keras layers that compute them, and the ``x != 0``
op of an ``Embedding(mask_zero=True)`` mask is left out (tf_keras derives that mask itself).

Example:
    >>> t = {"class_name": "__keras_tensor__", "config": {"keras_history": ["emb", 0, 0]}}
    >>> sorted(refs({"args": [t], "kwargs": {"mask": None}}))
    ['emb']
"""

from __future__ import annotations

from tfprune import errors

__all__ = ["OPS", "refs", "implicit_masks", "drop_masks", "op_to_tf_keras"]

OPS = {"Add": "Add", "Subtract": "Subtract", "Multiply": "Multiply"}


def refs(value):
    """Names of the layers/ops whose tensors ``value`` (node args or kwargs) refers to."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return {value["config"]["keras_history"][0]}
        return set().union(*map(refs, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(refs, value)) if value else set()
    return set()


def implicit_masks(config, name):
    """Names of the ``x != 0`` ops of Keras 3's ``Embedding(mask_zero=True)`` masks: Keras 3
    records the mask as an op passed to the next layer's ``mask=``; tf_keras derives the same
    mask from the Embedding itself, so these ops (and the ``mask=`` arguments) are left out.
    Any other use of ``!=`` is refused, naming it."""
    masks = set()
    for entry in config["layers"]:
        if entry["class_name"] != "NotEqual":
            continue
        nodes = entry.get("inbound_nodes") or [{}]
        args = nodes[0].get("args", [])
        op = entry.get("name") or entry["config"].get("name")
        used = [(k, v) for e in config["layers"] for n in e.get("inbound_nodes") or []
                if isinstance(n, dict) for k, v in [("args", n.get("args")),
                                                    *n.get("kwargs", {}).items()]
                if op in refs(v)]
        if len(args) != 2 or args[1] != 0 or any(k != "mask" for k, _ in used):
            raise errors.UnsupportedLayerError(
                f"Operation {op!r} (x != y) in {name!r} is a bare Keras 3 op, not a layer; "
                "tf_keras has no counterpart (it is translated only as the mask of an "
                "Embedding(mask_zero=True)). Use a layer (or a custom layer registered with "
                "tfprune.compat.register_counterpart).")
        masks.add(op)
    return masks


def drop_masks(node, masks):
    """A Keras 3 node without its ``mask=`` argument when that mask is an implicit one."""
    if not masks or not isinstance(node, dict) or not (
            refs(node.get("kwargs", {}).get("mask")) & masks):
        return node
    return {**node, "kwargs": {k: v for k, v in node["kwargs"].items() if k != "mask"}}


def op_to_tf_keras(entry, name):
    """A bare Keras 3 binary op (x + y, x * c, ...) as the tf_keras layer that computes it."""
    op = entry["class_name"]
    out = []
    for node in entry["inbound_nodes"]:
        args = node["args"]
        tensors = [a for a in args if isinstance(a, dict) and
                   a.get("class_name") == "__keras_tensor__"]
        consts = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
        if len(args) != 2 or node.get("kwargs") or len(tensors) + len(consts) != 2 or (
                len(consts) == 1 and op == "Subtract" and args[0] is consts[0]):
            raise errors.UnsupportedLayerError(
                f"Operation {name!r} ({op}) has arguments tfprune cannot translate "
                "(two tensors, or a tensor and a number, are supported). Use the layer form.")
        hist = [[*t["config"]["keras_history"], {}] for t in tensors]
        if len(tensors) == 2:
            layer = {"class_name": OPS[op], "config": {"name": name, "dtype": "float32"}}
        else:
            c = float(consts[0])
            scale, offset = (c, 0.0) if op == "Multiply" else (1.0, -c if op == "Subtract" else c)
            layer = {"class_name": "Rescaling", "config": {"name": name, "scale": scale,
                                                           "offset": offset}}
        out.append(hist)
    return {**layer, "name": name, "inbound_nodes": out}
