"""Least-squares refit of the layers that consume removed channels (no fine-tuning).

After a channel plan zeroes some channels, each consumer (Dense, or Conv2D without
groups/dilation) of a pruned group is re-fitted layer after layer, in graph order, so
that its pre-activation output on calibration data matches the original model's:

    W', b' = argmin || X_masked[:, kept] W' + b' - (X W + b) ||^2 + damp * ||W'||^2

where ``X`` is the layer's input in the original model and ``X_masked`` its input in the
compensated model so far (errors of earlier layers are corrected too). This is what OBS
does for single weights, applied to whole channels. ``one_shot(..., granularity="channel",
data=..., compensate=True)`` runs it on the masks it chose; ``tfprune.analysis.compensate``
is the same function for a ``structured.Plan``.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> from tfprune.structured import Plan
    >>> m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="h"),
    ...                       keras.layers.Dense(2, name="out")])
    >>> x = np.random.rand(256, 6).astype("float32")
    >>> c = compensate(m, Plan({"h": (0, 1, 2, 3, 4)}, {"h": 8}), x)
    >>> bool((c.get_layer("h").kernel.numpy()[:, 5:] == 0).all())
    True
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import data as data_lib
from tfprune import errors
from tfprune.compat import keras

__all__ = ["compensate", "inputs_array", "recalibrate_bn", "refit_pruned"]


def _inputs_of(model, layer_names, x):
    sub = keras.Model(model.inputs, [model.get_layer(n).input for n in layer_names])
    out = sub.predict(x, batch_size=256, verbose=0)
    return out if isinstance(out, list) else [out]


def _rows(layer, x):
    """Regressor rows: inputs (Dense) or image patches (Conv2D)."""
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        p = tf.image.extract_patches(x, sizes=[1, kh, kw, 1],
                                     strides=[1, *layer.strides, 1], rates=[1, 1, 1, 1],
                                     padding=layer.padding.upper()).numpy()
        x = p.reshape(-1, p.shape[-1])
    else:
        x = x.reshape(-1, x.shape[-1])
    return x


def _fits(layer):
    if isinstance(layer, keras.layers.Dense):
        return True
    return (type(layer) is keras.layers.Conv2D and layer.groups == 1
            and tuple(layer.dilation_rate) == (1, 1) and layer.data_format == "channels_last")


def inputs_array(data, max_batches=None) -> np.ndarray:
    """Calibration inputs as one array: ``x``, ``(x, y)``, a list of batches, a Dataset or a
    generator (:func:`tfprune.data.inputs`).

    Example:
        >>> inputs_array([(np.ones((2, 3)), np.zeros(2)), np.ones((1, 3))]).shape
        (3, 3)
    """
    return data_lib.inputs(data, max_batches=max_batches)


def recalibrate_bn(model, x) -> list:
    """Re-estimate the moving mean/variance of ``model``'s BatchNormalization layers on ``x``.

    Removing channels changes what every later BatchNormalization sees; its moving
    statistics, measured on the dense model, no longer match, and a network can fall to
    chance accuracy with nothing else wrong. Each top-level BatchNormalization (graph order,
    channels-last) gets the mean and variance of its input on ``x`` (its input as computed
    with the BatchNormalizations before it already re-estimated). ``model`` is changed in
    place; nested models' layers are left as they are.

    Returns:
        The names of the re-estimated layers.

    Example:
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(name="bn")])
        >>> recalibrate_bn(m, np.full((32, 4), 3.0, "float32"))
        ['bn']
        >>> float(m.get_layer("bn").moving_mean.numpy()[0])
        3.0
    """
    done = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        if len(axis) != 1 or axis[0] not in (-1, len(layer.input.shape) - 1):
            continue
        a = _inputs_of(model, [layer.name], x)[0].astype(np.float64)
        a = a.reshape(-1, a.shape[-1])
        layer.moving_mean.assign(a.mean(0).astype(np.float32))
        layer.moving_variance.assign(a.var(0).astype(np.float32))
        done.append(layer.name)
    return done


def compensate(model, plan, data, *, damp: float = 1e-3, max_rows: int = 40_000, seed: int = 0,
               refitted: list | None = None, bn: bool = True):
    """Apply ``plan`` (zeroing channels) and refit the consumers by least squares.

    Args:
        model: a built tf_keras Functional/Sequential model (not modified).
        plan: a :class:`tfprune.structured.Plan` (e.g. ``allocation.plan(model)``).
        data: calibration inputs ``x`` (an array; ``(x, y)`` is accepted, ``y`` unused).
        damp: ridge term, relative to the mean diagonal of ``A^T A``.
        max_rows: regression rows sampled per layer (patches for convolutions).
        seed: sampling seed.
        refitted: if a list, the names of the refitted layers are appended to it (and of
            the BatchNormalization layers whose statistics were re-estimated).
        bn: after the refit, re-estimate the BatchNormalization moving statistics on
            ``data`` (:func:`recalibrate_bn`).

    Returns:
        A new model: ``structured.apply_masks(model, plan)`` with the refitted consumer
        kernels and biases (removed channels stay exactly zero, so ``shrink`` works) and
        re-estimated BatchNormalization statistics.

    Raises:
        ConfigError: fewer than 16 calibration samples.
    """
    from tfprune import graph as graph_lib
    from tfprune import structured
    from tfprune.structured import plans, rebuild

    x = inputs_array(data)
    if len(x) < 16:
        raise errors.ConfigError(
            f"compensate() got {len(x)} calibration samples; give at least 16 (256+ is better).")
    masked = structured.apply_masks(model, plan)
    g = graph_lib.build(model)
    keep = plans.keep_masks(g, plan)
    masks = rebuild.weight_masks(g, keep)
    todo = []
    for u in g.uses:
        if u.role == "in" and _fits(u.layer) and u.attr == "kernel" and u.path not in todo:
            if not g.keep_positions(u.atoms, keep).all():
                todo.append(u.path)
    order = [la.name for la in model.layers if la.name in todo]
    if refitted is not None:
        refitted.extend(order)
    rng = np.random.default_rng(seed)
    originals = dict(zip(order, _inputs_of(model, order, x), strict=True))
    for name in order:
        layer, new = model.get_layer(name), masked.get_layer(name)
        kernel = layer.kernel.numpy()
        w = kernel.reshape(-1, kernel.shape[-1]).astype(np.float64)
        b = layer.bias.numpy().astype(np.float64) if layer.use_bias else np.zeros(w.shape[1])
        xo = _rows(layer, originals[name])
        xm = _rows(layer, _inputs_of(masked, [name], x)[0])
        idx = rng.choice(len(xo), min(max_rows, len(xo)), replace=False)
        xo, xm = xo[idx].astype(np.float64), xm[idx].astype(np.float64)
        target = xo @ w + b
        kmask = masks.get(f"{name}/kernel", np.ones_like(kernel)) * np.ones_like(kernel)
        kept_in = kmask.reshape(-1, kernel.shape[-1]).any(1)
        a = np.concatenate([xm[:, kept_in], np.ones((len(xm), 1))], 1)
        ata = a.T @ a
        ata[np.diag_indices_from(ata)] += damp * float(np.mean(np.diag(ata))) + 1e-12
        sol = np.linalg.solve(ata, a.T @ target)
        w_new = np.zeros_like(w)
        w_new[kept_in] = sol[:-1]
        k_new = (w_new.reshape(kernel.shape) * kmask).astype(np.float32)
        new.kernel.assign(k_new)
        if layer.use_bias:
            bmask = masks.get(f"{name}/bias", np.ones_like(b)).reshape(-1)
            new.bias.assign((sol[-1] * bmask).astype(np.float32))
    if bn:
        recalibrated = recalibrate_bn(masked, x)
        if refitted is not None:
            refitted.extend(recalibrated)
    return masked


def refit_pruned(model, pruned, data, max_batches=None) -> list:
    """Refit, in the channel-pruned wrapped model ``pruned`` (from ``model``), the consumers
    of the channels its masks remove (``one_shot(..., compensate=True)``).

    Returns:
        The names of the refitted layers.
    """
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    from tfprune.layers import leaf_layers
    from tfprune.masking import channels, pruner
    from tfprune.structured import Plan

    keep = channels.keep_state(pruner.wrapped_layers(pruned))
    plan = Plan({g: tuple(int(c) for c in np.flatnonzero(k)) for g, k in keep.items()},
                {g: len(k) for g, k in keep.items()})
    names = []
    fitted = compensate(model, plan, inputs_array(data, max_batches), refitted=names)
    inner = {}
    for la in leaf_layers(pruned):
        la = la.layer if isinstance(la, pruning_wrapper.PruneLowMagnitude) else la
        inner[la.name] = la
    for name in names:
        src, dst = fitted.get_layer(name), inner[name]
        if isinstance(src, keras.layers.BatchNormalization):
            dst.moving_mean.assign(src.moving_mean)
            dst.moving_variance.assign(src.moving_variance)
            continue
        dst.kernel.assign(src.kernel)
        if getattr(dst, "use_bias", False):
            dst.bias.assign(src.bias)
    pruner.assign_masked_weights(pruned)
    return names
