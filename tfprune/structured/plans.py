"""Plans: which channels of each dependency group to keep, read from the zeros of a masked
model or chosen by :func:`tfprune.structured.plan` (through the one criterion path)."""

from __future__ import annotations

import dataclasses

import numpy as np

from tfprune import errors
from tfprune.core import criteria, masks
from tfprune.masking import api, channels, pruner
from tfprune.masking import scope as scope_lib
from tfprune.structured import heads as heads_lib
from tfprune.structured import rebuild
from tfprune.structured.kept import Plan

__all__ = ["Plan", "ShrinkReport", "keep_masks", "check_round_to", "derive", "removed_weights",
           "head_plan", "check_options", "warn_kept_whole"]


def keep_masks(graph, plan: Plan) -> dict:
    """Validate ``plan`` against ``graph``; return group index -> bool keep array."""
    if not isinstance(plan, Plan):
        raise errors.ConfigError(
            f"plan must be a tfprune.structured.Plan, got {type(plan).__name__}."
        )
    out = {}
    for name, kept in plan.keep.items():
        g = graph[name]
        if plan.channels.get(name, g.channels) != g.channels:
            raise errors.ConfigError(
                f"Plan group {name!r} was made for {plan.channels[name]} channels; the model "
                f"has {g.channels}. Make the plan on this model's architecture."
            )
        idx = np.asarray(kept, dtype=np.int64)
        if idx.size == 0:
            raise errors.ConfigError(f"Plan keeps no channel of group {name!r}; keep at least 1.")
        if idx.min() < 0 or idx.max() >= g.channels or len(set(idx.tolist())) != idx.size:
            raise errors.ConfigError(
                f"Plan for group {name!r} names channels out of range or repeated: valid "
                f"indices are 0..{g.channels - 1}, got {sorted(idx.tolist())[:8]}..."
            )
        if idx.size < g.channels and not g.prunable:
            raise errors.ConfigError(
                f"Group {name!r} cannot lose channels ({'; '.join(g.pinned_by)})."
            )
        m = np.zeros(g.channels, bool)
        m[idx] = True
        out[g.index] = m
    return out


def _by_group(graph, roles) -> dict:
    """Group index -> the weight uses with one of ``roles`` that hold its channels."""
    out = {}
    for u in graph.uses:
        if u.role in roles:
            for gi in np.unique(graph.atom_group[u.atoms]).tolist():
                out.setdefault(gi, []).append(u)
    return out


def _weight(use, cache):
    key = (id(use.layer), use.attr, use.axis)
    if key not in cache:
        cache[key] = np.moveaxis(getattr(use.layer, use.attr).numpy(), use.axis, -1)
    return cache[key]


def check_round_to(groups, round_to: int) -> None:
    """Refuse a ``round_to`` larger than a prunable group."""
    small = [x.name for x in groups if x.channels < round_to]
    if small:
        raise errors.ConfigError(
            f"round_to={round_to} is larger than the {len(small)} group(s) {small[:5]} "
            f"(fewest channels: {min(x.channels for x in groups)}). Lower round_to or add "
            "those layers to exclude=[...]."
        )


@dataclasses.dataclass(frozen=True)
class ShrinkReport:
    """What :func:`tfprune.shrink` removed (``small.shrink_report``).

    Attributes:
        plan: the :class:`Plan` applied (kept channels per group; kept heads per
            ``"<layer>/heads"`` group of a MultiHeadAttention).
        macs: ``(before, after)`` multiply-accumulates per sample.
        params: ``(before, after)`` parameter counts.
        zero_weights: exact zeros in the producer kernels before shrinking.
        removed_weights: producer-kernel weights removed with their channels.
    """

    plan: Plan
    macs: tuple
    params: tuple
    zero_weights: int
    removed_weights: int

    @property
    def removed(self) -> dict:
        """Group name -> number of channels removed (groups that lost any)."""
        return {g: self.plan.channels[g] - len(k) for g, k in self.plan.keep.items()
                if len(k) < self.plan.channels[g]}

    def __str__(self) -> str:
        removed = self.removed
        heads = {g: n for g, n in removed.items() if g.endswith("/heads")}
        chans = sum(removed.values()) - sum(heads.values())
        what = [f"{chans} channels removed in {len(removed) - len(heads)} groups"]
        if heads:
            what = what[:1] if chans else []
            what.append(f"{sum(heads.values())} heads removed in {len(heads)} attention layers")
        rows = [f"shrink: {', '.join(what)}; MACs {self.macs[0]:,} -> {self.macs[1]:,}; params "
                f"{self.params[0]:,} -> {self.params[1]:,}"]
        rows += [f"  {g}: {self.plan.channels[g] - n}/{self.plan.channels[g]} kept"
                 for g, n in removed.items()]
        return "\n".join(rows)


def removed_weights(graph, keep: dict) -> int:
    """Producer-kernel weights that slicing with ``keep`` removes."""
    cache, total = {}, 0
    for u in graph.uses:
        if u.role != "out":
            continue
        k = graph.keep_positions(u.atoms, keep)
        w = _weight(u, cache)
        total += int((~k).sum()) * (w.size // max(w.shape[-1], 1))
    return total


def derive(graph) -> tuple:
    """Read a plan from a masked model: channel c of a group is removed when every
    producer weight (kernel slice, bias) and BatchNormalization gamma/beta holding it
    is exactly zero.

    Returns:
        ``(Plan, zero_weights, total_weights, inconsistent)``: the counts are over the
        producer kernels; ``inconsistent`` maps group names to channels whose producer
        kernel slices are all zero while a bias or BatchNormalization gamma/beta of
        the channel is not (per-kernel masks: the channel cannot be removed exactly).
    """
    keep, channels, zeros, total, cache, bad = {}, {}, 0, 0, {}, {}
    for u in graph.uses:
        if u.role == "out":
            w = _weight(u, cache)
            zeros += int((w == 0).sum())
            total += w.size
    uses_of = _by_group(graph, ("out", "bias", "affine"))
    for g in graph.prunable():
        zero = np.ones(g.channels, bool)
        kernel_zero = np.ones(g.channels, bool)
        seen = np.zeros(g.channels, bool)
        for u in uses_of.get(g.index, []):
            sel = graph.atom_group[u.atoms] == g.index
            w = _weight(u, cache)
            mx = np.abs(w.reshape(-1, w.shape[-1])).max(0)[sel]
            cmax = np.zeros(g.channels)
            np.maximum.at(cmax, graph.atom_channel[u.atoms][sel], mx)
            covered = np.zeros(g.channels, bool)
            covered[graph.atom_channel[u.atoms][sel]] = True
            zero &= ~covered | (cmax == 0)
            if u.role == "out":
                seen |= covered
                kernel_zero &= ~covered | (cmax == 0)
        zero &= seen
        partial = kernel_zero & seen & ~zero
        if partial.any():
            bad[g.name] = np.flatnonzero(partial).tolist()
        if zero.any():
            if zero.all():
                zero[0] = False  # a group keeps at least one channel
            keep[g.name] = tuple(np.flatnonzero(~zero).tolist())
            channels[g.name] = g.channels
    return Plan(keep, channels), zeros, total, bad


#: ``plan(granularity="filter")``: the deprecated spelling of ``score_from="producers"``
_OLD_ROLES = {"filter": "producers"}


def check_options(*, criterion, reduction="sum", scope="layer", round_to=1, min_channels=1,
                  score_from="producers", granularity=None):
    """Validate the options of :func:`tfprune.structured.plan` before any work and return
    them as the :class:`tfprune.masking.channels.ChannelOptions` the plan uses.

    ``granularity`` is the unit planned: ``None`` or ``"channel"`` (``"head"`` is
    :func:`head_plan`); ``"weight"``, ``"n:m"`` and ``"block"`` remove no channel and are
    refused with the call that does; ``"filter"`` is the deprecated spelling of
    ``score_from="producers"`` (removed in 0.4). ``scope`` is resolved by
    :func:`tfprune.masking.scope.resolve`; a plan takes ``"layer"`` or ``"global"``.

    Raises:
        ConfigError: an unknown name (the valid ones are listed), a criterion that has no
            channel form, a per-weight granularity, a mapping scope, or a count < 1.

    Example:
        >>> check_options(criterion="taylor", scope="global", round_to=4).round_to
        4
    """
    import warnings


    if granularity in _OLD_ROLES:
        warnings.warn(f"plan(granularity={granularity!r}) is deprecated: it means "
                      f"score_from={_OLD_ROLES[granularity]!r}; pass that instead (the alias "
                      "goes in tfprune 0.4).", DeprecationWarning, stacklevel=3)
        score_from = _OLD_ROLES[granularity]
    elif granularity is not None and criteria.resolve_granularity(granularity) != "channel":
        raise errors.ConfigError(
            f"structured.plan chooses whole channels (or heads, granularity='head'); "
            f"granularity={granularity!r} removes no channel. Use tfprune.one_shot(model, "
            f"sparsity, granularity={granularity!r}) for it, or leave granularity out.")
    if callable(criterion) and not isinstance(criterion, criteria.Criterion):
        raise errors.ConfigError(
            "plan(criterion=<function>) is no longer supported: write a "
            "tfprune.criteria.Criterion (score(weight, stats) -> per-weight scores) and "
            "register it with tfprune.criteria.register_criterion; it then works at every "
            "granularity.")
    criteria.check_granularity(criteria.get(criterion), "channel")
    if scope_lib.resolve(scope).is_mapping:
        raise errors.ConfigError(
            "structured.plan takes scope='layer' or 'global'. For per-group sparsities (an "
            "Allocation) use allocation.plan(model), or tfprune.one_shot(model, "
            "scope=allocation, granularity='channel').")
    return channels.ChannelOptions(reduction=reduction, score_from=score_from,
                                   round_to=round_to, min_channels=min_channels)


def warn_kept_whole(groups, sparsity, options) -> list:
    """Warn when ``min_channels``/``round_to`` keep whole a group that ``sparsity`` would
    cut (the plan would remove nothing there without a word); return those group names.

    Example:
        >>> import warnings
        >>> class G:
        ...     name, channels = "conv", 16
        >>> from tfprune.masking.channels import ChannelOptions
        >>> with warnings.catch_warnings(record=True) as w:
        ...     warnings.simplefilter("always")
        ...     warn_kept_whole([G()], 0.5, ChannelOptions(min_channels=100))
        ['conv']
        >>> "min_channels=100" in str(w[0].message)
        True
    """
    import warnings


    whole = [g.name for g in groups
             if int(masks.kept_count(g.channels, sparsity)) < g.channels
             and int(masks.kept_count(g.channels, sparsity, round_to=options.round_to,
                                      minimum=options.min_channels)) >= g.channels]
    if whole:
        biggest = max((g for g in groups if g.name in whole), key=lambda g: g.channels)
        warnings.warn(
            f"min_channels={options.min_channels}, round_to={options.round_to} keep every "
            f"channel of {len(whole)} of {len(groups)} group(s) (e.g. {biggest.name!r}: "
            f"{biggest.channels} channels) that sparsity={sparsity:g} would cut: the plan "
            "removes nothing there. Lower min_channels/round_to, or exclude those layers.",
            UserWarning, stacklevel=3)
    return whole


def head_plan(model, sparsity=None, *, scope="layer", criterion="l2", exclude=None, data=None,
              loss=None, max_batches=None) -> Plan:
    """Choose the heads to keep in every ``MultiHeadAttention`` (the head form of
    ``structured.plan``): ``one_shot(..., granularity="head")`` chooses them through the one
    criterion path, and the kept heads are read from its masks.

    Every criterion supporting ``granularity="head"`` works: weight criteria (``"l1"``,
    ``"l2"``, ``"magnitude"``: summed over the head's query/key/value/output kernel slices),
    gradient criteria (``data=(x, y)``) and ``"sensitivity"`` (the measured loss increase
    when one head is removed; ``data=(x, y)``).

    Args:
        model: a built tf_keras model holding MultiHeadAttention layers (not modified).
        sparsity: fraction of each layer's heads to remove, in [0, 1); may be omitted with a
            dict ``scope``.
        scope: ``"layer"``, ``"global"`` or ``{attention layer name: sparsity}`` (e.g. an
            ``allocate(..., granularity="head")`` result).
        criterion, exclude, data, loss, max_batches: as for :func:`tfprune.one_shot`.

    Returns:
        A :class:`Plan` with a group ``"<layer path>/heads"`` per layer that loses a head,
        for :func:`tfprune.structured.apply_masks` / :func:`tfprune.shrink`.

    Raises:
        NothingToPruneError: the model has no MultiHeadAttention; ConfigError, DataError:
            as ``one_shot`` (before any work).

    Example:
        >>> from tfprune.compat import keras
        >>> i = keras.Input((6, 8))
        >>> a = keras.layers.MultiHeadAttention(4, 4, name="att")(i, i)
        >>> m = keras.Model(i, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(a)))
        >>> p = head_plan(m, 0.5)
        >>> len(p.keep["att/heads"]), p.channels
        (2, {'att/heads': 4})
    """

    pruned = api.one_shot(model, sparsity, criterion=criterion, scope=scope, exclude=exclude,
                          data=data, loss=loss, granularity="head", max_batches=max_batches)
    kept = channels.keep_state(pruner.wrapped_layers(pruned))
    attn = heads_lib.attention_layers(rebuild.layers_by_path(model))
    keep, count = {}, {}
    for path, layer in attn.items():
        flags = kept.get(layer.name + heads_lib.SUFFIX)
        if flags is not None and not flags.all():
            keep[path + heads_lib.SUFFIX] = tuple(int(h) for h in np.flatnonzero(flags))
            count[path + heads_lib.SUFFIX] = int(len(flags))
    return Plan(keep, count)
