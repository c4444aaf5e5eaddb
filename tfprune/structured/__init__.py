"""Structured pruning that physically shrinks a model.

The main path is ``tfprune.prune(model, granularity="channel")`` -> fit ->
``tfprune.strip`` -> :func:`shrink`. Without training: ``plan`` picks the channels to
keep per dependency group (the same criteria and code), ``apply_masks`` zeroes
the others everywhere they live (same architecture), ``shrink`` removes them
(smaller layers, same names, same outputs as the masked model), and
``drop_blocks`` removes whole residual blocks. All return new models; the model
passed in is never modified.

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.layers.Dense(8, input_shape=(4,), name="h"),
    ...                       keras.layers.Dense(2, name="out")])
    >>> p = plan(m, sparsity=0.5)
    >>> small = shrink(apply_masks(m, p))
    >>> small.get_layer("h").units
    4
"""

from __future__ import annotations

import warnings

import numpy as np

from tfprune import errors
from tfprune import graph as graph_lib
from tfprune.compat import keras3_io
from tfprune.core import criteria
from tfprune.graph.macs import count_macs
from tfprune.masking import api, channels, pruner
from tfprune.masking.arguments import Calibration
from tfprune.structured import heads as heads_lib
from tfprune.structured import plans as plan_lib
from tfprune.structured import rebuild as rebuild_lib
from tfprune.structured.blocks import DropReport, drop_blocks, find_blocks
from tfprune.structured.plans import Plan, ShrinkReport

__all__ = [
    "Plan",
    "ShrinkReport",
    "plan",
    "apply_masks",
    "shrink",
    "drop_blocks",
    "find_blocks",
    "DropReport",
    "count_macs",
]


@keras3_io()
def plan(
    model,
    *,
    sparsity: float,
    criterion="l2",
    scope: str = "layer",
    exclude=None,
    data=None,
    loss=None,
    **options,
) -> Plan:
    """Choose the output channels to keep in every prunable dependency group.

    The same path as ``tfprune.one_shot(..., granularity="channel")``: every criterion
    of the registry with a channel form (``tfprune.criteria.available()``; gradient and
    activation criteria need ``data=``, gradient ones labels and ``loss=``) scores the
    group members per weight, the scores are reduced over each channel's slices and
    combined over members (:mod:`tfprune.core.criteria.grouping`), and
    ``kept_count(n, sparsity)`` channels are kept per group (``scope="layer"``) or one
    ranking under one budget of weights decides (``scope="global"``). Groups tied to
    a model input or output, or to an excluded layer, keep all channels.

    Args:
        model: a built Functional or Sequential tf_keras model (not modified).
        sparsity: fraction of each group's channels to remove, in [0, 1)
            (``scope="global"``: fraction of the groups' weights).
        criterion: a criterion name or instance supporting ``granularity="channel"``.
        scope: ``"layer"`` or ``"global"``.
        exclude: layer names whose output channels are kept.
        data, loss: calibration data (and loss, for gradient criteria) as for
            :func:`tfprune.one_shot`.
        **options: ``granularity``: ``"channel"`` (the default) or ``"head"`` (a
            per-weight granularity removes no channel and is refused);
            ``granularity="head"`` plans whole attention heads instead of
            channels (every ``MultiHeadAttention``; groups ``"<layer path>/heads"``; the
            criterion needs a head form; ``shrink`` lowers ``num_heads``; see
            :func:`tfprune.structured.plans.head_plan`), ``reduction`` (``"sum"``,
            ``"mean"``, ``"max"`` over members),
            ``score_from`` (``"producers"`` or ``"consumers"``), ``round_to`` (kept
            counts are multiples of it), ``min_channels``; see
            :class:`tfprune.masking.channels.ChannelOptions`.

    Returns:
        A :class:`Plan` with one entry per prunable group.

    Raises:
        ConfigError: an argument is out of range or unknown; a data criterion without
            ``data`` (or use ``tfprune.one_shot(..., granularity="channel", data=...)``);
            ``round_to`` is larger than a prunable group.
        UnsupportedLayerError: a layer has no channel rule.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.layers.Dense(16, input_shape=(4,), name="h"),
        ...                       keras.layers.Dense(2, name="out")])
        >>> len(plan(m, sparsity=0.3, round_to=8).keep["h"])  # 16 - 5 = 11 -> 16
        16
        >>> i = keras.Input((6, 8))
        >>> att = keras.Model(i, keras.layers.MultiHeadAttention(4, 4, name="att")(i, i))
        >>> shrink(apply_masks(att, plan(att, sparsity=0.5, granularity="head"))
        ...        ).get_layer("att")._num_heads
        2
    """

    if options.get("granularity") == "head":
        return _head_plan(model, sparsity, criterion=criterion, scope=scope, exclude=exclude,
                          data=data, loss=loss, options=options)
    crit, opts, exclude = _check_channel_args(model, sparsity, criterion, scope, exclude, data,
                                              loss, options)
    g = graph_lib.build(model, exclude=exclude)
    groups = g.prunable()
    if sparsity > 0:
        plan_lib.check_round_to(groups, opts.round_to)
        plan_lib.warn_kept_whole(groups, sparsity, opts)
    if not groups:
        return Plan({}, {})
    if crit.needs_data:  # statistics need wrappers: the one_shot path
        pruned = api.one_shot_functional(model, sparsity, criterion=crit, scope=scope,
                                         exclude=exclude, data=Calibration(data, loss=loss),
                                         granularity="channel", options=opts)
        keep = channels.keep_state(pruner.wrapped_layers(pruned))
    else:  # the same group code on the plain layers, no cloning
        members = channels.groups_of(channels.plain_members(g, groups, crit, opts))
        scores = channels.group_scores(members, crit, opts)
        keep = channels.select(members, scores, step=0, scope=scope, sparsity=sparsity,
                               options=opts)
    sizes = {x.name: x.channels for x in groups}
    return Plan({n: tuple(int(c) for c in np.flatnonzero(keep[n])) for n in sizes if n in keep},
                {n: sizes[n] for n in sizes if n in keep})


def _head_plan(model, sparsity, *, criterion, scope, exclude, data, loss, options) -> Plan:
    """``plan(granularity="head")``: whole attention heads; no channel option is taken."""
    rest = sorted(set(options) - {"granularity", "max_batches"})
    if rest:
        raise errors.ConfigError(
            f"plan(granularity='head') takes no channel option {rest[0]!r}: heads are "
            "whole units (remove it, or plan channels without granularity='head').")
    return plan_lib.head_plan(model, sparsity, scope=scope, criterion=criterion,
                              exclude=exclude, data=data, loss=loss,
                              max_batches=options.get("max_batches"))


def _check_channel_args(model, sparsity, criterion, scope, exclude, data, loss, options):
    """The checked ``(criterion, ChannelOptions, exclude)`` of a channel plan, refused before
    any work: sparsity, an already pruned model, unknown options, a data criterion without
    data, unknown layer names, and the data (and labels) themselves."""
    errors.check_sparsity(sparsity)
    errors.check_not_pruned(model)
    unknown = set(options) - _PLAN_OPTIONS
    if unknown:
        raise errors.unknown_name("option of plan", sorted(unknown)[0], _PLAN_OPTIONS)
    opts = plan_lib.check_options(criterion=criterion, scope=scope, **options)
    crit = criteria.get(criterion)
    if crit.needs_data and data is None:
        raise errors.ConfigError(
            f"criterion {crit.name!r} scores channels from data: pass data=(x, y) (and "
            "loss=... for gradient criteria) to plan, or use tfprune.one_shot(model, s, "
            f"criterion={crit.name!r}, granularity='channel', data=...).")
    exclude = errors.check_layer_names("exclude", exclude, model)  # a str is ONE name
    if data is not None:
        pruner.check_data(model, data)  # shape, strings, NaN/inf, unscaled uint8
        if crit.needs_labels:
            pruner.check_labels(model, data, pruner.resolve_loss(model, loss, crit))
    return crit, opts, exclude


_PLAN_OPTIONS = {"reduction", "score_from", "round_to", "min_channels", "granularity"}


@keras3_io(returns="model")
def apply_masks(model, plan: Plan):
    """Return a copy of ``model`` with the channels the plan removes zeroed everywhere.

    Zeroed: producer kernel slices and biases, depthwise slices, BatchNormalization
    gamma and beta (so the channel is exactly 0 whatever its moving mean), PReLU /
    LayerScale slices, and the consumers' input slices (so the channel has no
    influence even through a non-zero-preserving activation). The result computes
    the same function as ``shrink(model, plan)``.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.layers.Dense(4, input_shape=(3,), name="h"),
        ...                       keras.layers.Dense(2, name="out")])
        >>> masked = apply_masks(m, Plan({"h": (0, 1)}, {"h": 4}))
        >>> bool((masked.get_layer("h").kernel.numpy()[:, 2:] == 0).all())
        True
    """
    g = graph_lib.build(model)
    attn = heads_lib.attention_layers(rebuild_lib.layers_by_path(model))
    chan_plan, head_plan = heads_lib.split(plan, attn)
    heads = heads_lib.keep_arrays(attn, head_plan.keep, head_plan.channels)
    return rebuild_lib.rebuild(g, plan_lib.keep_masks(g, chan_plan), mode="mask", heads=heads)


@keras3_io(returns="model")
def shrink(model, plan: Plan | None = None):
    """Build a smaller model without the removed channels (layer names kept).

    With ``plan=None`` the plan is read from the model: a channel goes when all its
    producer weights (kernel slices, bias) and BatchNormalization gamma/beta are zero,
    as ``tfprune.strip`` leaves a model pruned with ``granularity="channel"`` (and
    :func:`apply_masks` leaves it). Layer configs are edited
    (filters/units/target_shape/projection_dim) and weights sliced; the result equals
    the masked model's outputs to float32 round-off.

    Attention heads: a ``MultiHeadAttention`` head goes when all its slices (query/key/value
    kernels and biases, output-projection kernel) are zero, as ``tfprune.strip`` leaves a
    model pruned with ``granularity="head"``; ``num_heads`` is lowered and the weights
    sliced (group ``"<layer>/heads"`` in the plan and the report). Channels and heads can
    be removed together.

    Never silent: the result carries ``small.shrink_report``
    (:class:`tfprune.structured.plans.ShrinkReport`: channels removed per group, MACs
    and parameters before/after), and a shrink that removes less than 1% of the weights
    the zeros suggest warns.

    Raises:
        ConfigError: the plan does not fit the model; the masks are not group-consistent
            (whole filters zero while their bias or BatchNormalization is not: per-kernel
            masks such as TF-MOT's), naming the groups and the fix; or the model carries
            unstructured zeros but no zero channel; or attention heads are zero in some
            slices only (per-weight masks), naming the layers and the fix.
        UnsupportedLayerError: the model still has pruning wrappers (strip it first) or
            a layer has no channel rule.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.layers.Dense(4, input_shape=(3,), name="h"),
        ...                       keras.layers.Dense(2, name="out")])
        >>> small = shrink(m, Plan({"h": (0, 3)}, {"h": 4}))
        >>> small.get_layer("h").units, small.shrink_report.removed
        (2, {'h': 2})
    """
    g = graph_lib.build(model)
    attn = heads_lib.attention_layers(rebuild_lib.layers_by_path(model))
    derived, zeros, total, bad = plan_lib.derive(g)
    h_keep, h_count, h_zeros, h_total, h_bad = heads_lib.derive(attn)
    zeros, total = zeros + h_zeros, total + h_total
    how = "granularity='channel'" + (" or 'head'" if attn else "")
    if plan is None:
        plan = plan_lib.Plan({**derived.keep, **h_keep}, {**derived.channels, **h_count})
        if bad:
            names = sorted(bad)
            raise errors.ConfigError(
                f"Masks are not consistent within dependency groups {names[:5]}: whole "
                f"filters are zero (e.g. channels {bad[names[0]][:5]} of {names[0]!r}) while "
                "their bias or BatchNormalization gamma/beta is not, so removing them would "
                "change the outputs. Per-kernel masks (TF-MOT's prune_low_magnitude, or "
                "granularity='weight') do this. Prune with tfprune.prune(model, ..., "
                "granularity='channel') (every member of a group is masked), or pass an "
                "explicit plan: tfprune.structured.plan + apply_masks.")
        if h_bad:
            names = sorted(h_bad)
            raise errors.ConfigError(
                f"Attention heads are not masked whole in {names[:5]}: heads "
                f"{h_bad[names[0]][:5]} of {names[0]!r} have a kernel slice that is all zero "
                "while other weights of the head are not, so they are not removed heads. "
                "Per-weight masks (granularity='weight') do this. Prune with "
                "tfprune.prune(model, ..., granularity='head') (every slice of a head is "
                "masked), or pass an explicit plan {'<layer>/heads': kept heads}.")
        if not plan.keep and total and zeros / total > 0.1:
            raise errors.ConfigError(
                f"{zeros / total:.0%} of the producer weights are zero but no whole channel "
                f"{'or head ' if attn else ''}is: only structured masks shrink a model. Prune "
                f"with tfprune.prune(model, ..., {how}), or pass an explicit plan "
                "(tfprune.structured.plan + apply_masks).")
    chan_plan, head_plan = heads_lib.split(plan, attn)
    keep = plan_lib.keep_masks(g, chan_plan)
    head_keep = heads_lib.keep_arrays(attn, head_plan.keep, head_plan.channels)
    small = rebuild_lib.rebuild(g, keep, mode="slice", heads=head_keep)
    removed = plan_lib.removed_weights(g, keep) + heads_lib.removed_weights(attn, head_keep)
    small.shrink_report = plan_lib.ShrinkReport(
        plan=plan, macs=(count_macs(model), count_macs(small)),
        params=(int(model.count_params()), int(small.count_params())),
        zero_weights=int(zeros), removed_weights=int(removed))
    if zeros and removed < 0.01 * zeros:
        warnings.warn(
            f"shrink removed {removed:,} producer weights, less than 1% of the {zeros:,} "
            f"zeros in them: the zeros are not whole channels{' or heads' if attn else ''}. "
            f"Use tfprune.prune(..., {how}) to remove them.", stacklevel=2)
    return small
