"""Structured pruning that physically shrinks a model.

``plan`` picks the channels to keep per dependency group, ``apply_masks`` zeroes
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

from tfprune import errors
from tfprune import graph as graph_lib
from tfprune.structured import plans as plan_lib
from tfprune.structured import rebuild as rebuild_lib
from tfprune.structured.blocks import DropReport, drop_blocks, find_blocks
from tfprune.graph.macs import count_macs
from tfprune.structured.plans import Plan

__all__ = [
    "Plan",
    "plan",
    "apply_masks",
    "one_shot_channels",
    "shrink",
    "drop_blocks",
    "find_blocks",
    "DropReport",
    "count_macs",
]


def plan(
    model,
    *,
    sparsity: float,
    criterion="l2",
    granularity: str = "filter",
    reduction: str = "sum",
    round_to: int = 1,
    min_channels: int = 1,
    exclude=None,
    scope: str = "layer",
) -> Plan:
    """Choose the output channels to keep in every prunable dependency group.

    Each group's channels are scored by ``criterion`` on its members' weights
    (``granularity="filter"``: producer kernels, the slices a channel's filter
    occupies; ``"channel"``: consumer kernels, the input slices it feeds;
    ``criterion="bn_scale"``: |gamma| of the BatchNormalization layers), combined
    over members by ``reduction``. Then ``keep = max(n - round(n * sparsity),
    min_channels)`` rounded up to a multiple of ``round_to`` (at most ``n``); with
    ``scope="global"`` scores are divided by their group mean and the lowest
    ``sparsity`` fraction of all channels is removed. Groups tied to a model
    input or output, or to an excluded layer, keep all channels.

    Args:
        model: a built Functional or Sequential tf_keras model.
        sparsity: fraction of channels to remove, in [0, 1).
        criterion: ``"l1"``, ``"l2"``, ``"fpgm"``, ``"bn_scale"`` or a callable
            ``kernel -> [out_channels]`` (output axis last).
        granularity: ``"filter"`` or ``"channel"``.
        reduction: ``"sum"``, ``"mean"`` or ``"max"`` over group members.
        round_to: kept channel counts are multiples of this (SIMD/MCU kernels).
        min_channels: never keep fewer channels in a group.
        exclude: layer names whose output channels are kept (see
            :func:`tfprune.graph.build`).
        scope: ``"layer"`` (same sparsity in every group) or ``"global"``.

    Returns:
        A :class:`Plan` with one entry per prunable group.

    Raises:
        ConfigError: an argument is out of range or unknown; ``round_to`` is
            larger than a prunable group.
        UnsupportedLayerError: a layer has no channel rule.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.layers.Dense(16, input_shape=(4,), name="h"),
        ...                       keras.layers.Dense(2, name="out")])
        >>> len(plan(m, sparsity=0.3, round_to=8).keep["h"])  # 16 - 5 = 11 -> 16
        16
    """
    errors.check_sparsity(sparsity)
    plan_lib.check_options(
        criterion=criterion,
        granularity=granularity,
        reduction=reduction,
        scope=scope,
        round_to=round_to,
        min_channels=min_channels,
    )
    g = graph_lib.build(model, exclude=exclude)
    groups = g.prunable()
    if sparsity > 0:
        plan_lib.check_round_to(groups, round_to)
    kept = plan_lib.select(
        g,
        sparsity=sparsity,
        criterion=criterion,
        granularity=granularity,
        reduction=reduction,
        round_to=round_to,
        min_channels=min_channels,
        scope=scope,
    )
    by_index = {x.index: x for x in groups}
    return Plan(
        {by_index[i].name: tuple(int(c) for c in k) for i, k in kept.items()},
        {by_index[i].name: by_index[i].channels for i in kept},
    )


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
    return rebuild_lib.rebuild(g, plan_lib.keep_masks(g, plan), mode="mask")


def one_shot_channels(model, sparsity: float, **plan_kwargs) -> tuple:
    """Structured one-shot pruning: ``plan`` then ``apply_masks``, no training.

    Args:
        model: a built Functional or Sequential tf_keras model (not modified).
        sparsity: fraction of each group's channels to remove, in [0, 1).
        **plan_kwargs: the keyword options of :func:`plan` (``criterion``,
            ``granularity``, ``reduction``, ``round_to``, ``min_channels``,
            ``exclude``, ``scope``).

    Returns:
        ``(masked_model, plan)``: a copy of ``model`` with the removed channels zeroed
        everywhere they live, and the :class:`Plan`; ``shrink(masked_model)`` gives
        the smaller model with the same outputs.

    Raises:
        ConfigError: an unknown option or a bad value (as :func:`plan`).

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.layers.Dense(8, input_shape=(4,), name="h"),
        ...                       keras.layers.Dense(2, name="out")])
        >>> masked, p = one_shot_channels(m, 0.25, criterion="l1")
        >>> len(p.keep["h"]), shrink(masked).get_layer("h").units
        (6, 6)
    """
    unknown = set(plan_kwargs) - _PLAN_OPTIONS
    if unknown:
        raise errors.unknown_name("option of one_shot_channels", sorted(unknown)[0], _PLAN_OPTIONS)
    p = plan(model, sparsity=sparsity, **plan_kwargs)
    return apply_masks(model, p), p


_PLAN_OPTIONS = {
    "criterion",
    "granularity",
    "reduction",
    "round_to",
    "min_channels",
    "exclude",
    "scope",
}


def shrink(model, plan: Plan | None = None):
    """Build a smaller model without the removed channels (layer names kept).

    With ``plan=None`` the plan is read from the model: a channel goes when all its
    producer weights (kernel slices, bias) and BatchNormalization gamma/beta are
    zero, as :func:`apply_masks` leaves them. Layer configs are edited
    (filters/units/target_shape/projection_dim) and weights sliced; the result
    equals the masked model's outputs to float32 round-off.

    Raises:
        ConfigError: the plan does not fit the model, or the model carries
            unstructured zeros but no zero channel (only structured masks shrink).

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.layers.Dense(4, input_shape=(3,), name="h"),
        ...                       keras.layers.Dense(2, name="out")])
        >>> shrink(m, Plan({"h": (0, 3)}, {"h": 4})).get_layer("h").units
        2
    """
    g = graph_lib.build(model)
    if plan is None:
        plan, zero_frac = plan_lib.derive(g)
        if not plan.keep and zero_frac > 0.1:
            raise errors.ConfigError(
                f"{zero_frac:.0%} of the producer weights are zero but no whole channel is: "
                "only structured (channel) masks shrink a model. Prune with structured "
                "masks (tfprune.structured.plans + apply_masks) or pass an explicit plan."
            )
    return rebuild_lib.rebuild(g, plan_lib.keep_masks(g, plan), mode="slice")
