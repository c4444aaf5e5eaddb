"""``summary``: parameters, non-zeros, MACs and weight bytes, through pruning wrappers.

MAC count rule: :func:`tfprune.layers.layer_macs` (multiply-accumulates of one forward
pass for ONE sample; Dense, convolutions in either ``data_format``, SimpleRNN/GRU/LSTM
per timestep ``gates * (input + units) * units`` times the timesteps, MultiHeadAttention
projections plus attention matmuls; bias adds, normalisation, activations, pooling,
embeddings and element-wise layers count 0). A layer with weights that no rule covers (a
custom layer) is shown as "not counted" and the totals say that they exclude it: never a
silent 0.

``sparse_macs`` scales each kernel's MACs by its density (non-zeros / size): the work a
sparse kernel would need; dense runtimes still do ``macs``.
"""

from __future__ import annotations

import numpy as np
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfprune import errors
from tfprune.compat import keras, keras3_io
from tfprune.layers import layer_macs
from tfprune.masking.keras3_subclassed import serves

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


def _attr(obj, path):
    for part in (path or "").split("."):
        obj = getattr(obj, part, None) if part else None
    return obj


def _macs(outer, inner, values):
    """(macs, sparse_macs), or (None, None) when no MAC rule covers the layer."""
    in_shape, out_shape = _shapes(outer)
    if in_shape is None:
        return (0, 0) if not inner.weights else (None, None)

    def to_tuple(x):
        return tuple(tuple(s) for s in x) if isinstance(x, list) else tuple(x)

    parts = layer_macs(inner, to_tuple(in_shape), to_tuple(out_shape), strict=True)
    if parts is None:
        return None, None
    macs = sparse = 0
    for m, attr in parts:
        macs += m
        kernel = values.get(id(_attr(inner, attr)))
        density = np.count_nonzero(kernel) / kernel.size if kernel is not None else 1.0
        sparse += int(round(m * density))
    return macs, sparse


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
        macs, sparse = _macs(outer, inner, values)
        yield {"name": inner.name, "type": type(inner).__name__, "params": params,
               "nonzero_params": nonzero, "sparsity": 1 - nonzero / params if params else 0.0,
               "macs": macs, "sparse_macs": sparse, "weight_bytes": nbytes,
               "macs_counted": macs is not None}


def _format(rows, totals) -> str:
    head = (f"{'layer':28s} {'type':22s} {'params':>10s} {'non-zero':>10s} {'sparsity':>8s} "
            f"{'MACs':>12s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        macs = f"{r['macs']:12d}" if r["macs_counted"] else f"{'not counted':>12s}"
        lines.append(f"{r['name'][:28]:28s} {r['type'][:22]:22s} {r['params']:10d} "
                     f"{r['nonzero_params']:10d} {r['sparsity']:8.1%} {macs}")
    lines.append("-" * len(head))
    mark = "*" if totals["not_counted"] else ""
    lines.append(f"{'total':51s} {totals['params']:10d} {totals['nonzero_params']:10d} "
                 f"{totals['sparsity']:8.1%} {totals['macs']:12d}{mark}")
    lines.append(f"weight bytes: {totals['weight_bytes']:,}   sparse MACs: "
                 f"{totals['sparse_macs']:,}{mark}")
    if totals["not_counted"]:
        lines.append(f"* MACs exclude {len(totals['not_counted'])} layer(s) with no MAC rule "
                     f"(not counted): {', '.join(totals['not_counted'])}.")
    return "\n".join(lines)


@serves()  # a subclassed Keras 3 model is counted as it is (its MACs are not counted)
@keras3_io()
def summary(model, *, print_fn=print) -> dict:
    """Params, non-zero params, MACs and weight bytes of a (possibly pruned) model.

    Works through pruning wrappers (masks are applied when counting) and nested
    models. Prints a table with ``print_fn`` (a callable taking one string; ``None``
    silences it).

    Returns:
        ``{"params", "nonzero_params", "sparsity", "macs", "sparse_macs",
        "weight_bytes", "not_counted", "layers": [per-layer dicts with the same keys +
        name/type/macs_counted]}``. ``not_counted`` names the layers with weights that no
        MAC rule covers (their ``macs`` is ``None``; the totals exclude them).

    Raises:
        tfprune.errors.ConfigError: ``print_fn`` is neither callable nor None.

    Example:
        >>> m = keras.Sequential([keras.Input((5, 5, 2)), keras.layers.Conv2D(3, 3),
        ...                       keras.layers.Flatten(), keras.layers.Dense(4)])
        >>> s = summary(m, print_fn=None)
        >>> s["macs"] == (3 * 3) * 3 * (3 * 3) * 2 + 27 * 4, s["params"]
        (True, 169)
    """
    errors.check_print_fn(print_fn)
    rows = list(_rows(model))
    totals = {k: sum(r[k] or 0 for r in rows) for k in
              ("params", "nonzero_params", "macs", "sparse_macs", "weight_bytes")}
    totals["not_counted"] = [r["name"] for r in rows if not r["macs_counted"]]
    totals["sparsity"] = 1 - totals["nonzero_params"] / totals["params"] if totals["params"] else 0.0
    totals["layers"] = rows
    if print_fn is not None:
        print_fn(_format(rows, totals))
    return totals
