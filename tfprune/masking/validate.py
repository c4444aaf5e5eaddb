"""Validation of the masking entry points, before any work: the arguments of
``prune``/``one_shot`` (:func:`_resolve`) and what a layer can take
(:func:`check_layer`). Moved out of ``api`` and ``wrapper``; no behaviour change.
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_schedule as tfmot_schedules,
)

from tfprune import errors, layers
from tfprune.compat import check_tf_keras_model, keras
from tfprune.core import criteria as criteria_lib
from tfprune.core import schedules as schedules_lib

__all__ = ["SCOPES", "GRANULARITIES", "UPDATE_MODES", "check_layer", "check_finite", "check_data",
           "check_labels"]

SCOPES = ("layer", "global")
DEFAULT_FREQUENCY = 100
UPDATE_MODES = ("layer", "external")
GRANULARITIES = ("weight", "n:m", "block", "channel", "head")


def _pair(value, arg):
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise errors.ConfigError(
            f"`{arg}` must be a pair of ints such as (2, 4), got {value!r}.") from None
    if a < 1 or b < 1 or [a, b] != [v for v in value]:
        raise errors.ConfigError(f"`{arg}` must be a pair of positive ints, got {value!r}.")
    return a, b


def _channel_axis(layer) -> int | None:
    """Axis of the output channels in the layer's kernel (None: not channel-prunable)."""
    L = keras.layers
    if isinstance(layer, (L.DepthwiseConv2D, L.SeparableConv1D, L.SeparableConv2D)):
        return None
    if isinstance(layer, (L.Conv2DTranspose, L.Conv3DTranspose, L.Conv1DTranspose)):
        return -2
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D, L.Dense)):
        return -1
    return None


def check_layer(layer, criterion, granularity="weight", n_m=(2, 4), block=(4, 1),
                weights=None) -> None:
    """Refuse, before any work, a criterion/granularity that cannot prune ``layer``.

    Args:
        layer: a built tf_keras layer.
        criterion: a Criterion instance.
        granularity, n_m, block: as for :class:`PruningWrapper`.
        weights: prunable weight names (default: tfprune's table).

    Raises:
        ConfigError, UnsupportedLayerError: naming the layer and the fix.

    Example:
        >>> from tfprune.core import criteria
        >>> d = keras.layers.Dense(4, name="fc"); d.build((None, 6))
        >>> try:
        ...     check_layer(d, criteria.get("magnitude"), "n:m", n_m=(2, 4))
        ... except errors.ConfigError as e:
        ...     print(str(e)[:59])
        Layer 'fc' (Dense): n:m with M=4 needs input-channel axis 0
    """
    name = f"Layer {layer.name!r} ({type(layer).__name__})"
    fix = f"exclude it with exclude=[{layer.name!r}]"
    criteria_lib.check_granularity(criterion, granularity)
    if granularity in ("channel", "head"):
        return  # the dependency graph (channel) or the layer's heads (head) decide the units
    names = layers.prunable_weight_names(layer) if weights is None else list(weights)
    needs = set(getattr(criterion, "needs", ()))
    if "hessian" in needs and not (isinstance(layer, keras.layers.Dense) or (
            isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D))
            and _channel_axis(layer) == -1 and getattr(layer, "groups", 1) == 1)):
        raise errors.UnsupportedLayerError(
            f"{name}: criterion {criterion.name!r} (OBS) handles Dense, Conv1D and Conv2D "
            f"(groups=1); {fix}.")
    if not layer.built or not names:
        return
    for var in layers.prunable_weights(layer, names):
        shape = var.shape.as_list()
        if granularity == "n:m":
            n, m = n_m
            if n >= m:
                raise errors.ConfigError(f"n:m needs N < M, got n_m={tuple(n_m)}.")
            axis = 0 if len(shape) == 1 else len(shape) - 2
            if shape[axis] % m:
                raise errors.ConfigError(
                    f"{name}: n:m with M={m} needs input-channel axis {axis} of weight "
                    f"{var.name} (shape {shape}) divisible by {m}; {fix}.")
        if granularity == "block":
            r, c = block
            rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 0
            if len(shape) < 2 or rows % r or shape[-1] % c:
                raise errors.ConfigError(
                    f"{name}: block {tuple(block)} does not tile weight {var.name} (shape "
                    f"{shape}, viewed as {rows}x{shape[-1]}); choose a block that divides it, "
                    f"or {fix}.")


def _check_sparsity(value, arg="sparsity"):
    return errors.check_sparsity(value, arg)


def _final_sparsity(schedule) -> float:
    for attr in ("final_sparsity", "target_sparsity", "sparsity"):
        if hasattr(schedule, attr):
            return float(getattr(schedule, attr))
    raise errors.ConfigError(
        f"scope={{...}} with schedule {type(schedule).__name__} needs its final sparsity: give the "
        "schedule a `final_sparsity` attribute, or pass `sparsity=` instead.")


def _check_layers(targets, crit, scope, granularity, n_m, block):
    """Refuse a criterion/granularity a target layer cannot take, before any work."""
    if granularity not in GRANULARITIES:
        raise errors.unknown_name("granularity", granularity, GRANULARITIES)
    criteria_lib.check_granularity(crit, granularity)
    if granularity == "head":  # MultiHeadAttention layers only (masking.heads)
        from tfprune.masking import heads

        heads.check_targets(targets, scope)
    if granularity == "n:m" and scope == "global":
        raise errors.ConfigError("granularity='n:m' fixes the sparsity of every group (1 - N/M); "
                                 "it has no global ranking. Use scope='layer'.")
    n_m, block = _pair(n_m, "n_m"), _pair(block, "block")
    if n_m[0] >= n_m[1]:
        raise errors.ConfigError(f"n:m needs N < M (keep N of every M), got n_m={n_m!r}.")
    for layer in targets.values():
        check_layer(layer, crit, granularity, n_m, block)


def _resolve(model, sparsity, schedule, criterion, scope, exclude, fixed=False):
    """Validate everything before any work; return (schedule, criterion, plan).

    Without a schedule: ``Constant`` at the sparsity, re-applied every
    ``DEFAULT_FREQUENCY`` steps (``prune``), or with ``fixed`` (``one_shot``, whose masks
    are set at once) ``OneShot`` at step 0: fine-tuning keeps the masks as they are.
    """
    check_tf_keras_model(model)
    if isinstance(scope, str) and scope not in SCOPES:
        raise errors.unknown_name("scope", scope, SCOPES + ("{layer_name: sparsity}",))
    if not isinstance(scope, (str, dict)):
        raise errors.ConfigError(
            f"`scope` must be 'layer', 'global' or a dict {{layer_name: sparsity}}, got {scope!r}.")
    is_dict = isinstance(scope, dict)
    if sparsity is not None and schedule is not None:
        raise errors.ConfigError(
            "Pass either `sparsity=` (a constant target) or `schedule=` (a PruningSchedule), "
            "not both.")
    if sparsity is None and schedule is None and not is_dict:
        raise errors.ConfigError(
            "Pass `sparsity=` (e.g. 0.8) or `schedule=` (e.g. tfprune.schedules.AGP(...)); "
            "neither was given.")
    if sparsity is not None:
        _check_sparsity(sparsity)
    if schedule is not None and not isinstance(schedule, tfmot_schedules.PruningSchedule):
        raise errors.ConfigError(
            f"`schedule` must be a PruningSchedule (tfprune.schedules or TF-MOT), got "
            f"{type(schedule).__name__}.")
    crit = criteria_lib.get(criterion)
    exclude = set(errors.check_layer_names("exclude", exclude, model))
    by_name = {layer.name: layer for layer in layers.leaf_layers(model)}
    if is_dict:
        if not scope:
            raise errors.ConfigError("`scope` dict is empty: give {layer_name: sparsity}.")
        errors.check_layer_names("scope", list(scope), model)
        for name, value in scope.items():
            if not layers.is_prunable(by_name[name]):
                raise errors.ConfigError(
                    f"scope names layer {name!r} ({type(by_name[name]).__name__}), which has no "
                    "prunable weights. Remove it from the dict.")
            _check_sparsity(value, f"scope[{name!r}]")
    targets = {n: lyr for n, lyr in by_name.items() if layers.is_prunable(lyr) and n not in exclude}
    if is_dict:
        targets = {n: targets[n] for n in scope if n in targets}
    _warn_unregistered(by_name.values(), exclude)
    if not targets:
        raise errors.NothingToPruneError(
            f"Model {model.name!r} has no prunable layer (Dense, Conv*, DepthwiseConv2D, "
            "SeparableConv*, Embedding, or a layer declared with tfprune.register).")
    if schedule is None:
        base = sparsity if sparsity is not None else max(scope.values())
        if fixed:
            schedule = schedules_lib.OneShot(float(base), step=0)
        else:
            schedule = tfmot_schedules.ConstantSparsity(float(base), begin_step=0,
                                                        frequency=DEFAULT_FREQUENCY)
    scales = {n: 1.0 for n in targets}
    if is_dict:
        final = _final_sparsity(schedule)
        if final <= 0:
            raise errors.ConfigError("scope={...} needs a schedule whose final sparsity is > 0.")
        scales = {n: float(scope[n]) / final for n in targets}
    return schedule, crit, scales


def _warn_unregistered(all_layers, exclude) -> None:
    """Custom layers holding a kernel that tfprune cannot prune: say so, naming the fix."""
    for layer in all_layers:
        if layer.name in exclude or layers.is_prunable(layer):
            continue
        kernels = [w for w in layer.trainable_weights if len(w.shape) >= 2]
        custom = type(layer).__module__.split(".")[0] not in ("tf_keras", "keras")
        if kernels and (custom or isinstance(layer, keras.layers.Wrapper)):  # never silently dense
            warnings.warn(
                f"Layer {layer.name!r} ({type(layer).__name__}) holds a kernel "
                f"({kernels[0].name}) but is not prunable, so it is left dense. Declare it with "
                f"tfprune.register({type(layer).__name__}, weights=[...]) or implement "
                "get_prunable_weights().", stacklevel=4)


def check_finite(data) -> None:
    """Refuse calibration data holding NaN or inf, before any work.

    Arrays, ``(x, y)`` pairs and lists of batches are checked whole; a
    ``tf.data.Dataset`` is checked batch by batch in
    :func:`tfprune.masking.pruner.gather`, before each batch is used.

    Raises:
        DataError: naming where the first non-finite value is.

    Example:
        >>> check_finite(np.array([[1.0, np.nan]]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.DataError: calibration data holds 1 NaN/inf value(s) ...
    """
    if isinstance(data, tf.data.Dataset):
        return
    parts = data if isinstance(data, (tuple, list)) else [data]
    for part in tf.nest.flatten(parts):
        arr = np.asarray(part)
        if arr.dtype.kind not in "fc":
            continue
        bad = ~np.isfinite(arr)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise errors.DataError(
                f"calibration data holds {int(bad.sum())} NaN/inf value(s) (first at index "
                f"{first}); clean or drop those samples (np.isfinite) before pruning.")


def _is_array(x) -> bool:
    return isinstance(x, (np.ndarray, tf.Tensor))


def check_data(model, data) -> None:
    """Check calibration ``data`` against ``model`` before any work
    (:func:`tfprune.errors.check_calibration_data`: sample shape, strings, NaN/inf,
    unscaled integer images for a float input).

    Arrays, ``(x, y)`` pairs, lists of batches (``x`` or ``(x, y)``) and
    ``tf.data.Dataset`` (its spec; values batch by batch in ``pruner.gather``) are
    checked; a model with several inputs only gets the NaN/inf check. A model holding
    an ``Embedding`` takes integer token ids, so integer data is not called unscaled.

    Raises:
        DataError: naming the problem and the fix.

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> check_data(m, np.zeros((2, 3), "float32"))
        >>> check_data(m, np.full((2, 3), 200, "uint8"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.DataError: `data` is uint8 with values up to 200, ...
    """
    if len(getattr(model, "inputs", None) or []) != 1:
        check_finite(data)
        return
    tokens = any(isinstance(lyr, keras.layers.Embedding) for lyr in _layers(model))

    def one(x):
        if tokens and _is_array(x) and np.asarray(x).dtype.kind in "iu":
            x = np.asarray(x).astype("float32")  # token ids: only shape is checked
        errors.check_calibration_data(model, x)

    if isinstance(data, tf.data.Dataset):
        errors.check_calibration_data(model, data)
    elif _is_array(data):
        one(data)
    elif isinstance(data, tuple) and len(data) == 2 and all(_is_array(d) for d in data):
        one(data[0])
    elif isinstance(data, (list, tuple)):
        for b in data:
            x = b[0] if isinstance(b, (tuple, list)) and b else b
            if _is_array(x):
                one(x)
    else:
        check_finite(data)


def _layers(model):
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        if isinstance(inner, keras.Model):
            yield from _layers(inner)
        else:
            yield inner


def _loss_name(loss) -> str:
    if isinstance(loss, str):
        return loss
    return str(getattr(loss, "name", None) or getattr(loss, "__name__", ""))


def check_labels(model, data, loss) -> None:
    """For ``data=(x, y)`` arrays and a classification loss, check the labels against the
    model (:func:`tfprune.errors.check_labels`): one per sample, class ids for a
    ``sparse_*`` loss, one-hot rows for ``categorical_crossentropy``, ids in range.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
        >>> check_labels(m, (np.zeros((2, 2)), np.array([0, 3])), "sparse_categorical_crossentropy")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.DataError: labels hold class 3, ...
    """
    if not (isinstance(data, tuple) and len(data) == 2 and all(_is_array(d) for d in data)):
        return
    name = _loss_name(loss)
    if "crossentropy" not in name and "hinge" not in name:
        errors.check_labels(np.zeros(len(data[1]), "int64"), model, n_samples=len(data[0]))
        return
    sparse = True if name.startswith("sparse_") else (
        False if name == "categorical_crossentropy" else None)
    errors.check_labels(np.asarray(data[1]), model, sparse=sparse, n_samples=len(data[0]))
