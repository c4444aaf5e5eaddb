"""Rebuild a model from its config with channels masked (zeroed) or sliced away."""

from __future__ import annotations

import copy

import numpy as np

from tfprune import errors
from tfprune.compat import keras
from tfprune.structured import heads as heads_lib

__all__ = [
    "layers_by_path",
    "custom_objects",
    "config_entry",
    "rebuild",
    "copy_weights",
    "weight_key",
    "weight_masks",
]


def layers_by_path(model, prefix: str = "") -> dict:
    """Every non-input layer of ``model`` keyed by ``outer/inner`` path (nested models too)."""
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        out[prefix + layer.name] = layer
        if isinstance(layer, keras.Model):
            out.update(layers_by_path(layer, prefix + layer.name + "/"))
    return out


def custom_objects(model) -> dict:
    """Class name -> class for every layer class in ``model`` (so from_config finds them)."""
    objs = {type(model).__name__: type(model)}
    for layer in layers_by_path(model).values():
        objs[type(layer).__name__] = type(layer)
    return objs


def config_entry(config: dict, path: str) -> dict:
    """The ``config`` dict of layer ``path`` (``outer/inner``) inside a (nested) model config.

    Layer names may themselves contain ``/``, so a full-name match wins over descending.
    """
    for entry in config["layers"]:
        name = entry["config"].get("name")
        if name == path:
            return entry["config"]
    for entry in config["layers"]:
        name = entry["config"].get("name")
        if "layers" in entry["config"] and path.startswith(name + "/"):
            try:
                return config_entry(entry["config"], path[len(name) + 1 :])
            except errors.ConfigError:
                continue
    raise errors.ConfigError(f"Layer {path!r} not found in the model config.")


def copy_weights(old, new, transform=None) -> None:
    """Copy weights layer by layer (matched by path); ``transform(path, layer, ws) -> ws``."""
    new_layers = layers_by_path(new)
    for path, layer in layers_by_path(old).items():
        if isinstance(layer, keras.Model) or not layer.weights:
            continue
        if path not in new_layers:
            continue
        ws = [w.numpy() for w in layer.weights]
        if transform is not None:
            ws = transform(path, layer, ws)
        new_layers[path].set_weights(ws)


def _drop_build_configs(cfg):
    """Layers would otherwise be built for their old input shapes."""
    for entry in cfg.get("layers", []):
        entry.pop("build_config", None)
        if isinstance(entry.get("config"), dict) and "layers" in entry["config"]:
            _drop_build_configs(entry["config"])


def _set_input_shape(config, path, n):
    """Channels of a nested model's input: its InputLayer, or its first layer's shape."""
    parent, _, name = path.rpartition("/")
    cfg = config_entry(config, parent) if parent else config
    entries = [e for e in cfg["layers"] if e["config"].get("name") == name] or cfg["layers"][:1]
    for key in ("batch_input_shape", "batch_shape"):
        if key in entries[0]["config"]:
            shape = list(entries[0]["config"][key])
            shape[-1] = n
            entries[0]["config"][key] = tuple(shape)
    if "build_input_shape" in cfg and cfg["build_input_shape"]:
        shape = list(cfg["build_input_shape"])
        shape[-1] = n
        cfg["build_input_shape"] = tuple(shape)


def _edit_config(config, graph, keep):
    _drop_build_configs(config)
    for e in graph.edits:
        n = int(graph.keep_positions(e.atoms, keep).sum())
        if e.key == "batch_input_shape":
            _set_input_shape(config, e.path, n)
            continue
        cfg = config_entry(config, e.path)
        if e.key == "target_shape":
            ts = list(cfg["target_shape"])
            if ts[-1] != -1:
                ts[-1] = n
            cfg["target_shape"] = tuple(ts)
        else:
            cfg[e.key] = n


def weight_key(use) -> str:
    """``"<layer path>/<attr>"``: the key of a weight in :func:`weight_masks`."""
    return f"{use.path}/{use.attr}"


def weight_masks(graph, keep: dict) -> dict:
    """0/1 masks that zero the removed channels everywhere they live.

    The one place that decides what masking a channel means: producer kernel
    slices, biases, depthwise slices, normalization scale/offset, PReLU/LayerScale
    slices and consumers' input slices. Moving statistics are left alone (with the
    scale and offset zero, a BatchNormalization channel is exactly 0 anyway).

    Args:
        graph: a :class:`tfprune.graph.DependencyGraph`.
        keep: group index -> bool array over the group's channels.

    Returns:
        ``{weight_key(use): float32 array}`` for every weight holding a channel of a
        group in ``keep``; each array broadcasts against the weight (size 1 on the
        axes that carry no channel), all ones if nothing in it is removed.
    """
    groups = np.asarray(sorted(keep), dtype=np.int64)
    out = {}
    for u in graph.uses:
        if u.role == "stat" or not np.isin(graph.atom_group[u.atoms], groups).any():
            continue
        shape = [1] * len(getattr(u.layer, u.attr).shape)
        shape[u.axis] = -1
        m = graph.keep_positions(u.atoms, keep).astype(np.float32).reshape(shape)
        key = weight_key(u)
        out[key] = out[key] * m if key in out else m
    return out


def rebuild(graph, keep: dict, *, mode: str, heads: dict | None = None):
    """A new model from ``graph.model`` with the channels where ``keep`` is False removed.

    Args:
        graph: a :class:`tfprune.graph.DependencyGraph`.
        keep: group index -> bool array over the group's channels.
        mode: ``"mask"`` zeroes the channels' weights (same architecture, masks from
            :func:`weight_masks`); ``"slice"`` removes them (smaller layers, same names).
        heads: MultiHeadAttention layer path -> bool array over its heads: heads removed
            (``num_heads`` lowered) or zeroed the same way
            (:mod:`tfprune.structured.heads`).
    """

    heads = heads or {}
    model = graph.model
    config = copy.deepcopy(model.get_config())
    if mode == "slice":
        _edit_config(config, graph, keep)
        for path, flags in heads.items():
            config_entry(config, path)["num_heads"] = int(np.sum(flags))
    new = type(model).from_config(config, custom_objects=custom_objects(model))
    masks = weight_masks(graph, keep) if mode == "mask" else {}
    by_path = {}
    for u in graph.uses:
        by_path.setdefault(u.path, []).append(u)

    def index(layer, attr):
        var = getattr(layer, attr)
        return next(j for j, w in enumerate(layer.weights) if w is var)

    def transform(path, layer, ws):
        if path in heads:
            ws = heads_lib.apply(layer, ws, heads[path], mode)
        if mode == "mask":
            for attr in dict.fromkeys(u.attr for u in by_path.get(path, [])):
                m = masks.get(f"{path}/{attr}")
                if m is not None and not m.all():
                    i = index(layer, attr)
                    ws[i] = ws[i] * m.astype(ws[i].dtype)
            return ws
        for u in by_path.get(path, []):
            k = graph.keep_positions(u.atoms, keep)
            if not k.all():
                i = index(layer, u.attr)
                ws[i] = np.compress(k, ws[i], axis=u.axis)
        return ws

    copy_weights(model, new, transform)
    return new
