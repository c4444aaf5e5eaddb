"""Sensitivity analysis: how much the metric moves when one layer or group is pruned alone.

For every prunable layer (``granularity="weight"``), every prunable dependency
group (``granularity="channel"``: a channel is zeroed everywhere it lives, so a
coupled layer is never measured alone) or every ``MultiHeadAttention``
(``granularity="head"``: whole heads, each zeroed in its query/key/value kernel and bias
slices and its output-projection slice), each level of ``levels`` is applied in place
on ONE working copy of the model, the metric is measured on cached batches by one
compiled function, and the weights are restored. The user's model is not touched.
A model with several outputs is measured by its compiled total loss or by one output's
metric (:mod:`tfprune.analysis.outputs`); a subclassed tf_keras model at weight granularity.
At channel granularity the tool is :class:`tfprune.measure.probe.ChannelProbe` (the one behind
``criterion="sensitivity"``): a group lying after a single-tensor cut point may be evaluated from the
cut, on activations computed once (same values, less work; :mod:`tfprune.measure.cutpoints`
chooses the cuts that minimise the predicted scan time).

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="h"),
    ...                       keras.layers.Dense(3, name="out")])
    >>> m.compile(loss="sparse_categorical_crossentropy")
    >>> x, y = np.random.rand(64, 4).astype("float32"), np.arange(64) % 3
    >>> r = sensitivity(m, (x, y), levels=(0.5, 0.9), progress=False)
    >>> sorted(r.curves), len(r.curves["h"])
    (['h', 'out'], 2)
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

from tfprune import deprecations, errors
from tfprune.analysis import heads, weight_units
from tfprune.analysis import outputs as outputs_lib
from tfprune.analysis.result import SensitivityResult
from tfprune.compat import keras, keras3_io
from tfprune.core import criteria as criteria_lib
from tfprune.core import masks as masks_lib
from tfprune.masking import channels, slots, subclassed
from tfprune.masking import keras3_slots as slots3
from tfprune.masking.keras3_subclassed import serves
from tfprune.measure import cutpoints, probe

__all__ = ["sensitivity", "SensitivityOptions", "SensitivityResult", "GRANULARITIES", "channel_criterion", "group_scores",
           "channel_loss_delta"]

#: The granularities sensitivity measures: those of tfprune's one table whose units are a
#: layer's weights, a dependency group's channels or a layer's heads (n:m and block are
#: per-weight patterns of the same layers), in the table's order.
GRANULARITIES = tuple(g for g in criteria_lib.GRANULARITIES if g in ("weight", "channel", "head"))
_KEYWORDS = ("granularity", "levels", "criterion", "metric", "progress", "options")
METRICS = ("loss", "accuracy", "mae", "mse", "rmse")
MIN_SAMPLES = probe.MIN_SAMPLES


# -- validation -------------------------------------------------------------------------
def check_levels(levels) -> tuple:
    """Levels as a tuple of floats, strictly increasing, each in (0, 1)."""
    try:
        out = tuple(float(s) for s in levels)
    except (TypeError, ValueError):
        raise errors.ConfigError(
            f"levels must be a sequence of sparsities such as (0.25, 0.5, 0.75, 0.9), "
            f"got {levels!r}.") from None
    if not out:
        raise errors.ConfigError("levels is empty: give e.g. levels=(0.25, 0.5, 0.75, 0.9).")
    bad = [s for s in out if not 0.0 < s < 1.0]
    if bad:
        raise errors.ConfigError(f"levels must be in (0, 1) (fractions removed), got {bad}.")
    if any(b <= a for a, b in zip(out, out[1:], strict=False)):
        raise errors.ConfigError(f"levels must be strictly increasing, got {list(out)}.")
    return out


def evaluator(model, batches, fn):
    """A tf.function ``() -> metric`` over the cached batches, traced once
    (:func:`tfprune.measure.probe.compile_metric`)."""
    return probe.compile_metric(model, batches, fn)


# -- units: what is zeroed per unit and level --------------------------------------------
def channel_criterion(criterion):
    """The Criterion ranking channels without data: any registered criterion with a
    channel form that needs no data (``"magnitude"``, ``"l1"``, ``"l2"``, ``"fpgm"``, ...).

    Example:
        >>> channel_criterion("taylor")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: granularity='channel' here ranks channels by a ...
    """
    crit = criteria_lib.get(criterion)
    criteria_lib.check_granularity(crit, "channel")
    if crit.needs_data:
        raise errors.ConfigError(
            f"granularity='channel' here ranks channels by a criterion that needs no data, "
            f"such as 'l1', 'l2' or 'magnitude'; {crit.name!r} needs data. For the measured "
            "per-channel loss increase use channel_loss_delta(model, data).")
    return crit


def group_scores(graph, groups, criterion="magnitude") -> dict:
    """Group index -> per-channel score (float64) by ``criterion``: the registry's group
    score of ``one_shot(granularity="channel")`` on the plain layers
    (:func:`tfprune.masking.channels.group_scores`: per-weight scores summed over each
    channel's slices and over the group's producer members; ``"l1"``/``"magnitude"``:
    summed ``|w|``, ``"l2"``: summed ``w^2``). Used by sensitivity and
    ``Allocation.plan`` alike."""
    crit = channel_criterion(criterion)
    opts = channels.ChannelOptions()
    members = channels.groups_of(channels.plain_members(graph, groups, crit, opts))
    scores = channels.group_scores(members, crit, opts)
    return {grp.index: np.asarray(scores[grp.name], np.float64) for grp in groups
            if grp.name in scores}


def _working_copy(model):
    work = keras.models.clone_model(model)
    work.set_weights(model.get_weights())
    return work


def _progress(progress):
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return bool(progress)


@dataclasses.dataclass(frozen=True)
class SensitivityOptions:
    """Advanced options of :func:`sensitivity`.

    Attributes:
        max_batches: use at most this many batches of ``data`` (None: all).
        recalibrate_bn: channel and head granularity: measure each point as if the
            BatchNormalization statistics were re-estimated after the removal
            (:class:`tfprune.measure.probe.ChannelProbe`); ``"auto"``: when the model has
            BatchNormalization. Otherwise a removal also shifts every later BatchNormalization's
            input against the dense statistics: damage that fine-tuning removes.

    Example:
        >>> SensitivityOptions(max_batches=4)
        SensitivityOptions(max_batches=4, recalibrate_bn='auto')
    """

    max_batches: int | None = None
    recalibrate_bn: bool | str = "auto"


def _options(options, deprecated) -> SensitivityOptions:
    """``options`` with the deprecated ``max_batches=``/``recalibrate_bn=`` folded in."""
    return deprecations.fold_options("analysis.sensitivity", options, SensitivityOptions,
                                     deprecated, valid=_KEYWORDS,
                                     stacklevel=7)  # past sensitivity, keras3_io and serves


@serves()  # a subclassed Keras 3 model is measured as it is (not translated)
@keras3_io()
def sensitivity(model, data, *, granularity: str = "weight", levels=(0.25, 0.5, 0.75, 0.9),
                criterion="magnitude", metric="loss", progress=None,
                options: SensitivityOptions | None = None, **deprecated) -> SensitivityResult:
    """Measure the metric with each layer (or dependency group) pruned alone at each level.

    Args:
        model: a built tf_keras or Keras 3 model, one output or several (not modified).
            A subclassed tf_keras model is measured at ``granularity="weight"`` on a copy
            (``type(model).from_config(model.get_config())``); channels and heads need the
            layer graph it does not have and are refused; the same for a subclassed Keras 3
            model (measured with its own Keras 3 layers).
        data: ``(x, y)`` arrays (batches of 64), a list of ``(x, y)`` batches or a
            ``tf.data.Dataset`` of ``(x, y)``; at least 8 samples.
        granularity: ``"weight"`` (per prunable layer, top-k by ``criterion`` within the
            layer), ``"channel"`` (per prunable dependency group; channels ranked by the
            summed filter norm of the group's members and zeroed everywhere they live) or
            ``"head"`` (per ``MultiHeadAttention``, unit = the layer's name, size = its
            ``num_heads``; heads ranked by ``criterion`` summed over the head's
            query/key/value/output kernel slices, exactly as ``one_shot(granularity="head")``
            ranks them, and the weakest ``n - kept_count(n, level)`` removed whole).
        levels: increasing sparsities in (0, 1).
        criterion: ``"magnitude"`` (weight: ``|w|``; channel: L1 filter norm), a
            weight-only criterion name (weight or head, e.g. ``"l1"``, ``"l2"``,
            ``"magnitude"``) or ``"l1"``/``"l2"`` (channel).
        metric: ``"loss"`` (the compiled loss; lower is better), ``"accuracy"`` (class
            scores and binary outputs), ``"mae"``/``"mse"``/``"rmse"`` (values), another
            Keras metric function name, or a callable ``(y_true, y_pred) -> scalar`` (lower
            is better unless it has an attribute ``higher_is_better = True``). What the
            output is comes from :mod:`tfprune.task` (compiled loss and metrics, activation,
            labels); a metric that cannot apply to it is refused before the scan. Several
            outputs (:mod:`tfprune.analysis.outputs`): ``"loss"`` is the compiled total loss
            (``loss_weights`` applied); ``"<output>_<metric>"`` (``"cls_accuracy"``,
            ``"reg_mae"``) or ``{"<output>": metric}`` measures one output; the labels are
            ``[y_a, y_b]`` in output order or ``{"a": y_a, "b": y_b}``.
        progress: show a tqdm bar (default: when stderr is a terminal).
        options: :class:`SensitivityOptions` (``max_batches``, ``recalibrate_bn``).
        **deprecated: ``max_batches=``, ``recalibrate_bn=`` (tfprune 0.2, until 0.4, with a
            DeprecationWarning): use ``options=SensitivityOptions(...)``. Any other keyword
            is refused.

    Returns:
        A :class:`SensitivityResult`.

    Raises:
        ConfigError: bad levels, granularity, criterion, metric or keyword, data without labels or
            with fewer than 8 samples — all before the scan.
        NothingToPruneError: nothing prunable at this granularity (``"head"``: no
            MultiHeadAttention), before the scan.

    Example:
        >>> import numpy as np
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
        >>> x, y = np.random.rand(32, 4).astype("float32"), np.arange(32) % 3
        >>> r = sensitivity(m, (x, y), levels=(0.5,), metric="accuracy", progress=False)
        >>> r.metric, list(r.curves)
        ('accuracy', ['d'])

        Attention heads (``granularity="head"``): one curve per MultiHeadAttention.

        >>> i = keras.Input((5, 8))
        >>> a = keras.layers.MultiHeadAttention(4, 4, name="att")(i, i)
        >>> out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(a))
        >>> att = keras.Model(i, out)
        >>> xs = np.random.rand(16, 5, 8).astype("float32")
        >>> r = sensitivity(att, (xs, np.arange(16) % 3), granularity="head", levels=(0.5,),
        ...                 metric="accuracy", progress=False)
        >>> r.sizes, r.members
        ({'att': 4}, {'att': ['att']})
    """
    options = _options(options, deprecated)
    levels = check_levels(levels)
    if data is None:
        raise errors.ConfigError(
            "sensitivity() measures the metric on data: pass data=(x, y) arrays (or batches "
            "of (x, y), or a tf.data.Dataset of them); got None.")
    if granularity not in GRANULARITIES:
        raise errors.unknown_name("granularity", granularity, GRANULARITIES)
    if not isinstance(model, keras.Model) and not slots3.is_keras3_subclassed(model):
        raise errors.ModelTypeError(
            f"sensitivity() expects a tf_keras Model, got {type(model).__name__}.")
    work = view = None
    if slots.is_subclassed(model) or slots3.is_keras3_subclassed(model):
        work, view = _subclassed_copy(model, granularity)
    elif granularity == "head":
        heads.head_criterion(criterion)
        heads.check_heads(model)
    batches, measure = outputs_lib.prepare(model, data, metric, options.max_batches, view)
    fn, name, higher = measure.fn, measure.name, measure.higher_is_better
    from tqdm.auto import tqdm

    recalibrate_bn = options.recalibrate_bn
    if recalibrate_bn == "auto":
        recalibrate_bn = probe.has_batch_norm(model) and granularity != "weight"
    if granularity == "weight":
        scan = _weight_scan(model, batches, fn, criterion, levels, work=work, view=view)
    elif granularity == "head":
        scan = heads.scan(model, batches, fn, higher, criterion, levels, bool(recalibrate_bn))
    else:
        scan = _channel_scan(model, batches, fn, higher, criterion, levels, bool(recalibrate_bn))
    start = time.perf_counter()
    baseline, total, points = next(scan)
    curves, sizes, members = {}, {}, {}
    bar = tqdm(total=total * len(levels), desc=f"sensitivity ({granularity})",
               disable=not _progress(progress), leave=False)
    try:
        for uname, unit_members, size, value in points:
            curves.setdefault(uname, []).append(value)
            members[uname], sizes[uname] = unit_members, size
            bar.update(1)
    finally:
        bar.close()
    crit_name = criterion if isinstance(criterion, str) else getattr(criterion, "name", "custom")
    return SensitivityResult(granularity, levels, name, higher, baseline, curves, sizes,
                             members, str(crit_name), sum(len(b[0]) for b in batches),
                             time.perf_counter() - start,
                             recalibrate_bn=granularity != "weight" and bool(recalibrate_bn),
                             model=model)


def _nothing(model, granularity, graph=None):
    return errors.NothingToPruneError(
        f"Model {model.name!r} has nothing prunable at granularity={granularity!r}"
        + (" (no Dense/Conv-like layer)." if granularity == "weight" else
           f": {graph.why_none_prunable()}. print(tfprune.graph.build(model)) shows every "
           "group."))


def _subclassed_copy(model, granularity):
    """``(copy, functional view of the copy)`` of a subclassed model, measured at weight
    granularity (channels and heads need the layer graph it does not have: refused)."""
    subclassed.check_graph_free(model, granularity)
    k3 = slots3.is_keras3_subclassed(model)
    try:
        work = (slots3.copy_model if k3 else slots.copy_model)(model)
    except errors.ModelTypeError as exc:
        raise errors.ModelTypeError(
            f"sensitivity() measures a copy of subclassed model {model.name!r} "
            f"({type(model).__name__}) and could not make one: {exc.__cause__ or exc}. "
            f"Implement get_config() in {type(model).__name__} (returning its __init__ "
            "arguments) so that type(model).from_config(model.get_config()) rebuilds it.") \
            from exc
    return work, (slots3.functional_view if k3 else slots.functional_view)(work)


def _weight_scan(model, batches, fn, criterion, levels, *, work=None, view=None):
    """Yields ``(baseline, units)``, then ``(unit, members, size, value)`` per point
    (``work``/``view``: the copy of a subclassed model and its functional view)."""
    work = work if work is not None else _working_copy(model)
    units = (slots3.weight_units if slots3.is_keras3_subclassed(work)
             else weight_units.units)(work, criterion)
    if not units:
        raise _nothing(model, "weight")
    run = evaluator(view if view is not None else work, batches, fn)
    yield float(run()), len(units), weight_units.points(units, run, levels)


def _channel_scan(model, batches, fn, higher, criterion, levels, recalibrate_bn=False):
    """Channel granularity on a :class:`tfprune.measure.probe.ChannelProbe`: each group's
    channels ranked by ``criterion`` (:func:`group_scores`), the weakest removed."""
    channel_criterion(criterion)
    p = probe.ChannelProbe(model, batches, fn, higher_is_better=higher,
                           cuts=cutpoints.Cuts(points=len(levels)), recalibrate_bn=recalibrate_bn)
    if not p.groups:
        raise _nothing(model, "channel", p.graph)
    scores = group_scores(p.graph, list(p.groups.values()), criterion)
    yield p.base, len(p.groups), _channel_points(p, scores, levels)


def _channel_points(p, scores, levels):
    for name, grp in p.groups.items():
        order = np.argsort(-scores[grp.index], kind="stable")
        for s in levels:
            keep = np.zeros(grp.channels, bool)
            keep[order[:int(masks_lib.kept_count(grp.channels, s))]] = True
            yield name, grp.layers(), int(grp.channels), p.measure(name, keep)


def channel_loss_delta(model, data, *, metric="loss", max_batches=None, progress=None,
                       granularity: str = "channel") -> dict:
    """Measured damage of removing each channel alone: the ``"sensitivity"`` channel criterion.

    For every prunable dependency group and every channel of it, the channel is zeroed
    everywhere it lives (in place on one working copy), the metric is measured with the
    compiled evaluation, and the weights are restored. One evaluation per channel: use
    it on small models or few batches.

    Args:
        granularity: ``"channel"`` or ``"head"``: each head of every MultiHeadAttention
            removed alone (keys ``"<layer>/heads"``; the ``"sensitivity"`` head criterion).

    Returns:
        group name -> float64 array of per-channel (per-head) degradation (larger = more
        important); pass it as ``Allocation.plan(model, scores=...)`` to keep the channels
        (heads) whose removal hurts most.

    Example:
        >>> import numpy as np
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, name="h"),
        ...                       keras.layers.Dense(3, name="out")])
        >>> m.compile(loss="sparse_categorical_crossentropy")
        >>> x, y = np.random.rand(32, 4).astype("float32"), np.arange(32) % 3
        >>> channel_loss_delta(m, (x, y), progress=False)["h"].shape
        (5,)
        >>> i = keras.Input((5, 8))
        >>> a = keras.layers.MultiHeadAttention(3, 4, name="att")(i, i)
        >>> t = keras.Model(i, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(a)))
        >>> t.compile(loss="sparse_categorical_crossentropy")
        >>> xs = np.random.rand(16, 5, 8).astype("float32")
        >>> channel_loss_delta(t, (xs, np.arange(16) % 3), granularity="head",
        ...                    progress=False)["att/heads"].shape  # one delta per head
        (3,)
    """
    from tqdm.auto import tqdm

    if granularity not in ("channel", "head"):
        raise errors.unknown_name("granularity", granularity, ("channel", "head"))
    if granularity == "head":
        heads.check_heads(model)
    batches, measure = outputs_lib.prepare(model, data, metric, max_batches)
    fn, higher = measure.fn, measure.higher_is_better
    p = probe.ChannelProbe(model, batches, fn, higher_is_better=higher,
                           cuts=cutpoints.Cuts(points="channels"), granularity=granularity)
    if not p.groups:
        raise _nothing(model, granularity, p.graph) if p.graph is not None else \
            errors.NothingToPruneError(f"Model {model.name!r} has no MultiHeadAttention.")
    bar = tqdm(total=sum(g.channels for g in p.groups.values()), leave=False,
               desc="channel sensitivity", disable=not _progress(progress))
    try:
        return {name: p.deltas(name, on_point=lambda: bar.update(1)) for name in p.groups}
    finally:
        bar.close()

