"""``summary``: parameters, non-zeros, MACs and weight bytes, through pruning wrappers.

MAC count rule (multiply-accumulates of one forward pass for ONE sample; bias adds,
normalisation, activations, pooling and element-wise layers count 0):

* Dense: ``positions * in_features * units`` (positions = product of the output's
  middle dimensions; 1 for a rank-2 input);
* Conv1D/2D/3D: ``prod(out_spatial) * filters * prod(kernel_size) * in_channels / groups``;
* Conv1D/2D/3DTranspose: ``prod(in_spatial) * prod(kernel_size) * in_channels * filters``;
* DepthwiseConv1D/2D: ``prod(out_spatial) * in_channels * depth_multiplier * prod(kernel_size)``;
* SeparableConv1D/2D: the depthwise part above plus
  ``prod(out_spatial) * in_channels * depth_multiplier * filters``.

``sparse_macs`` scales each kernel's MACs by its density (non-zeros / size): the work a
sparse kernel would need; dense runtimes still do ``macs``.
"""

from __future__ import annotations

import numpy as np
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfprune.compat import keras
from tfprune.layers import _prod, layer_macs

__all__ = ["summary"]

L = keras.layers


def _effective_values(outer, inner) -> dict[int, np.ndarray]:
    """Weight values by id(variable), with masks applied for wrapped layers."""
    values = {id(v): np.asarray(keras.backend.get_value(v)) for v in inner.weights}
    if isinstance(outer, pruning_wrapper.PruneLowMagnitude):
        for var, mask, _ in outer.pruning_vars:
            values[id(var)] = values[id(var)] * np.asarray(keras.backend.get_value(mask))
    return values


def _shapes(layer):
    try:
        return layer.get_input_shape_at(0), layer.get_output_shape_at(0)
    except (RuntimeError, AttributeError, ValueError):
        return None, None


def _rows(model):
    for outer in model.layers:
        inner = outer.layer if isinstance(outer, pruning_wrapper.PruneLowMagnitude) else outer
        if isinstance(inner, keras.Model):
            yield from _rows(inner)
            continue
        if isinstance(inner, L.InputLayer):
            continue
        values = _effective_values(outer, inner)
        params = sum(int(v.size) for v in values.values())
        nonzero = sum(int(np.count_nonzero(v)) for v in values.values())
        nbytes = sum(int(v.nbytes) for v in values.values())
        in_shape, out_shape = _shapes(outer)
        macs = sparse = 0
        if in_shape is not None and not isinstance(in_shape, list):
            for m, attr in layer_macs(inner, tuple(in_shape), tuple(out_shape)):
                macs += m
                kernel = values.get(id(getattr(inner, attr, None)))
                density = np.count_nonzero(kernel) / kernel.size if kernel is not None else 1.0
                sparse += int(round(m * density))
        yield {"name": inner.name, "type": type(inner).__name__, "params": params,
               "nonzero_params": nonzero, "sparsity": 1 - nonzero / params if params else 0.0,
               "macs": macs, "sparse_macs": sparse, "weight_bytes": nbytes}


def _format(rows, totals) -> str:
    head = f"{'layer':28s} {'type':22s} {'params':>10s} {'non-zero':>10s} {'sparsity':>8s} {'MACs':>12s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['name'][:28]:28s} {r['type'][:22]:22s} {r['params']:10d} "
                     f"{r['nonzero_params']:10d} {r['sparsity']:8.1%} {r['macs']:12d}")
    lines.append("-" * len(head))
    lines.append(f"{'total':51s} {totals['params']:10d} {totals['nonzero_params']:10d} "
                 f"{totals['sparsity']:8.1%} {totals['macs']:12d}")
    lines.append(f"weight bytes: {totals['weight_bytes']:,}   sparse MACs: {totals['sparse_macs']:,}")
    return "\n".join(lines)


def summary(model, *, print_fn=print) -> dict:
    """Params, non-zero params, MACs and weight bytes of a (possibly pruned) model.

    Works through pruning wrappers (masks are applied when counting) and nested
    models. Prints a table with ``print_fn`` (``None`` silences it).

    Returns:
        ``{"params", "nonzero_params", "sparsity", "macs", "sparse_macs",
        "weight_bytes", "layers": [per-layer dicts with the same keys + name/type]}``.

    Example:
        >>> m = keras.Sequential([keras.Input((5, 5, 2)), keras.layers.Conv2D(3, 3),
        ...                       keras.layers.Flatten(), keras.layers.Dense(4)])
        >>> s = summary(m, print_fn=None)
        >>> s["macs"] == (3 * 3) * 3 * (3 * 3) * 2 + 27 * 4, s["params"]
        (True, 169)
    """
    rows = list(_rows(model))
    totals = {k: sum(r[k] for r in rows) for k in
              ("params", "nonzero_params", "macs", "sparse_macs", "weight_bytes")}
    totals["sparsity"] = 1 - totals["nonzero_params"] / totals["params"] if totals["params"] else 0.0
    totals["layers"] = rows
    if print_fn is not None:
        print_fn(_format(rows, totals))
    return totals
