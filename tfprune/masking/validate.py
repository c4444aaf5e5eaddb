"""Validation of the masking entry points, before any work: the arguments of
``prune``/``one_shot`` (:func:`resolve_args`) and what a layer can take
(:func:`check_layer`). Moved out of ``api`` and ``wrapper``; no behaviour change.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_schedule as tfmot_schedules,
)

from tfprune import data as data_lib
from tfprune import errors, layers
from tfprune.compat import check_tf_keras_model, keras
from tfprune.core import criteria as criteria_lib
from tfprune.core import schedules as schedules_lib
from tfprune.core.criteria.base import GRANULARITIES
from tfprune.graph import heads
from tfprune.masking import granularity as granularity_lib
from tfprune.masking import scope as scope_lib
from tfprune.masking.hessians import is_depthwise
from tfprune.masking.scope import SCOPES

__all__ = ["SCOPES", "GRANULARITIES", "UPDATE_MODES", "check_layer", "check_finite", "check_data",
           "check_labels", "check_head_targets"]

DEFAULT_FREQUENCY = 100
UPDATE_MODES = ("layer", "external")


def check_positive_pair(value, arg):
    """``value`` as a pair of positive ints (``n_m``, ``block``), or a ConfigError naming ``arg``.

    Example:
        >>> check_positive_pair([4, 1], "block")
        (4, 1)
    """
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise errors.ConfigError(
            f"`{arg}` must be a pair of ints such as (2, 4), got {value!r}.") from None
    if a < 1 or b < 1 or [a, b] != [v for v in value]:
        raise errors.ConfigError(f"`{arg}` must be a pair of positive ints, got {value!r}.")
    return a, b


def channel_axis(layer) -> int | None:
    """Axis of the output channels in the layer's kernel (None: not channel-prunable).

    Example:
        >>> channel_axis(keras.layers.Dense(2)), channel_axis(keras.layers.Conv2DTranspose(2, 3))
        (-1, -2)
    """
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
    if granularity_lib.get(granularity).grouped:
        return  # the dependency graph (channel) or the layer's heads (head) decide the units
    names = layers.prunable_weight_names(layer) if weights is None else list(weights)
    needs = set(criterion.needs)
    if "hessian" in needs and not _has_input_statistic(layer):
        raise errors.UnsupportedLayerError(
            f"{name}: criterion {criterion.name!r} (OBS) handles Dense, Conv1D, Conv2D "
            f"(groups=1, channels last, depthwise included) and MultiHeadAttention; {fix}.")
    if not layer.built or not names:
        return
    fits = granularity_lib.get(granularity).fits
    for var in layers.prunable_weights(layer, names):
        fits(var.name, var.shape.as_list(), tuple(n_m), tuple(block), f"{name}: ", f"; {fix}.")


def _has_input_statistic(layer) -> bool:
    """Layers whose weights get ``X^T X`` (:mod:`tfprune.masking.hessians`)."""
    L = keras.layers
    if isinstance(layer, (L.Dense, L.MultiHeadAttention)):
        return True
    if is_depthwise(layer):
        return getattr(layer, "data_format", "channels_last") == "channels_last"
    return (isinstance(layer, (L.Conv1D, L.Conv2D)) and channel_axis(layer) == -1
            and getattr(layer, "groups", 1) == 1)


def _check_sparsity(value, arg="sparsity"):
    return errors.check_sparsity(value, arg)


def final_sparsity(schedule) -> float:
    """The sparsity ``schedule`` ends at (its ``final_sparsity``, ``target_sparsity`` or
    ``sparsity``), for a mapping scope's per-layer scales.

    Example:
        >>> from tfprune.core import schedules
        >>> final_sparsity(schedules.AGP(0.8, end_step=10))
        0.8
    """
    for attr in ("final_sparsity", "target_sparsity", "sparsity"):
        if hasattr(schedule, attr):
            return float(getattr(schedule, attr))
    raise errors.ConfigError(
        f"scope={{...}} with schedule {type(schedule).__name__} needs its final sparsity: give the "
        "schedule a `final_sparsity` attribute, or pass `sparsity=` instead.")


def check_head_targets(targets: dict, scope) -> None:
    """Refuse ``granularity="head"`` when no target layer has heads, or a dict scope names
    a layer without heads, before any work.

    Example:
        >>> check_head_targets({"fc": keras.layers.Dense(2, name="fc")}, "layer")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.NothingToPruneError: granularity='head' prunes whole heads of ...
    """
    targets_of = scope_lib.resolve(scope).targets
    if targets_of is not None:
        other = [n for n in targets_of if n in targets and not heads.is_attention(targets[n])]
        if other:
            raise errors.ConfigError(
                f"scope names layer {other[0]!r} ({type(targets[other[0]]).__name__}), which has "
                "no attention heads; at granularity='head' the dict names MultiHeadAttention "
                "layers. Remove it, or prune it at granularity='channel'/'weight'.")
    if not any(heads.is_attention(layer) for layer in targets.values()):
        raise errors.NothingToPruneError(
            "granularity='head' prunes whole heads of MultiHeadAttention layers, and no "
            "(non-excluded) layer of this model is one. Use granularity='channel' (whole "
            "channels) or 'weight' (single weights) instead.")


def check_layers(targets, crit, scope, granularity, n_m, block):
    """Refuse a criterion/granularity a target layer cannot take, before any work
    (``scope``: a resolved :class:`tfprune.masking.scope.Scope` or the user's value).

    Example:
        >>> check_layers({"d": keras.layers.Dense(2, name="d")}, criteria_lib.get("l1"),
        ...              "global", "n:m", (2, 4), (4, 1))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: granularity='n:m' fixes the sparsity of every group ...
    """
    if granularity not in GRANULARITIES:
        raise errors.unknown_name("granularity", granularity, GRANULARITIES)
    scope = scope_lib.resolve(scope)
    criteria_lib.check_granularity(crit, granularity)
    if granularity == "head":  # MultiHeadAttention layers only
        check_head_targets(targets, scope)
    strategy = granularity_lib.get(granularity)
    if scope.ranking == "global" and not strategy.global_ranking:
        raise errors.ConfigError(f"granularity={granularity!r} fixes the sparsity of every group "
                                 "(1 - N/M); it has no global ranking. Use scope='layer'.")
    n_m, block = check_positive_pair(n_m, "n_m"), check_positive_pair(block, "block")
    if n_m[0] >= n_m[1]:
        raise errors.ConfigError(f"n:m needs N < M (keep N of every M), got n_m={n_m!r}.")
    for layer in targets.values():
        check_layer(layer, crit, granularity, n_m, block)


def resolve_args(model, sparsity, schedule, criterion, scope, exclude, fixed=False):
    """Validate everything before any work; return (schedule, criterion, scales).

    ``scope`` is resolved by :func:`tfprune.masking.scope.resolve` (a resolved one is
    taken as is); ``scales`` maps every target layer to the factor its schedule's
    sparsity is multiplied by (1.0, or ``targets[layer] / final`` for a mapping scope).
    Without a schedule: ``Constant`` at the sparsity, re-applied every
    ``DEFAULT_FREQUENCY`` steps (``prune``), or with ``fixed`` (``one_shot``, whose masks
    are set at once) ``OneShot`` at step 0: fine-tuning keeps the masks as they are.

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> schedule, crit, scales = resolve_args(m, 0.5, None, "l1", "layer", None)
        >>> crit.name, scales
        ('l1', {'d': 1.0})
    """
    check_tf_keras_model(model)
    scope = scope_lib.resolve(scope)
    check_schedule_args(sparsity, schedule, scope)
    crit = criteria_lib.get(criterion)
    exclude = set(errors.check_layer_names("exclude", exclude, model))
    by_name = {layer.name: layer for layer in layers.leaf_layers(model)}
    if scope.is_mapping:
        errors.check_layer_names("scope", list(scope.targets), model)
        for name in scope.targets:
            if not layers.is_prunable(by_name[name]):
                raise errors.ConfigError(
                    f"scope names layer {name!r} ({type(by_name[name]).__name__}), which has no "
                    "prunable weights. Remove it from the dict.")
    targets = {n: lyr for n, lyr in by_name.items() if layers.is_prunable(lyr) and n not in exclude}
    if scope.is_mapping:
        targets = {n: targets[n] for n in scope.targets if n in targets}
    _warn_unregistered(by_name.values(), exclude)
    if not targets:
        raise errors.NothingToPruneError(
            f"Model {model.name!r} has no prunable layer (Dense, Conv*, DepthwiseConv2D, "
            "SeparableConv*, Embedding, or a layer declared with tfprune.register).")
    if schedule is None:
        base = sparsity if sparsity is not None else scope.final
        if scope.is_mapping and scope.final > 0:  # the mapping gives the sparsities; a
            base = scope.final  # tiny `sparsity` (1e-100) as base would underflow in float32
        if fixed:
            schedule = schedules_lib.OneShot(float(base), step=0)
        else:
            schedule = tfmot_schedules.ConstantSparsity(float(base), begin_step=0,
                                                        frequency=DEFAULT_FREQUENCY)
    scales = {n: 1.0 for n in targets}
    if scope.is_mapping:
        final = final_sparsity(schedule)
        if final <= 0:
            raise errors.ConfigError("scope={...} needs a schedule whose final sparsity is > 0.")
        scales = {n: scope.targets[n] / final for n in targets}
    return schedule, crit, scales


def check_schedule_args(sparsity, schedule, scope) -> None:
    """Refuse ``sparsity`` and ``schedule`` together, neither of them (unless the resolved
    ``scope`` is a mapping), a bad sparsity or a schedule that is not a PruningSchedule.

    Example:
        >>> from tfprune.masking import scope as scope_lib
        >>> check_schedule_args(0.5, None, scope_lib.resolve("layer"))
    """
    if sparsity is not None and schedule is not None:
        raise errors.ConfigError(
            "Pass either `sparsity=` (a constant target) or `schedule=` (a PruningSchedule), "
            "not both.")
    if sparsity is None and schedule is None and not scope.is_mapping:
        raise errors.ConfigError(
            "Pass `sparsity=` (e.g. 0.8) or `schedule=` (e.g. tfprune.schedules.AGP(...)); "
            "neither was given.")
    if sparsity is not None:
        _check_sparsity(sparsity)
    if schedule is not None and not isinstance(schedule, tfmot_schedules.PruningSchedule):
        raise errors.ConfigError(
            f"`schedule` must be a PruningSchedule (tfprune.schedules or TF-MOT), got "
            f"{type(schedule).__name__}.")
    if schedule is not None:
        _check_schedule_values(schedule)


def _probe_steps(schedule) -> list:
    """Steps at which a schedule is evaluated before any work: 0, 1, and around its
    ``begin_step``/``end_step`` when it has them."""
    steps = {0, 1}
    span = [getattr(schedule, a, None) for a in ("begin_step", "end_step")]
    span = [int(v) for v in span if isinstance(v, numbers.Integral) and 0 <= v < 2**62]
    for v in span:
        steps.update((v, v + 1))
    if len(span) == 2 and span[1] > span[0]:
        steps.update(span[0] + (span[1] - span[0]) * k // 4 for k in (1, 2, 3))
    return sorted(steps)


def _check_schedule_values(schedule) -> None:
    """Refuse a schedule that asks for a NaN/inf or out-of-[0, 1) sparsity (a TF-MOT
    ``PolynomialDecay(power=nan)``, a custom schedule) before any work: ``fit`` would
    otherwise die inside a graph trace, or mask every weight."""
    name = type(schedule).__name__
    power = getattr(schedule, "power", None)
    if power is not None and (isinstance(power, bool) or not isinstance(power, numbers.Real)
                              or not math.isfinite(float(power)) or power <= 0):
        raise errors.ConfigError(
            f"schedule {name}: `power` must be a positive finite number, got power={power!r}. "
            "Use e.g. tfprune.schedules.AGP(0.8, end_step=..., power=3).")
    for step in _probe_steps(schedule):
        try:
            _, value = schedule(tf.constant(step, tf.int64))
            value = np.asarray(value, dtype=np.float64)
        except Exception:  # noqa: BLE001 - a schedule that only runs in a graph: not probed
            return
        bad = value[~((value >= 0.0) & (value < 1.0))]  # NaN fails both comparisons
        if bad.size:
            raise errors.ConfigError(
                f"schedule {name} asks for sparsity {float(bad.flat[0])!r} at step {step}; a "
                "schedule must give a sparsity in [0, 1) at every step. Check its arguments "
                f"({schedule!r}).")


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
    """Refuse calibration data holding NaN or inf, before any work
    (:func:`tfprune.data.check` without a model). A ``tf.data.Dataset`` or a generator is
    checked batch by batch as it is read (:func:`tfprune.data.batches`).

    Raises:
        DataError: naming where the first non-finite value is.

    Example:
        >>> check_finite(np.array([[1.0, np.nan]]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.DataError: `data` holds 1 NaN/inf value(s) ...
    """
    data_lib.check(None, data)


def _is_array(x) -> bool:
    return data_lib.is_array(x)


def check_data(model, data) -> None:
    """Check calibration ``data`` against ``model`` before any work (:func:`tfprune.data.check`:
    sample shape per input, strings, complex numbers, NaN/inf, unscaled integer images for a
    float input; a model holding an ``Embedding`` takes integer token ids).

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
    data_lib.check(model, data)


def check_labels(model, data, loss) -> None:
    """Check the labels of ``data`` against the model and ``loss`` before any work
    (:func:`tfprune.data.check`): one per sample, class ids (whole numbers, in range) for a
    ``sparse_*`` loss, one-hot rows for ``categorical_crossentropy``.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
        >>> check_labels(m, (np.zeros((2, 2)), np.array([0, 3])), "sparse_categorical_crossentropy")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.DataError: labels hold class 3, ...
    """
    data_lib.check(model, data, loss=loss)
