"""``prune``, ``one_shot`` and ``strip``: the model-level entry points.

Each returns a NEW model; the model passed in and its weights are never changed.
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_schedule as tfmot_schedules,
)
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_wrapper,
)

from tfprune.core import criteria as criteria_lib
from tfprune import errors, layers
from tfprune.compat import check_tf_keras_model, keras, keras3_io
from tfprune.masking import channels, pruner
from tfprune.masking.wrapper import (
    GRANULARITIES,
    MISSING_CALLBACK_MSG,
    PruningWrapper,
    _pair,
    check_layer,
)

__all__ = ["prune", "one_shot", "strip", "SCOPES"]

SCOPES = ("layer", "global")
DEFAULT_FREQUENCY = 100


# -- validation ---------------------------------------------------------------------
def _check_sparsity(value, arg="sparsity"):
    return errors.check_sparsity(value, arg)


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def _final_sparsity(schedule) -> float:
    for attr in ("final_sparsity", "target_sparsity", "sparsity"):
        if hasattr(schedule, attr):
            return float(getattr(schedule, attr))
    raise errors.ConfigError(
        f"scope={{...}} with schedule {type(schedule).__name__} needs its final sparsity: give the "
        "schedule a `final_sparsity` attribute, or pass `sparsity=` instead.")


def _check_layers(targets, crit, scope, granularity, n_m, block):
    """Refuse a criterion/granularity a target layer cannot take, before any work."""
    if granularity == "head":
        raise errors.ConfigError(
            "granularity='head' (whole MultiHeadAttention heads) is not implemented yet; "
            "use granularity='weight' on MultiHeadAttention, or 'channel' elsewhere.")
    if granularity not in GRANULARITIES:
        raise errors.unknown_name("granularity", granularity, GRANULARITIES)
    criteria_lib.check_granularity(crit, granularity)
    if granularity == "n:m" and scope == "global":
        raise errors.ConfigError("granularity='n:m' fixes the sparsity of every group (1 - N/M); "
                                 "it has no global ranking. Use scope='layer'.")
    n_m, block = _pair(n_m, "n_m"), _pair(block, "block")
    if n_m[0] >= n_m[1]:
        raise errors.ConfigError(f"n:m needs N < M (keep N of every M), got n_m={n_m!r}.")
    for layer in targets.values():
        check_layer(layer, crit, granularity, n_m, block)


def _resolve(model, sparsity, schedule, criterion, scope, exclude):
    """Validate everything before any work; return (schedule, criterion, plan)."""
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
    by_name = {layer.name: layer for layer in _all_layers(model)}
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
        if kernels and type(layer).__module__.split(".")[0] not in ("tf_keras", "keras"):
            warnings.warn(
                f"Layer {layer.name!r} ({type(layer).__name__}) holds a kernel "
                f"({kernels[0].name}) but is not prunable, so it is left dense. Declare it with "
                f"tfprune.register({type(layer).__name__}, weights=[...]) or implement "
                "get_prunable_weights().", stacklevel=4)


def _guard_training(model):
    """Make ``fit``/``train_on_batch`` without PruningCallback raise MissingCallbackError."""
    original = model.make_train_function

    def make_train_function(force=False):
        fn = original(force=force)
        if getattr(fn, "_tfprune_guarded", False):
            return fn

        def guarded(iterator):
            try:
                return fn(iterator)
            except tf.errors.InvalidArgumentError as exc:
                if MISSING_CALLBACK_MSG[:40] in str(exc):
                    raise errors.MissingCallbackError(MISSING_CALLBACK_MSG) from None
                raise

        guarded._tfprune_guarded = True
        model.train_function = guarded
        return guarded

    model.make_train_function = make_train_function
    return model


# -- cloning --------------------------------------------------------------------------
def _fresh(layer):
    return layer.__class__.from_config(layer.get_config())


def _inner(layer):
    return layer.layer if isinstance(layer, pruning_wrapper.PruneLowMagnitude) else layer


def _transform(model, make_layer):
    """Clone ``model`` (nested models too) with ``make_layer`` and copy the weights."""

    def clone_fn(layer):
        if isinstance(layer, keras.Model):
            return _transform(layer, make_layer)
        return make_layer(layer)

    new = keras.models.clone_model(model, clone_function=clone_fn)
    source = {_inner(lyr).name: _inner(lyr) for lyr in model.layers}
    for layer in new.layers:
        inner = _inner(layer)
        if isinstance(inner, keras.Model) or inner.name not in source:
            continue
        inner.set_weights(source[inner.name].get_weights())
    return new


@keras3_io(returns="model")
def prune(model, *, sparsity=None, schedule=None, criterion="magnitude", scope="layer",
          exclude=None, granularity=None, n_m=(2, 4), block=(4, 1)):
    """Return a new model whose prunable layers are wrapped for pruning.

    Train it with ``callbacks=[tfprune.callbacks.PruningCallback()]``; then
    :func:`strip` it (and :func:`tfprune.shrink` it, for ``"channel"``). The model passed
    in (and its weights) are not changed.

    Args:
        model: a built Sequential or Functional tf_keras model (nested models allowed).
        sparsity: constant target in [0, 1), applied from the first step.
        schedule: a ``PruningSchedule`` (tfprune.schedules or TF-MOT) saying when and
            how much; exactly one of ``sparsity``/``schedule``.
        criterion: name (``tfprune.criteria.available()``) or Criterion instance.
        scope: ``"layer"`` (every layer/group at the target), ``"global"`` (one ranking
            across layers/groups; one budget of weights meets the target) or
            ``{layer_name: sparsity}`` (only those layers or groups, each at its own
            final sparsity; the schedule gives the shape over time).
        exclude: layer names never pruned (``"channel"``: their output channels are kept).
        granularity: the unit removed: ``"weight"``, ``"n:m"`` (keep N of every M weights
            along the input-channel axis; sparsity is ``1 - N/M`` once the schedule is
            > 0), ``"block"`` (``block=(r, c)`` blocks of the kernel viewed as
            ``[inputs, outputs]``) or ``"channel"`` (whole channels of each dependency
            group, zeroed in every member: producer kernel and bias, BatchNormalization
            gamma/beta, depthwise slices, consumer input slices; ``tfprune.shrink`` after
            ``strip`` removes them). Default: the criterion's first granularity
            (``"weight"`` for magnitude, ``"channel"`` for l1/l2/fpgm/bn_scale and the
            activation criteria).
        n_m: ``(N, M)`` for ``"n:m"``.
        block: ``(r, c)`` for ``"block"``.

    Returns:
        A new tf_keras model with :class:`tfprune.masking.wrapper.PruningWrapper` layers.

    Raises:
        ConfigError, KerasVersionError, ModelTypeError, NothingToPruneError,
        UnsupportedLayerError, AlreadyPrunedError: before any work.

    Example:
        >>> import tfprune
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(2)])
        >>> p = tfprune.prune(m, sparsity=0.5)
        >>> [type(l).__name__ for l in p.layers]
        ['PruningWrapper', 'PruningWrapper']
    """
    return _prune(model, sparsity=sparsity, schedule=schedule, criterion=criterion,
                  scope=scope, exclude=exclude, granularity=granularity, n_m=n_m, block=block)


def _prune(model, *, sparsity, schedule, criterion, scope, exclude, granularity, n_m, block,
           options=None):
    check_tf_keras_model(model)
    errors.check_not_pruned(model)
    exclude = errors.check_layer_names("exclude", exclude, model)  # a str is ONE name
    n_m = errors.check_pair(n_m, "n_m")  # before 1 - N/M: a bad pair is blamed on n_m
    crit = criteria_lib.get(criterion)
    granularity = criteria_lib.resolve_granularity(granularity, crit)
    if granularity == "n:m" and sparsity is None and schedule is None and scope == "layer":
        sparsity = 1.0 - n_m[0] / n_m[1]
    schedule, crit, scales = _resolve(model, sparsity, schedule, crit, scope, exclude)
    by_name = {layer.name: layer for layer in _all_layers(model)}
    _check_layers({n: by_name[n] for n in scales}, crit, scope, granularity, n_m, block)
    mode = "global" if scope == "global" else "layer"
    if granularity == "channel":
        return _guard_training(_wrap_channels(model, schedule, crit, scope, exclude, scales,
                                              options or channels.ChannelOptions()))
    update = "external" if scope == "global" else "layer"

    def make_layer(layer):
        fresh = _fresh(layer)
        if layer.name in scales:
            return PruningWrapper(fresh, schedule, criterion=crit, update=update,
                                  sparsity_scale=scales[layer.name], granularity=granularity,
                                  n_m=n_m, block=block, scope=mode)
        return fresh

    return _guard_training(_transform(model, make_layer))


def _wrap_channels(model, schedule, crit, scope, exclude, scales, options):
    """``granularity="channel"``: wrap every layer holding a channel of a prunable group."""
    from tfprune import graph as graph_lib

    g = graph_lib.build(model, exclude=exclude)
    groups = g.prunable()
    if isinstance(scope, dict):
        groups = [x for x in groups if x.name in scope]
    if not groups:
        raise errors.NothingToPruneError(
            f"Model {model.name!r} has no prunable channel group (every group is tied to a "
            "model input/output or an excluded layer); print(tfprune.graph.build(model)) "
            "shows why.")
    maps = channels.channel_maps(g, groups)
    roles = channels.scored_roles(crit, options)
    mode = "global" if scope == "global" else "layer"

    def make_layer(layer):
        fresh = _fresh(layer)
        entries = maps.get(id(layer))
        if not entries:
            return fresh
        names = list(dict.fromkeys(e["weight"] for e in entries))
        return PruningWrapper(fresh, schedule, criterion=crit, weights=names,
                              update="external", sparsity_scale=scales.get(layer.name, 1.0),
                              granularity="channel", channel_map=entries, scope=mode,
                              scored=any(e["role"] in roles for e in entries))

    return _transform(model, make_layer)


@keras3_io(returns="model")
def one_shot(model, sparsity=None, *, criterion="magnitude", scope="layer", exclude=None,
             data=None, loss=None, granularity=None, n_m=(2, 4), block=(4, 1),
             max_batches=None):
    """Prune once, with no training: a new wrapped model with masks applied.

    The result keeps its masks if you fine-tune it with ``PruningCallback`` (the
    schedule is constant at ``sparsity``); ``strip()`` gives the plain model.
    Data-driven criteria record their statistics from ``data`` first (gradient
    criteria also need labels and ``loss``); ``obs`` also updates the kept weights,
    layer after layer.

    Args:
        model: a built Sequential or Functional tf_keras model.
        sparsity: target in [0, 1); may be omitted with a dict ``scope`` or ``n:m``.
        criterion: name or Criterion instance.
        scope: ``"layer"``, ``"global"`` or ``{layer_name: sparsity}``.
        exclude: layer names never pruned.
        data: calibration data for criteria that need it (``criterion.needs_data``):
            ``x`` or ``(x, y)`` arrays (cut in batches of 64), a list of batches, or a
            ``tf.data.Dataset``.
        loss: loss for gradient criteria (default: the model's compiled loss).
        granularity, n_m, block: as for :func:`prune` (``"channel"``: the result strips
            and shrinks to a smaller model).
        max_batches: use at most this many calibration batches.

    Raises:
        ConfigError: a data criterion without ``data``, a gradient criterion without
            labels or loss, an unknown loss, before any work.
        DataError: ``data`` does not fit the model (sample shape, strings, NaN/inf,
            unscaled integer images) or labels do not fit it, before any work.
        AlreadyPrunedError: ``model`` already holds pruning wrappers.

    Example:
        >>> import tfprune
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((10,)), keras.layers.Dense(10)])
        >>> p = tfprune.one_shot(m, 0.7)
        >>> round(float((p.layers[0].layer.kernel.numpy() == 0).mean()), 2)
        0.7
    """
    return _one_shot(model, sparsity, criterion=criterion, scope=scope, exclude=exclude,
                     data=data, loss=loss, granularity=granularity, n_m=n_m, block=block,
                     max_batches=max_batches)


def _one_shot(model, sparsity, *, criterion, scope, exclude, data, loss, granularity, n_m,
              block, max_batches, options=None):
    check_tf_keras_model(model)
    errors.check_not_pruned(model)
    crit = criteria_lib.get(criterion)
    if crit.needs_data and data is None:
        raise errors.ConfigError(
            f"criterion {crit.name!r} scores weights from data: pass data=(x batches) to "
            "one_shot, or choose a weight-only criterion such as 'magnitude'.")
    if data is not None:
        pruner.check_data(model, data)
    loss = pruner.resolve_loss(model, loss, crit)
    if data is not None and getattr(crit, "needs_labels", False):
        pruner.check_labels(model, data, loss)
    n_m = errors.check_pair(n_m, "n_m")
    granularity = criteria_lib.resolve_granularity(granularity, crit)
    if granularity == "n:m" and sparsity is None and not isinstance(scope, dict):
        sparsity = 1.0 - n_m[0] / n_m[1]
    pruned = _prune(model, sparsity=sparsity, schedule=None, criterion=crit, scope=scope,
                    exclude=exclude, granularity=granularity, n_m=n_m, block=block,
                    options=options)
    mode = "global" if scope == "global" else "layer"
    kw = {"channel_options": options}
    compensate = hasattr(crit, "compensate")
    if not crit.needs_data:
        pruner.update_masks(pruned, step=0, scope=mode, **kw)
    elif compensate and getattr(crit, "sequential", False) and mode == "layer":
        for w in pruner.wrapped_layers(pruned):
            pruner.gather(pruned, data, loss=loss, layers=[w], max_batches=max_batches)
            pruner.update_masks(pruned, step=0, scope=mode, compensate=True, layers=[w])
    else:
        pruner.gather(pruned, data, loss=loss, max_batches=max_batches)
        pruner.update_masks(pruned, step=0, scope=mode, compensate=compensate, **kw)
    pruner.set_step(pruned, 0)
    return pruned


@keras3_io(returns="model")
def strip(model):
    """Return a new plain model: wrappers removed, masks applied (pruned weights are 0).

    Accepts TF-MOT's wrappers too. The model passed in is not changed, and the result
    shares no variables with it.

    Example:
        >>> import tfprune
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(6)])
        >>> plain = tfprune.strip(tfprune.one_shot(m, 0.5))
        >>> type(plain.layers[0]).__name__, int((plain.layers[0].kernel.numpy() == 0).sum())
        ('Dense', 18)
    """
    check_tf_keras_model(model)
    masked = {}
    for w in pruner.wrapped_layers(model):
        masked[w.layer.name] = [
            (i, np.asarray(keras.backend.get_value(wt)) * np.asarray(keras.backend.get_value(m)))
            for i, (wt, m, _) in enumerate(w.pruning_vars)]
        masked[w.layer.name + "/vars"] = [wt for wt, _, _ in w.pruning_vars]

    def make_layer(layer):
        return _fresh(_inner(layer))

    plain = _transform(model, make_layer)
    for layer in _all_layers(plain):
        if layer.name not in masked:
            continue
        src_vars = masked[layer.name + "/vars"]
        # same variable order as the source layer's weights
        src_layer = next(w.layer for w in pruner.wrapped_layers(model) if w.layer.name == layer.name)
        order = {id(v): j for j, v in enumerate(src_layer.weights)}
        for i, value in masked[layer.name]:
            layer.weights[order[id(src_vars[i])]].assign(value)
    return plain
