"""``prune``, ``one_shot`` and ``strip``: the model-level entry points.

Each returns a NEW model; the model passed in and its weights are never changed.
"""

from __future__ import annotations

from tfprune import errors
from tfprune.compat import check_tf_keras_model, keras3_io
from tfprune.core import criteria as criteria_lib
from tfprune.layers import leaf_layers
from tfprune.masking import arguments, channels, pruner, refit, subclassed, wrap
from tfprune.masking import granularity as granularity_lib
from tfprune.masking import keras3_subclassed as k3sub
from tfprune.masking import scope as scope_lib
from tfprune.masking.scope import SCOPES
from tfprune.masking.validate import (  # noqa: F401  (DEFAULT_FREQUENCY: public)
    DEFAULT_FREQUENCY,
    check_layers,
    resolve_args,
)

__all__ = ["prune", "one_shot", "strip", "SCOPES", "one_shot_functional"]


@arguments.accepts_deprecated(*arguments.GRANULARITY_KEYWORDS)  # n_m=, block= until 0.4
@k3sub.serves(k3sub.prune)  # a subclassed Keras 3 model: masks beside its layers
@keras3_io(returns="model")
def prune(model, *, sparsity=None, schedule=None, criterion="magnitude", scope="layer",
          exclude=None, granularity=None, inplace=False):
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
            across layers/groups; one budget of weights meets the target) or any mapping
            ``{layer_name: sparsity}`` (only those layers or groups, each at its own
            final sparsity; the schedule gives the shape over time) -- an
            :class:`~tfprune.analysis.allocate.Allocation` is one, and gives its
            granularity when ``granularity`` is not passed. Resolved once by
            :func:`tfprune.masking.scope.resolve`.
        exclude: layer names never pruned (``"channel"``: their output channels are kept).
        granularity: the unit removed, one value (a string or a
            :class:`tfprune.Granularity`): ``"weight"``, ``"N:M"`` such as ``"2:4"`` or
            ``"1:4"`` (keep N of every M weights along the input-channel axis; its
            sparsity is ``1 - N/M`` once the schedule is > 0: an explicit ``sparsity``
            (or scope value) that differs is refused; ``"n:m"`` is ``"2:4"``),
            ``"block:RxC"`` such as ``"block:8x1"`` (``R x C`` blocks of the kernel
            viewed as ``[inputs, outputs]``; ``"block"`` is ``"block:4x1"``), ``"channel"`` (whole channels of each dependency
            group, zeroed in every member: producer kernel and bias, BatchNormalization
            gamma/beta, depthwise slices, consumer input slices; ``tfprune.shrink`` after
            ``strip`` removes them) or ``"head"`` (whole heads of every
            MultiHeadAttention: query/key/value kernel and bias slices and the
            output-projection slice of a head; other layers are left dense;
            ``tfprune.shrink`` after ``strip`` lowers ``num_heads``). Default: the
            criterion's first granularity
            (``"weight"`` for magnitude, ``"channel"`` for l1/l2/fpgm/bn_scale and the
            activation criteria).
        inplace: subclassed models only (:mod:`tfprune.masking.subclassed`): wrap the
            layers of ``model`` itself instead of a copy.

    The keywords ``n_m=(N, M)`` and ``block=(r, c)`` are deprecated (removed in 0.4):
    write ``granularity="N:M"`` / ``granularity="block:RxC"``.

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
    request = arguments.Request(sparsity=sparsity, schedule=schedule, criterion=criterion,
                                scope=scope, exclude=exclude, granularity=granularity,
                                inplace=inplace)
    if subclassed.is_subclassed(model):  # no graph: wrappers replace its layer attributes
        return subclassed.prune(model, request)
    subclassed.check_inplace(inplace)
    _check_measured(model, criterion, granularity)
    return _prune(model, request)


def _check_measured(model, criterion, granularity):
    """A measured criterion (``"sensitivity"``) chooses masks from a model-level
    measurement on calibration data: ``prune`` needs it carried by the criterion
    (``Sensitivity(data=(x, y))``), checked here before any work."""
    crit = criteria_lib.get(criterion)
    if not crit.measured:
        return
    data = crit.data
    if data is not None:
        pruner.check_data(model, data)
        pruner.check_labels(model, data, pruner.resolve_loss(model, crit.loss, crit))
        return
    unit = criteria_lib.resolve_granularity(granularity, crit)
    if unit not in crit.granularities:
        return  # _prune refuses it, naming the granularities the criterion supports
    raise errors.ConfigError(
        f"criterion {crit.name!r} measures the loss with each {unit} removed on calibration "
        "data when the masks are chosen; prune() has no data. Give it to the criterion: "
        f"tfprune.prune(model, ..., granularity={unit!r}, "
        "criterion=tfprune.criteria.Sensitivity(data=(x_cal, y_cal))) (measured again at "
        f"every mask update), or prune at once: tfprune.one_shot(model, sparsity, "
        f"criterion={crit.name!r}, granularity={unit!r}, data=(x, y)).")


def _prune(model, request, *, options=None, fixed=False):
    """:func:`prune` of a Functional or Sequential model: the call's arguments in
    ``request`` (a :class:`tfprune.masking.arguments.Request`); ``fixed``: one-shot
    (a ``OneShot`` schedule at step 0); ``options``: the channel choice's."""
    check_tf_keras_model(model)
    errors.check_not_pruned(model)
    exclude = errors.check_layer_names("exclude", request.exclude, model)  # a str is ONE name
    crit = criteria_lib.get(request.criterion)
    scope, strategy, unit = _scope_and_granularity(request.scope, request.granularity, crit)
    sparsity = _nm_sparsity(unit, request.sparsity, request.schedule, scope)
    schedule, crit, scales = resolve_args(model, sparsity, request.schedule, crit, scope,
                                          exclude, fixed)
    by_name = {layer.name: layer for layer in leaf_layers(model)}
    check_layers({n: by_name[n] for n in scales}, crit, scope, strategy.name, unit.n_m,
                 unit.block)
    return wrap.wrap(model, wrap.WrapSpec(schedule, crit, scope, exclude, scales, strategy, unit,
                                          options))


def _scope_and_granularity(scope, granularity, crit):
    """The one resolution of ``scope`` (:func:`tfprune.masking.scope.resolve`) and of the
    granularity: ``(scope, strategy, Granularity)``; an ``Allocation`` gives its
    granularity when none is asked."""
    unit = granularity_lib.spec(granularity, crit, scope=scope)
    strategy = granularity_lib.get(unit.name)
    return scope_lib.resolve(scope, strategy.name), strategy, unit


def _nm_sparsity(unit, sparsity, schedule, scope):
    """N:M fixes the sparsity at ``1 - N/M``: the default when none is given; an explicit
    sparsity (or a scope value) that differs is refused, naming both arguments."""
    if unit.name != "n:m":
        return sparsity
    fixed, (n, m) = unit.sparsity, unit.n_m
    if sparsity is None and schedule is None and not scope.is_mapping:
        return fixed
    given = [("sparsity", sparsity)] if sparsity is not None else []
    given += [(f"scope[{k!r}]", v) for k, v in (scope.targets or {}).items()]
    for arg, value in given:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 \
                and abs(float(value) - fixed) > 1e-6:
            raise errors.ConfigError(
                f"granularity={str(unit)!r} keeps {n} of every {m} weights (n_m={(n, m)}): "
                f"its sparsity is 1 - N/M = {fixed:g}, but {arg}={value!r} was passed. "
                f"Leave {arg.split('[')[0]} out (or pass {fixed:g}), or choose N:M for the "
                "sparsity you want (e.g. granularity='1:4' for 0.75), or "
                "granularity='weight' for an exact sparsity.")
    return sparsity


@arguments.accepts_deprecated(*arguments.GRANULARITY_KEYWORDS,
                                *arguments.CALIBRATION_KEYWORDS)  # until 0.4
@k3sub.serves(k3sub.one_shot)  # a subclassed Keras 3 model: masks beside its layers
@keras3_io(returns="model")
def one_shot(model, sparsity=None, *, criterion="magnitude", scope="layer", exclude=None,
             data=None, granularity=None, inplace=False):
    """Prune once, with no training: a new wrapped model with masks applied.

    The result keeps its masks if you fine-tune it with ``PruningCallback`` (its
    schedule is ``tfprune.schedules.OneShot(sparsity, step=0)``: no later mask update,
    so no statistics are gathered during fine-tuning); ``strip()`` gives the plain model.
    Data-driven criteria record their statistics from ``data`` first (gradient
    criteria also need labels and a loss); ``obs`` also updates the kept weights,
    layer after layer.

    Args:
        model: a built Sequential or Functional tf_keras model.
        sparsity: target in [0, 1); may be omitted with a mapping ``scope`` or ``"N:M"``
            (whose sparsity is ``1 - N/M``; another explicit value is refused).
        criterion: name or Criterion instance.
        scope: ``"layer"``, ``"global"`` or any mapping ``{layer_name: sparsity}`` (an
            ``Allocation`` included), as for :func:`prune`.
        exclude: layer names never pruned.
        data: calibration data for criteria that need it (``criterion.needs_data``):
            ``x`` or ``(x, y)`` arrays (cut in batches of 64), a list of batches, or a
            ``tf.data.Dataset``; or a :class:`tfprune.Calibration` holding it with the
            options that need data:

            * ``loss``: loss for gradient criteria (default: the model's compiled loss);
            * ``max_batches``: use at most this many calibration batches;
            * ``compensate=True``: repairs what the cut changed, without training. At
              ``granularity="channel"``: re-fit every layer that consumes a pruned group
              by least squares on the calibration inputs, layer after layer, so that its
              pre-activation output matches the original model's
              (:func:`tfprune.masking.refit.refit_pruned`; what OBS does for single
              weights, applied to whole channels), then re-estimate BatchNormalization
              statistics. At the other granularities: re-estimate the moving mean and
              variance of every BatchNormalization on the calibration inputs of the
              pruned model (:func:`tfprune.masking.refit.recalibrate_bn`; the weights
              stay as the criterion left them). A model without BatchNormalization is
              unchanged there. The result keeps more accuracy without fine-tuning and
              still strips (and, for channels, shrinks) exactly.
        granularity: as for :func:`prune` (``"channel"``: the result strips and shrinks
            to a smaller model).
        inplace: subclassed models only: prune ``model`` itself instead of a copy.

    The keywords ``n_m=``/``block=`` (write ``granularity="N:M"``/``"block:RxC"``) and
    ``loss=``/``max_batches=``/``compensate=`` (write ``data=tfprune.Calibration(x, ...)``)
    are deprecated (removed in 0.4).

    Raises:
        ConfigError: a data criterion without ``data``, a gradient criterion without
            labels or loss, an unknown loss, ``compensate=True`` without ``data``, before
            any work.
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
    cal = arguments.of(data)
    if subclassed.is_subclassed(model) and not cal.compensate:
        return subclassed.one_shot(model, arguments.Request(
            sparsity=sparsity, criterion=criterion, scope=scope, exclude=exclude, data=cal,
            granularity=granularity, inplace=inplace))
    subclassed.check_inplace(inplace)
    _check_compensate(cal)
    pruned = one_shot_functional(model, sparsity, criterion=criterion, scope=scope,
                                 exclude=exclude, data=cal, granularity=granularity)
    if not cal.compensate:
        return pruned
    if _scope_and_granularity(scope, granularity, criteria_lib.get(criterion))[1].name == "channel":
        refit.refit_pruned(model, pruned, strip(pruned), cal.data, cal.max_batches)
    else:
        refit.recalibrate_bn(pruned, refit.inputs_array(cal.data, cal.max_batches))
    return pruned


def _check_compensate(cal) -> None:
    """Refuse a ``compensate`` that is not a bool, or True without data (or too few
    samples), before any work."""
    compensate = cal.compensate
    if compensate not in (True, False):
        raise errors.ConfigError(f"compensate must be True or False, got {compensate!r}.")
    if compensate and cal.data is None:
        raise errors.ConfigError(
            "compensate=True re-fits layers and re-estimates BatchNormalization statistics on "
            "calibration inputs: pass data=tfprune.Calibration(x, compensate=True) (x or "
            "(x, y), batches, a tf.data.Dataset; 256+ samples).")
    if compensate:
        refit.check_samples(refit.inputs_array(cal.data, cal.max_batches))


def one_shot_functional(model, sparsity, *, criterion, scope, exclude, data, granularity,
                        options=None):
    """:func:`one_shot` of a Functional or Sequential model without ``compensate``, with the
    channel choice's ``options`` (:class:`tfprune.masking.channels.ChannelOptions`; what
    ``structured.plan`` passes). Every argument is passed explicitly; ``data`` is the data
    or a :class:`tfprune.Calibration`.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4)])
        >>> p = one_shot_functional(m, 0.5, criterion="magnitude", scope="layer", exclude=None,
        ...                         data=None, granularity=None)
        >>> pruner.sparsity_report(p)["sparsity"]
        0.5
    """
    check_tf_keras_model(model)
    errors.check_not_pruned(model)
    crit = criteria_lib.get(criterion)
    cal = arguments.of(data)
    data, max_batches = cal.data, cal.max_batches
    if crit.needs_data and data is None:
        what = "data=(x, y) (inputs and labels)" if crit.needs_labels else "data=(x batches)"
        raise errors.ConfigError(
            f"criterion {crit.name!r} scores weights from data: pass {what} to "
            "one_shot, or choose a weight-only criterion such as 'magnitude'.")
    if data is not None:
        pruner.check_data(model, data)
    loss = pruner.resolve_loss(model, cal.loss, crit)
    if data is not None and crit.needs_labels:
        pruner.check_labels(model, data, loss)
    pruned = _prune(model, arguments.Request(sparsity=sparsity, criterion=crit, scope=scope,
                                         exclude=exclude, granularity=granularity),
                    options=options, fixed=True)
    resolved_scope, strategy, _ = _scope_and_granularity(scope, granularity, crit)
    ranking, unit = resolved_scope.ranking, strategy.name
    kw = {"scope": ranking, "channel_options": options}
    if crit.measured:  # "sensitivity": measured on the whole model
        channels.measure(model, pruner.wrapped_layers(pruned), data, loss=loss, exclude=exclude,
                         max_batches=max_batches, max_samples=crit.max_samples)
        pruner.update_masks(pruned, step=0, **kw)
    elif not crit.needs_data:
        pruner.update_masks(pruned, step=0, **kw)
    elif (crit.compensates and crit.sequential and ranking == "layer"
          and unit not in pruner.GROUPED):  # a group is chosen once, not per layer
        for w in pruner.wrapped_layers(pruned):
            pruner.gather(pruned, data, loss=loss, layers=[w], max_batches=max_batches)
            pruner.update_masks(pruned, step=0, scope=ranking, compensate=True, layers=[w])
    else:
        pruner.gather(pruned, data, loss=loss, max_batches=max_batches)
        pruner.update_masks(pruned, step=0, compensate=crit.compensates, **kw)
    pruner.set_step(pruned, 0)
    return pruned


@k3sub.serves(k3sub.strip)  # a subclassed Keras 3 model: masks beside its layers
@keras3_io(returns="model")
def strip(model, *, inplace=False):
    """Return a new plain model: wrappers removed, masks applied (pruned weights are 0).

    Accepts TF-MOT's wrappers too. The model passed in is not changed, and the result
    shares no variables with it.
    A subclassed model gives back its own class (``inplace=True``: the model passed in,
    unwrapped; :func:`tfprune.masking.subclassed.strip`).

    Example:
        >>> import tfprune
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(6)])
        >>> plain = tfprune.strip(tfprune.one_shot(m, 0.5))
        >>> type(plain.layers[0]).__name__, int((plain.layers[0].kernel.numpy() == 0).sum())
        ('Dense', 18)
    """
    if subclassed.is_subclassed(model):
        return subclassed.strip(model, inplace=inplace)
    subclassed.check_inplace(inplace)
    check_tf_keras_model(model)
    return wrap.unwrap(model)
