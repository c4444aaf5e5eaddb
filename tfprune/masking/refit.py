"""Least-squares refit of the layers that consume removed channels (no fine-tuning).

Stop of the path: ``one_shot(..., data=Calibration(x, compensate=True))`` (masking); the same refit for a
``structured.Plan`` is :func:`tfprune.structured.refit.compensate` (``tfprune.analysis.compensate``).

After a channel plan zeroes some channels, each consumer (Dense, or Conv2D without
groups/dilation) of a pruned group is re-fitted layer after layer, in graph order, so
that its pre-activation output on calibration data matches the original model's:

    W', b' = argmin || X_masked[:, kept] W' + b' - (X W + b) ||^2 + damp * ||W'||^2

where ``X`` is the layer's input in the original model and ``X_masked`` its input in the
compensated model so far (errors of earlier layers are corrected too). This is what OBS
does for single weights, applied to whole channels. ``one_shot(..., granularity="channel",
data=..., compensate=True)`` runs it on the masks it chose (:func:`refit_pruned`).

Example:
    >>> import numpy as np, tfprune
    >>> m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="h"),
    ...                       keras.layers.Dense(2, name="out")])
    >>> x = np.random.rand(256, 6).astype("float32")
    >>> p = tfprune.one_shot(m, 0.5, criterion="l1", granularity="channel", data=x,
    ...                      compensate=True)
    >>> bool((p.get_layer("out").layer.kernel.numpy() == 0).any())
    True
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfprune import data as data_lib
from tfprune import errors
from tfprune.compat import keras
from tfprune.layers import leaf_layers
from tfprune.masking import channels, pruner

__all__ = ["MIN_SAMPLES", "fits", "inputs_array", "recalibrate_bn", "refit_layers",
           "refit_pruned"]

#: fewest calibration samples a refit accepts
MIN_SAMPLES = 16


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


def fits(layer) -> bool:
    """True for a layer the least-squares refit handles (Dense; Conv2D without groups or
    dilation, channels-last).

    Example:
        >>> fits(keras.layers.Dense(2)), fits(keras.layers.Conv2D(2, 3, dilation_rate=2))
        (True, False)
    """
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


def check_samples(x) -> None:
    """Refuse fewer than :data:`MIN_SAMPLES` calibration samples, before any work.

    Example:
        >>> check_samples(np.zeros((3, 2)))
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: compensate() got 3 calibration samples; give at least 16 (256+ is better).
    """
    if len(x) < MIN_SAMPLES:
        raise errors.ConfigError(
            f"compensate() got {len(x)} calibration samples; give at least {MIN_SAMPLES} "
            "(256+ is better).")


def refit_layers(model, masked, order, masks, x, *, damp: float = 1e-3,
                 max_rows: int = 40_000, seed: int = 0) -> None:
    """Refit the layers ``order`` (graph order) of ``masked`` by least squares, in place.

    Args:
        model: the original plain model (its layers' inputs are the targets' inputs).
        masked: the same architecture with the removed channels zeroed (changed in place).
        order: names of the layers to refit (each :func:`fits`), in graph order.
        masks: ``name -> (kernel mask, bias mask or None)``, the 0/1 masks the refitted
            weights keep (broadcastable to the weights).
        x: calibration inputs (an array).
        damp, max_rows, seed: as for :func:`tfprune.structured.refit.compensate`.

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> c = keras.models.clone_model(m); c.set_weights(m.get_weights())
        >>> refit_layers(m, c, ["d"], {"d": (np.ones((3, 2)), None)}, np.ones((32, 3)))
        >>> c.get_layer("d").kernel.shape
        TensorShape([3, 2])
    """
    rng = np.random.default_rng(seed)
    originals = dict(zip(order, _inputs_of(model, order, x), strict=True))
    for name in order:
        layer, new = model.get_layer(name), masked.get_layer(name)
        xo = _rows(layer, originals[name])
        xm = _rows(layer, _inputs_of(masked, [name], x)[0])
        idx = rng.choice(len(xo), min(max_rows, len(xo)), replace=False)
        kmask, bmask = masks[name]
        _solve(layer, new, xo[idx].astype(np.float64), xm[idx].astype(np.float64),
               kmask, bmask, damp)


def _solve(layer, new, xo, xm, kmask, bmask, damp) -> None:
    """One layer's ridge regression: ``new``'s kernel and bias from the rows ``xm`` so that
    its pre-activation output matches ``layer``'s on ``xo``."""
    kernel = layer.kernel.numpy()
    w = kernel.reshape(-1, kernel.shape[-1]).astype(np.float64)
    b = layer.bias.numpy().astype(np.float64) if layer.use_bias else np.zeros(w.shape[1])
    target = xo @ w + b
    kmask = kmask * np.ones_like(kernel)
    kept_in = kmask.reshape(-1, kernel.shape[-1]).any(1)
    a = np.concatenate([xm[:, kept_in], np.ones((len(xm), 1))], 1)
    ata = a.T @ a
    ata[np.diag_indices_from(ata)] += damp * float(np.mean(np.diag(ata))) + 1e-12
    sol = np.linalg.solve(ata, a.T @ target)
    w_new = np.zeros_like(w)
    w_new[kept_in] = sol[:-1]
    new.kernel.assign((w_new.reshape(kernel.shape) * kmask).astype(np.float32))
    if layer.use_bias:
        bmask = np.ones_like(b) if bmask is None else bmask
        new.bias.assign((sol[-1] * np.reshape(bmask, -1)).astype(np.float32))


def _consumers(wrappers, keep) -> dict:
    """``name -> (kernel mask, bias mask)`` of the wrapped layers that consume a removed
    channel (an ``"in"`` kernel entry of their channel map) and :func:`fits` can refit."""
    out = {}
    for w in wrappers:
        if not getattr(w, "channel_map", None) or not fits(w.layer):
            continue
        if not any(e["role"] == "in" and e["weight"] == "kernel" and e["group"] in keep
                   and not all(keep[e["group"]][p] for p in e["positions"] if p >= 0)
                   for e in w.channel_map):
            continue
        names = w.prunable_weight_names
        mask_of = {n: w.pruning_vars[i][1].numpy() for i, n in enumerate(names)}
        out[w.layer.name] = (mask_of["kernel"], mask_of.get("bias"))
    return out


def refit_pruned(model, pruned, masked, data, max_batches=None) -> list:
    """Refit, in the channel-pruned wrapped model ``pruned`` (from ``model``), the consumers
    of the channels its masks remove (``one_shot(..., data=Calibration(x, compensate=True))``).

    Args:
        model: the original plain model.
        pruned: ``model`` pruned at ``granularity="channel"``, masks chosen (changed in place).
        masked: ``strip(pruned)``: the plain model with the removed channels zeroed (the
            refit writes into it).
        data: calibration data (:func:`inputs_array`).
        max_batches: use at most this many calibration batches.

    Returns:
        The names of the refitted layers, then of the BatchNormalization layers whose
        statistics were re-estimated.
    """
    x = inputs_array(data, max_batches)
    check_samples(x)
    wrappers = pruner.wrapped_layers(pruned)
    masks = _consumers(wrappers, channels.keep_state(wrappers))
    names = [la.name for la in model.layers if la.name in masks]
    refit_layers(model, masked, names, masks, x)
    names += recalibrate_bn(masked, x)
    inner = {}
    for la in leaf_layers(pruned):
        la = la.layer if isinstance(la, pruning_wrapper.PruneLowMagnitude) else la
        inner[la.name] = la
    for name in names:
        src, dst = masked.get_layer(name), inner[name]
        if isinstance(src, keras.layers.BatchNormalization):
            dst.moving_mean.assign(src.moving_mean)
            dst.moving_variance.assign(src.moving_variance)
            continue
        dst.kernel.assign(src.kernel)
        if dst.use_bias:
            dst.bias.assign(src.bias)
    pruner.assign_masked_weights(pruned)
    return names
