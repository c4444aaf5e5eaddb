"""Heads of ``MultiHeadAttention`` in shrink: read which heads a masked model removed,
and slice them out (``num_heads`` lowered, same outputs).

Stop of the path: structured (plan, rebuild). Head ``h`` of a layer lives at position
``h`` of axis 1 of the query/key/value kernels (``[d, H, dim]``), axis 0 of their biases
(``[H, dim]``) and axis 0 of the output-projection kernel (``[H, value_dim, d_out]``)
(the map of :mod:`tfprune.graph.heads`). Heads are internal to the layer: its input and
output widths do not change, so no other layer is touched. A head's group in a
:class:`tfprune.structured.Plan` is ``"<layer path>/heads"``.
"""

from __future__ import annotations

import numpy as np

from tfprune import errors
from tfprune.graph import heads as heads_lib
from tfprune.structured.kept import Plan

__all__ = ["SUFFIX", "attention_layers", "derive", "keep_arrays", "apply", "removed_weights", "split"]

SUFFIX = "/heads"


def attention_layers(by_path: dict) -> dict:
    """``{path: layer}`` of the built MultiHeadAttention layers among ``by_path``
    (:func:`tfprune.structured.rebuild.layers_by_path`)."""
    return {p: lyr for p, lyr in by_path.items()
            if heads_lib.is_attention(lyr) and getattr(lyr, "_query_dense", None) is not None
            and lyr._query_dense.built}


def _slices(layer) -> list:
    """``[(variable, head axis, is_kernel), ...]`` of every weight holding a head."""
    out = []
    for name, axis in heads_lib.KERNELS + (heads_lib.BIASES if layer._use_bias else ()):
        var = layer
        for part in name.split("."):
            var = getattr(var, part)
        out.append((var, axis, name.endswith("kernel")))
    return out


def _per_head_max(value, axis) -> np.ndarray:
    a = np.abs(np.moveaxis(np.asarray(value), axis, 0))
    return a.reshape(a.shape[0], -1).max(1)


def derive(layers: dict) -> tuple:
    """Read the removed heads of masked layers: a head goes when every weight slice of it
    (query/key/value kernels and biases, output-projection kernel) is exactly zero.

    Args:
        layers: ``{path: MultiHeadAttention}`` (:func:`attention_layers`).

    Returns:
        ``(keep, heads, zeros, total, inconsistent)``: ``{group: kept head indices}`` for
        layers that lose a head (at least one is always kept), ``{group: num_heads}``, the
        zeros and size of the head kernels, and ``{group: heads}`` whose kernel slice is
        zero in some weight but not in all (per-weight masks: not a removed head).
    """
    keep, count, bad, zeros, total = {}, {}, {}, 0, 0
    for path, layer in layers.items():
        n = int(layer._num_heads)
        dead, partial = np.ones(n, bool), np.zeros(n, bool)
        for var, axis, is_kernel in _slices(layer):
            value = var.numpy()
            mx = _per_head_max(value, axis)
            dead &= mx == 0
            if is_kernel:
                zeros += int((value == 0).sum())
                total += int(value.size)
                partial |= mx == 0
        group = path + SUFFIX
        partial &= ~dead
        if partial.any():
            bad[group] = np.flatnonzero(partial).tolist()
        if dead.all():
            dead[0] = False  # a layer keeps at least one head
        if dead.any():
            keep[group] = tuple(np.flatnonzero(~dead).tolist())
            count[group] = n
    return keep, count, zeros, total, bad


def keep_arrays(layers: dict, keep: dict, channels: dict) -> dict:
    """Validate the head entries of a plan; return ``{layer path: bool keep per head}``.

    Raises:
        ConfigError: a head group of no MultiHeadAttention of the model, a head count
            that differs from the model's, no head kept, or indices out of range.
    """
    out = {}
    for group, kept in keep.items():
        path = group[: -len(SUFFIX)]
        if path not in layers:
            raise errors.ConfigError(
                f"Plan group {group!r} names the heads of {path!r}, which is not a "
                f"MultiHeadAttention of this model (those are {sorted(layers)[:5]}).")
        n = int(layers[path]._num_heads)
        if channels.get(group, n) != n:
            raise errors.ConfigError(
                f"Plan group {group!r} was made for {channels[group]} heads; the model has "
                f"{n}. Make the plan on this model's architecture.")
        idx = np.asarray(kept, dtype=np.int64)
        if idx.size == 0:
            raise errors.ConfigError(f"Plan keeps no head of {path!r}; keep at least 1.")
        if idx.min() < 0 or idx.max() >= n or len(set(idx.tolist())) != idx.size:
            raise errors.ConfigError(
                f"Plan for {group!r} names heads out of range or repeated: valid indices "
                f"are 0..{n - 1}, got {sorted(idx.tolist())[:8]}.")
        m = np.zeros(n, bool)
        m[idx] = True
        out[path] = m
    return out


def apply(layer, ws: list, keep, mode: str) -> list:
    """``layer.get_weights()``-ordered ``ws`` with the heads where ``keep`` is False
    removed (``mode="slice"``) or zeroed (``mode="mask"``)."""
    index = {id(w): j for j, w in enumerate(layer.weights)}
    keep = np.asarray(keep, bool)
    for var, axis, _ in _slices(layer):
        j = index[id(var)]
        if mode == "slice":
            ws[j] = np.compress(keep, ws[j], axis=axis)
        else:
            shape = [1] * ws[j].ndim
            shape[axis] = -1
            ws[j] = ws[j] * keep.astype(ws[j].dtype).reshape(shape)
    return ws


def removed_weights(layers: dict, keep: dict) -> int:
    """Kernel weights that slicing the heads removes (``keep``: path -> flags)."""
    total = 0
    for path, flags in keep.items():
        gone = int((~np.asarray(flags)).sum())
        for var, axis, is_kernel in _slices(layers[path]):
            if is_kernel:
                total += gone * (int(np.prod(var.shape)) // int(var.shape[axis]))
    return total


def split(plan, layers: dict) -> tuple:
    """``(channel Plan, head Plan)``: the entries ``"<path>/heads"`` of a MultiHeadAttention
    among ``layers`` go to the second."""

    if not isinstance(plan, Plan):
        raise errors.ConfigError(
            f"plan must be a tfprune.structured.Plan, got {type(plan).__name__}.")
    is_head = {g: g.endswith(SUFFIX) and g[: -len(SUFFIX)] in layers for g in plan.keep}
    parts = [{g: k for g, k in plan.keep.items() if is_head[g] == h} for h in (False, True)]
    return tuple(Plan(p, {g: plan.channels[g] for g in p if g in plan.channels}) for p in parts)
