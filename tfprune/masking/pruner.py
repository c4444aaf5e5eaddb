"""Model-level pruning: find the wrappers, compute masks for a scope, assign them.

The one place that knows the scope (per layer, global threshold, or per-layer
allocation). Used by ``one_shot``, the callbacks and custom training loops.
"""

from __future__ import annotations

import contextlib

import numpy as np
import tensorflow as tf

from tfprune import data as data_lib
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import criteria as criteria_lib
from tfprune.core import masks
from tfprune.core.criteria import grouping
from tfprune.masking import bnfold, channels, floor, wrap
from tfprune.masking import granularity as granularity_lib
from tfprune.masking import scope as scope_lib
from tfprune.masking.validate import check_data, check_finite, check_labels
from tfprune.masking.wrap import wrapped_layers  # noqa: F401  (public here too)
from tfprune.masking.wrapper import PruningWrapper

__all__ = ["wrapped_layers", "tfprune_wrappers", "is_pruned", "update_masks", "assign_masked_weights",
           "apply_masks", "sparsity_report", "global_step", "set_step", "observing", "gather",
           "batches", "stats_ready", "model_scope", "check_finite", "check_data",
           "check_labels"]

#: granularities whose masks are chosen per group by :func:`channels.update`
GROUPED = tuple(n for n, s in granularity_lib.STRATEGIES.items() if s.grouped)


def tfprune_wrappers(model) -> list:
    """The :class:`tfprune.masking.wrapper.PruningWrapper` s of ``model`` (TF-MOT's own
    wrappers left out), nested models included.

    Example:
        >>> tfprune_wrappers(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
        []
    """
    return [w for w in wrapped_layers(model) if isinstance(w, PruningWrapper)]


def is_pruned(model) -> bool:
    """True if ``model`` contains pruning wrappers."""
    return bool(wrapped_layers(model))


def global_step(model) -> int:
    """The pruning step of the model's wrappers (-1 before training starts)."""
    ws = wrapped_layers(model)
    return int(keras.backend.get_value(ws[0].pruning_step)) if ws else -1


def set_step(model, step: int) -> None:
    """Set every wrapper's pruning step."""
    keras.backend.batch_set_value([(w.pruning_step, step) for w in wrapped_layers(model)])


def _is_tfprune(w) -> bool:
    return isinstance(w, PruningWrapper)


def stats_ready(wrappers) -> bool:
    """False while a wrapper whose criterion needs data has recorded no statistics.

    Example:
        >>> stats_ready([])
        True
    """
    for w in wrappers:
        if _is_tfprune(w) and w.criterion.needs_data and w.scored:
            recorded = w.recorded()
            if recorded is not None and float(recorded) <= 0:
                return False
    return True


def model_scope(model) -> str:
    """The ranking the model was pruned with (``"layer"`` or ``"global"``: the
    :attr:`tfprune.masking.scope.Scope.ranking` given to its wrappers), read from them.

    Example:
        >>> model_scope(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
        'layer'
    """
    ws = tfprune_wrappers(model)
    return ws[0].scope if ws else "layer"


def update_masks(model, step: int | None = None, *, scope: str | None = None,
                 sparsity: float | None = None, compensate: bool = False,
                 layers: list | None = None, channel_options=None) -> None:
    """Recompute and assign every wrapper's masks, then zero the pruned weights.

    A data criterion never builds a mask before it has statistics: while nothing is
    recorded the masks are left as they are (any scope).

    Args:
        model: a pruned model.
        step: schedule step used for each layer's target (default: current step).
        scope: ``"layer"`` (each layer/group at its own target), ``"global"`` (one
            ranking of all pruning units under one budget of WEIGHTS; every tensor or
            group keeps at least one unit; scores normalised per tensor/group first);
            default: the scope the model was pruned with (``"channel"`` and ``"head"``
            wrappers always use that one); a :class:`tfprune.masking.scope.Scope` gives its
            ``ranking``.
        sparsity: overall target; default: the schedule's value at ``step``.
        compensate: after masking, let criteria with a ``compensate`` method (OBS)
            update the kept weights (one-shot).
        layers: only these wrappers (default: all).
        channel_options: :class:`tfprune.masking.channels.ChannelOptions` for
            ``granularity="channel"`` wrappers.
    """
    ws = [w for w in (layers or wrapped_layers(model)) if _is_tfprune(w)]
    if not ws:
        return
    if step is None:
        step = max(global_step(model), 0)
    scope = model_scope(model) if scope is None else scope_lib.resolve(scope).ranking
    _measure(model, ws)
    if not stats_ready(ws):
        return  # data criterion with no statistics yet: keep the current masks
    chan = [w for w in ws if granularity_lib.get(w.granularity).grouped]
    ws = [w for w in ws if not granularity_lib.get(w.granularity).grouped]
    if chan:
        # channel/head wrappers rank with the scope they were pruned with; a head is a
        # channel of its layer's head group (graph.heads), so one code path serves both
        channels.update(chan, step=step, scope=chan[0].scope, sparsity=sparsity,
                        options=channel_options)
    if ws and scope == "global":
        target = ws[0].target_sparsity(step) if sparsity is None else sparsity
        pairs = [(w, i) for w in ws for i in range(len(w.pruning_vars))]
        scores = [_global_scores(w, i) for w, i in pairs]
        # the target is a fraction of WEIGHTS: a block unit stands for several of them
        unit_sizes = [int(np.prod(w.pruning_vars[i][0].shape)) // max(int(tf.size(sc)), 1)
                      for (w, i), sc in zip(pairs, scores, strict=True)]
        # every tensor keeps at least one unit: a global cut never removes a whole layer;
        # the one global ranking (channel groups and heads: channels.select)
        units = masks.global_keep_masks(scores, target, min_per_tensor=1, unit_sizes=unit_sizes)
        units = [floor.floor_empty_outputs(w, i, sc, u, target)
                 for (w, i), sc, u in zip(pairs, scores, units, strict=True)]
        for (w, i), unit in zip(pairs, units, strict=True):
            _, mask, thr = w.pruning_vars[i]
            mask.assign(tf.cast(w.expand(i, unit), mask.dtype))
            thr.assign(tf.cast(0.0, thr.dtype))
    elif ws:
        for w in ws:
            target = w.target_sparsity(step) if sparsity is None else sparsity
            for i, (_, mask, thr) in enumerate(w.pruning_vars):
                t, m = w.mask_for(i, tf.constant(target, tf.float32))
                mask.assign(m)
                thr.assign(t)
    for w in ws if compensate else []:
        if w.criterion.compensates:
            _compensate(w)
    assign_masked_weights(model)


def _compensate(w) -> None:
    """The criterion updates every weight with an input statistic (OBS, SparseGPT), seeing
    ``output_scale``: the factors of a BatchNormalization after the layer (:mod:`bnfold`)."""
    factors = bnfold.bn_factors(w)
    for i, (weight, mask, _) in enumerate(w.pruning_vars):
        stats = dict(w.statistics(i), granularity=w.granularity, n_m=w.n_m,
                     output_scale=factors if i == 0 else None)
        if "hessian" not in stats:
            continue
        new = w.criterion.compensate(weight.numpy(), mask.numpy(), stats)
        if isinstance(new, tuple):  # (weight, mask): it chose the mask too (SparseGPT)
            new, chosen = new
            mask.assign(tf.cast(chosen, mask.dtype))
        weight.assign(new)


def _global_scores(w, index):
    """A wrapper's unit scores for one global ranking: BatchNormalization-folded for a
    criterion scoring ``|w| ** p`` at weight granularity (see :mod:`bnfold`)."""
    scores = w.unit_scores(index)
    power = w.criterion.weight_power
    layout = bnfold.output_layout(w.layer, w.prunable_weight_names[index])
    if not power or w.granularity != "weight" or layout is None:
        return scores
    factors = bnfold.bn_factors(w)
    return scores if factors is None else bnfold.fold_scores(scores, factors, power, layout)


def _measure(model, wrappers) -> None:
    """``Sensitivity(data=...)`` (from ``prune``): measure the loss increases on the
    model's current weights before its masks are chosen (``one_shot`` measures itself)."""
    crit = next((w.criterion for w in wrappers if w.criterion.measured
                 and w.criterion.data is not None
                 and w.channel_map), None)
    if crit is None:
        return

    channels.measure(wrap.unwrap(model), wrapped_layers(model), crit.data,
                     loss=resolve_loss(model, crit.loss, crit), max_samples=crit.max_samples)


@contextlib.contextmanager
def observing(wrappers):
    """Within the block, the wrappers gather statistics in every call (also inference).

    Example:
        >>> with observing([]):
        ...     pass
    """
    wrappers = list(wrappers)
    for w in wrappers:
        w.observe = True
    try:
        yield
    finally:
        for w in wrappers:
            w.observe = False


def batches(data, batch_size: int = 64, *, max_batches: int | None = None):
    """Iterate calibration batches: ``x``, ``(x, y)``, a list of batches, a tf.data.Dataset
    or a generator (:func:`tfprune.data.batches`: checked, and bounded for a source of unknown
    length).

    Arrays (and ``(x, y)`` pairs of arrays) are cut into ``batch_size`` batches.

    Example:
        >>> [b.shape for b in batches(np.zeros((5, 2)), batch_size=4)]
        [(4, 2), (1, 2)]
    """
    return data_lib.batches(data, batch_size=batch_size, max_batches=max_batches)


def resolve_loss(model, loss, criterion):
    """The loss for gradient statistics: ``loss``, else the model's compiled loss.

    The one loss resolution of tfprune (one_shot, plan, sensitivity).

    Raises:
        ConfigError: a gradient criterion and no loss anywhere.

    Example:
        >>> from tfprune.core import criteria
        >>> resolve_loss(None, "mse", criteria.get("taylor"))
        'mse'
    """
    criterion = criteria_lib.get(criterion)  # a name or a Criterion
    if not criterion.needs_labels:
        return loss
    if loss is None:
        loss = getattr(model, "loss", None)
    if loss is None:
        raise errors.ConfigError(
            f"criterion {criterion.name!r} needs gradients: pass loss=... (e.g. "
            "'sparse_categorical_crossentropy') and data=(x, y) (one_shot: "
            "data=tfprune.Calibration((x, y), loss=...)), or compile the model.")
    errors.check_loss(loss)  # a typo gets "Did you mean ...?"; the name itself is kept
    return loss


def gather(model, data, *, loss=None, layers=None, max_batches: int | None = None) -> int:
    """Run calibration ``data`` through ``model`` so its wrappers record their statistics.

    Gradient statistics need labels (batches ``(x, y)``) and ``loss`` (a Keras loss
    name/object/callable); the loss is the mean over each batch, so the recorded
    gradients are those of ``model.fit`` on the same batches.

    Args:
        model: a pruned model.
        data: see :func:`batches`.
        loss: loss for gradient statistics.
        layers: wrappers to record (default: all tfprune wrappers).
        max_batches: stop after this many batches (default: all of arrays and lists;
            :data:`tfprune.data.DEFAULT_MAX_BATCHES` of a generator or a Dataset of unknown
            or infinite length, with a warning when that cap stops it).

    Returns:
        The number of batches used.

    Raises:
        ConfigError: labels or loss missing for a gradient criterion, or no batch.
        DataError: ``data`` does not fit the model (:func:`check_data`), or a batch read
            later holds NaN/inf, a wrong shape or bad labels.
    """
    check_data(model, data)
    ws = [w for w in (layers or wrapped_layers(model)) if _is_tfprune(w)]
    grads = any(w.criterion.needs_labels for w in ws)
    if grads:
        check_labels(model, data, loss)
    loss_fn = errors.check_loss(loss) if grads else None
    n = 0
    with observing(ws):
        for batch in data_lib.batches(data, model=model, loss=loss if grads else None,
                                      max_batches=max_batches):
            x, y = data_lib.split(batch, model)
            if grads:
                if y is None:
                    raise errors.ConfigError(
                        f"criterion {ws[0].criterion.name!r} needs gradients: pass data=(x, y) "
                        "or batches of (x, y), with a loss (one_shot: "
                        "data=tfprune.Calibration((x, y), loss=...)).")
                with tf.GradientTape() as tape:
                    value = loss_fn(y, model(x, training=False))
                tape.gradient(value, model.trainable_variables)
            else:
                model(x, training=False)
            n += 1
    if n == 0:
        raise errors.ConfigError("`data` gave no batch: pass at least one batch of inputs.")
    return n


def assign_masked_weights(model) -> None:
    """Assign ``weight * mask`` to every pruned weight, in place (the function is unchanged).

    Example:
        >>> assign_masked_weights(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    """
    for w in wrapped_layers(model):
        for weight, mask, _ in w.pruning_vars:
            weight.assign(tf.cast(weight * mask, weight.dtype))


def apply_masks(model) -> None:
    """Deprecated name of :func:`assign_masked_weights` (in place; removed in 0.4).
    :func:`tfprune.structured.apply_masks` is the other meaning: it returns a new model."""
    assign_masked_weights(model)


def channel_sparsity(model) -> float | None:
    """Fraction of the channels of the model's pruned dependency groups that are removed, or
    None when no layer is pruned at ``"channel"`` granularity.

    ``sparsity`` counts masked WEIGHTS: removing half of every group's channels zeroes the
    producer's filters AND the consumer's input slices, so 50 % of channels reads about 0.73
    of the weights of those layers. This is the channel figure that goes next to it.

    Example:
        >>> import tfprune
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="h"),
        ...                       keras.layers.Dense(2)])
        >>> p = tfprune.one_shot(m, 0.5, criterion="l1", granularity="channel")
        >>> channel_sparsity(p)
        0.5
    """
    seen = {}
    for w in tfprune_wrappers(model):
        if w.granularity != "channel":
            continue
        for m in channels.members_of(w):
            if m.entry["role"] != "out" or m.entry["group"] in seen:
                continue
            alive = grouping.channel_alive(
                m.mask.numpy(), m.entry["positions"], m.entry["axis"], m.entry["channels"])
            seen[m.entry["group"]] = (int(alive.size - alive.sum()), int(alive.size))
    if not seen:
        return None
    return sum(r for r, _ in seen.values()) / max(sum(n for _, n in seen.values()), 1)


def sparsity_report(model) -> dict:
    """Overall and per-layer sparsity of the masks: ``{"sparsity": s, "layers": {name: s}}``
    (plus ``"channels"``, the fraction of group channels removed, at channel granularity).

    Overall sparsity counts every masked weight together.
    """
    zeros = total = 0
    per_layer = {}
    for w in wrapped_layers(model):
        lz = ln = 0
        for _, mask, _ in w.pruning_vars:
            m = np.asarray(keras.backend.get_value(mask))
            lz += int(m.size - np.count_nonzero(m))
            ln += int(m.size)
        per_layer[w.layer.name] = lz / ln if ln else 0.0
        zeros += lz
        total += ln
    report = {"sparsity": zeros / total if total else 0.0, "layers": per_layer}
    removed = channel_sparsity(model)
    if removed is not None:
        report["channels"] = removed
    return report
