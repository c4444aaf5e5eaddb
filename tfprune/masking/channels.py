"""Channel granularity: dependency-group maps for the wrappers, group scores, group masks.

``prune(granularity="channel")`` builds the dependency graph of the plain model
(:func:`tfprune.graph.build`) and gives every layer holding a channel of a prunable
group a wrapper whose ``channel_map`` says which positions of which of its weights
carry which group channel. The pruner (:func:`update`) then scores each group from
its members (reduction and normalisation in :mod:`tfprune.core.criteria.grouping`),
chooses the kept channels (:func:`tfprune.core.masks.group_keep_masks`) and assigns
the masks of EVERY member (producer kernel and bias, BatchNormalization gamma/beta,
depthwise slices, consumer input slices), so the masked model equals the shrunk one.

``granularity="head"`` uses the same functions: :mod:`tfprune.masking.wrap` gives each
MultiHeadAttention wrapper a ``channel_map`` whose one group (``"<layer>/heads"``) has one
"channel" per head, living in the query/key/value kernels and biases and the output kernel.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings

import numpy as np
import tensorflow as tf

from tfprune import errors, layers
from tfprune.core import criteria as criteria_lib
from tfprune.core import masks
from tfprune.core.criteria import grouping
from tfprune.measure import probe

__all__ = ["ChannelOptions", "Member", "channel_maps", "scored_roles", "members_of",
           "layer_members", "plain_members", "groups_of",
           "group_scores", "select", "assign", "keep_state", "update", "measure"]

#: roles of the members whose weights are masked; ``stat`` (moving statistics) is not
MASKED_ROLES = ("out", "bias", "in", "dw", "affine", "scale")
SCORE_FROM = {"producers": None, "consumers": ("in",)}


@dataclasses.dataclass(frozen=True)
class ChannelOptions:
    """Options of the channel choice (``structured.plan`` exposes them).

    Attributes:
        reduction: ``"sum"``, ``"mean"`` or ``"max"`` over a group's scored members.
        score_from: ``"producers"`` (the criterion's ``score_roles``, by default
            producer and depthwise kernels) or ``"consumers"`` (consumer input slices).
        round_to: kept channel counts are multiples of this.
        min_channels: never keep fewer channels in a group.
    """

    reduction: str = "sum"
    score_from: str = "producers"
    round_to: int = 1
    min_channels: int = 1

    def __post_init__(self):
        if self.reduction not in grouping.REDUCTIONS:
            raise errors.unknown_name("reduction", self.reduction, grouping.REDUCTIONS)
        if self.score_from not in SCORE_FROM:
            raise errors.unknown_name("score_from", self.score_from, SCORE_FROM)
        for arg in ("round_to", "min_channels"):
            v = getattr(self, arg)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise errors.ConfigError(f"{arg} must be an integer >= 1, got {v!r}.")


def channel_maps(graph, groups) -> dict:
    """``id(layer) -> [channel_map entries]`` for every layer holding a channel of
    ``groups`` (see :class:`tfprune.masking.wrapper.PruningWrapper`)."""
    wanted = {g.index: g for g in groups}
    out = {}
    for u in graph.uses:
        if u.role not in MASKED_ROLES:
            continue
        gids = graph.atom_group[u.atoms]
        for gi in np.unique(gids).tolist():
            if gi not in wanted:
                continue
            pos = np.where(gids == gi, graph.atom_channel[u.atoms], -1)
            out.setdefault(id(u.layer), []).append({
                "weight": u.attr, "axis": int(u.axis), "group": wanted[gi].name,
                "channels": int(wanted[gi].channels), "role": u.role,
                "positions": [int(p) for p in pos]})
    return out


def scored_roles(crit, options) -> set:
    """Roles of the members whose weights ``crit`` scores (``options.score_from``)."""
    roles = set(SCORE_FROM[options.score_from] or crit.score_roles)
    return roles & {"out", "dw"} if crit.per_channel else roles


@dataclasses.dataclass
class Member:
    """One weight axis holding channels of a group, from a wrapper or a plain layer.

    Attributes:
        weight: the weight (variable or tensor).
        mask: its mask (``None``: a plain layer, every channel alive).
        entry: the ``channel_map`` entry (weight, axis, group, channels, role, positions).
        scored: the criterion scores this layer's members (statistics gathered here).
        layer_name: the layer holding the weight.
        score_at: ``axis -> scores per position`` (:func:`grouping.score_positions`).
        owner: the wrapper (its schedule gives the target), ``None`` for a plain layer.
    """

    weight: object
    mask: object
    entry: dict
    scored: bool
    layer_name: str
    score_at: object
    owner: object = None


def members_of(wrapper) -> list:
    """The :class:`Member` s of a wrapper's ``channel_map`` (scored with its statistics)."""
    out = []
    for e in getattr(wrapper, "channel_map", ()):
        idx = wrapper.prunable_weight_names.index(e["weight"])
        weight, mask, _ = wrapper.pruning_vars[idx]
        out.append(Member(weight, mask, e, wrapper.scored, wrapper.layer.name,
                          functools.partial(wrapper.position_scores, idx), wrapper))
    return out


def layer_members(layer, entries, crit, scored=True) -> list:
    """The :class:`Member` s of a PLAIN layer (no wrapper, no cloning): the criterion
    scores its weights as they are (weight-only criteria), through the same
    :func:`tfprune.core.criteria.grouping.score_positions` as a wrapper's.

    Example:
        >>> from tfprune.compat import keras
        >>> from tfprune.core import criteria
        >>> d = keras.layers.Dense(3, name="d"); d.build((None, 2))
        >>> e = {"weight": "kernel", "axis": -1, "group": "d", "channels": 3, "role": "out",
        ...      "positions": [0, 1, 2]}
        >>> [m.score_at(-1).shape.as_list() for m in layer_members(d, [e], criteria.get("l1"))]
        [[3]]
    """
    names = list(dict.fromkeys(e["weight"] for e in entries))
    weights = dict(zip(names, layers.prunable_weights(layer, names), strict=True))
    out = []
    for e in entries:
        idx = names.index(e["weight"])
        weight = weights[e["weight"]]
        stats = {"key": criteria_lib.weight_key(layer.name, idx)}
        out.append(Member(weight, None, e, bool(scored), layer.name, functools.partial(
            grouping.score_positions, crit, weight, stats, where=f"layer {layer.name!r}")))
    return out


def plain_members(graph, groups, crit, options) -> list:
    """:func:`layer_members` of every plain layer holding ``groups`` (weight-only
    criteria; ``structured.plan`` without cloning)."""
    maps = channel_maps(graph, groups)
    roles = scored_roles(crit, options)
    by_id = {id(u.layer): u.layer for u in graph.uses}
    return [m for i, entries in maps.items()
            for m in layer_members(by_id[i], entries, crit,
                                   any(e["role"] in roles for e in entries))]


def groups_of(sources) -> dict:
    """Group name -> (channels, [members]) from wrappers (their channel maps) or
    :class:`Member` s (:func:`layer_members`)."""
    out = {}
    for src in sources:
        for m in ([src] if isinstance(src, Member) else members_of(src)):
            n, members = out.setdefault(m.entry["group"], (m.entry["channels"], []))
            members.append(m)
    return out


def _scored(members, crit, options):
    roles = SCORE_FROM[options.score_from] or crit.score_roles
    chosen = [m for m in members if m.entry["role"] in roles and m.scored
              and not (m.entry["role"] == "affine" and m.entry["weight"] != "gamma")]
    if crit.per_channel:  # activation criteria and FPGM: the producers' outputs
        chosen = [m for m in chosen if m.entry["role"] in ("out", "dw")]
    return chosen


def group_scores(groups, crit, options) -> dict:
    """Group name -> one score per channel (``-inf`` for removed channels)."""
    out, fallback = {}, []
    for name, (n, members) in groups.items():
        chosen = _scored(members, crit, options)
        if not chosen:
            fallback.append(name)
            chosen = [m for m in members if m.entry["role"] in ("out", "dw")]
            if not chosen:
                continue
            parts = [grouping.to_channels(grouping.slice_scores(
                tf.abs(m.weight), m.entry["axis"]), m.entry["positions"], n) for m in chosen]
        else:
            parts = [grouping.to_channels(m.score_at(m.entry["axis"]), m.entry["positions"], n)
                     for m in chosen]
        scores = grouping.reduce_members(parts, options.reduction)
        alive = _alive(members, n)
        out[name] = tf.where(alive, scores, -np.inf)
    if fallback:
        warnings.warn(
            f"criterion {crit.name!r} has no member to score in {len(fallback)} group(s) "
            f"(e.g. {fallback[0]!r}); they are scored by the l1 norm of their filters.",
            stacklevel=4)
    return out


def _alive(members, n):
    m = members[0]
    if m.mask is None:  # a plain layer: every channel is alive
        return np.ones(n, bool)
    return grouping.channel_alive(m.mask.numpy(), m.entry["positions"], m.entry["axis"], n)


def _unit_size(members, n):
    total = 0
    for m in members:
        shape = m.weight.shape.as_list()
        axis = m.entry["axis"] % len(shape)
        per_pos = int(np.prod(shape)) // max(shape[axis], 1)
        total += per_pos * int(np.sum(np.asarray(m.entry["positions"]) >= 0))
    return max(total // max(n, 1), 1)


def _owner(name, members):
    for m in members:
        if m.layer_name == name.rsplit("/", 1)[-1]:
            return m.owner
    return next((m.owner for m in members if m.entry["role"] in ("out", "dw")),
                members[0].owner)


def select(groups, scores, *, step, scope, sparsity, options) -> dict:
    """Group name -> bool keep flags per channel (one kept-count rule, one budget)."""
    names = [g for g in groups if g in scores]
    if not names:
        return {}
    if scope == "global":
        target = sparsity
        if target is None:
            target = _owner(names[0], groups[names[0]][1]).target_sparsity(step)
        sizes = [_unit_size(groups[g][1], groups[g][0]) for g in names]
        keeps = masks.group_keep_masks([grouping.normalize(scores[g]) for g in names], target,
                                       scope="global", unit_sizes=sizes,
                                       round_to=options.round_to,
                                       min_channels=options.min_channels)
    else:
        per = [sparsity if sparsity is not None else
               _owner(g, groups[g][1]).target_sparsity(step) for g in names]
        keeps = masks.group_keep_masks([scores[g] for g in names], per, scope="layer",
                                       round_to=options.round_to,
                                       min_channels=options.min_channels)
    return {g: _keep_each_producer(k.numpy() > 0, np.asarray(scores[g]),
                                   _segments(groups[g][1]))
            for g, k in zip(names, keeps, strict=True)}


def _segments(members) -> list:
    """The group channels each producer layer creates (role ``out``): one array per
    layer. A concatenation group has one segment per concatenated producer."""
    segs = {}
    for m in members:
        if m.entry["role"] != "out":
            continue
        pos = np.asarray(m.entry["positions"])
        segs.setdefault(m.layer_name, set()).update(pos[pos >= 0].tolist())
    return [np.array(sorted(s), dtype=int) for s in segs.values() if s]


def _keep_each_producer(keep, scores, segments):
    """Keep >= 1 channel in every producer's segment, or shrink would rebuild a producer
    of a concatenation with 0 filters. The best channel of an emptied segment replaces
    the weakest kept channel whose segments all keep another one (the kept count is
    unchanged); only if there is none is a channel added.

    Example:
        >>> _keep_each_producer(np.array([True, True, False, False]),
        ...                     np.array([4.0, 3.0, 2.0, 1.0]),
        ...                     [np.array([0, 1]), np.array([2, 3])]).tolist()
        [True, False, True, False]
    """
    if len(segments) < 2:
        return keep
    keep = keep.copy()
    for seg in segments:
        if keep[seg].any():
            continue
        best = int(seg[np.argmax(scores[seg])])
        donors = [int(c) for c in np.flatnonzero(keep)
                  if all(keep[o].sum() > 1 for o in segments if c in o)]
        if donors:
            keep[min(donors, key=lambda c: scores[c])] = False
        keep[best] = True
    return keep


def assign(wrappers, keep: dict) -> None:
    """Assign every member wrapper's masks from the groups' keep flags."""
    for w in wrappers:
        if not getattr(w, "channel_map", None):
            continue
        full = [np.ones(v[0].shape.as_list(), np.float32) for v in w.pruning_vars]
        for e in w.channel_map:
            if e["group"] not in keep:
                continue
            i = w.prunable_weight_names.index(e["weight"])
            full[i] = full[i] * grouping.member_mask(keep[e["group"]], e["positions"],
                                                     full[i].shape, e["axis"])
        for (_, mask, thr), m in zip(w.pruning_vars, full, strict=True):
            mask.assign(tf.cast(m, mask.dtype))
            thr.assign(tf.cast(0.0, thr.dtype))


def keep_state(wrappers) -> dict:
    """Group name -> bool flags of the channels the masks keep now."""
    return {name: _alive(members, n) for name, (n, members) in groups_of(wrappers).items()}


def update(wrappers, *, step, scope, sparsity=None, options=None) -> dict:
    """Score, choose and assign the group masks of channel-granularity ``wrappers``.

    Returns:
        Group name -> bool keep flags.
    """
    options = options or ChannelOptions()
    groups = groups_of(wrappers)
    crit = wrappers[0].criterion
    scores = group_scores(groups, crit, options)
    keep = select(groups, scores, step=step, scope=scope, sparsity=sparsity, options=options)
    assign(wrappers, keep)
    return keep


def measure(model, wrappers, data, *, loss, exclude=None, max_batches=None,
            max_samples=None) -> dict:
    """Measure the ``loss_delta`` statistic of every group of the channel (or head)
    ``wrappers`` on ``model`` (plain, unpruned weights) and hand it to the wrappers
    (criterion "sensitivity"; the measuring is :func:`tfprune.measure.probe.measure_loss_deltas`).

    Returns:
        group name -> per-channel (per-head) loss increase when that channel (head) alone
        is removed.
    """
    ws = [w for w in wrappers if getattr(w, "channel_map", None)]  # TF-MOT's have none
    head = any(w.granularity == "head" for w in ws)
    deltas = probe.measure_loss_deltas(model, data, loss=loss, groups=list(groups_of(ws)),
                                       granularity="head" if head else "channel",
                                       exclude=exclude, max_batches=max_batches,
                                       max_samples=max_samples)
    for w in ws:
        per = {}
        for e in w.channel_map:
            if e["role"] not in ("out", "dw") or e["group"] not in deltas:
                continue
            i = w.prunable_weight_names.index(e["weight"])
            shape = w.pruning_vars[i][0].shape.as_list()
            axis = e["axis"] % len(shape)
            vec = per.setdefault(i, {}).setdefault(axis, np.zeros(shape[axis], np.float32))
            pos = np.asarray(e["positions"])
            vec[pos >= 0] = deltas[e["group"]][pos[pos >= 0]]
        # a plain attribute, not tracked by Keras (not a weight; not saved)
        object.__setattr__(w, "measured_stats", {i: {"loss_delta": d} for i, d in per.items()})
    return deltas
