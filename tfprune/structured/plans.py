"""Plans: which channels of each dependency group to keep, chosen by a criterion or read
from the zeros of a masked model."""

from __future__ import annotations

import dataclasses
import math
import numbers
import warnings

import numpy as np

from tfprune import errors
from tfprune.core.criteria import channel_scores

__all__ = [
    "Plan",
    "keep_masks",
    "score_groups",
    "choose",
    "select",
    "check_options",
    "check_round_to",
    "derive",
    "ROLES",
    "REDUCTIONS",
]

ROLES = {"filter": ("out", "dw"), "channel": ("in",)}
REDUCTIONS = ("sum", "mean", "max")
SCOPES = ("layer", "global")


@dataclasses.dataclass(frozen=True)
class Plan:
    """Channels to keep per dependency group.

    Attributes:
        keep: group name -> sorted tuple of kept channel indices.
        channels: group name -> channel count of the model the plan was made for.
    """

    keep: dict
    channels: dict

    @property
    def removed(self) -> int:
        """Number of channels removed over all groups."""
        return sum(self.channels[g] - len(k) for g, k in self.keep.items())

    def to_dict(self) -> dict:
        """JSON-ready form; :meth:`from_dict` inverts it."""
        return {
            "keep": {g: list(map(int, k)) for g, k in self.keep.items()},
            "channels": dict(self.channels),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Plan:
        """Inverse of :meth:`to_dict`."""
        return cls({g: tuple(k) for g, k in d["keep"].items()}, dict(d["channels"]))

    def __str__(self) -> str:
        rows = [f"Plan: {self.removed} channels removed in {len(self.keep)} groups"]
        for g, k in self.keep.items():
            rows.append(f"  {g}: keep {len(k)}/{self.channels[g]}")
        return "\n".join(rows)


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


def _use_scores(graph, use, g, fn, cache):
    w = _weight(use, cache)
    s = np.asarray(fn(w), dtype=np.float64).reshape(-1)
    sel = graph.atom_group[use.atoms] == g.index
    acc = np.zeros(g.channels)
    cov = np.zeros(g.channels)
    ch = graph.atom_channel[use.atoms][sel]
    np.add.at(acc, ch, s[sel])
    np.add.at(cov, ch, 1.0)
    return acc, cov > 0


def score_groups(graph, groups, *, criterion, granularity, reduction) -> dict:
    """Group index -> per-channel score, aggregating members by ``reduction``.

    A member's score for channel ``c`` is the criterion of its weight slice(s)
    holding ``c`` (summed over positions when ``c`` occupies several, e.g. after
    Flatten). Members are combined by sum, mean (over members holding ``c``) or max.
    """
    fn = channel_scores.get(criterion)
    roles = ("affine",) if criterion == "bn_scale" else ROLES[granularity]
    out, fallback, cache = {}, [], {}
    uses_of = _by_group(graph, roles)
    filters_of = _by_group(graph, ROLES["filter"]) if criterion == "bn_scale" else {}
    for g in groups:
        uses = [u for u in uses_of.get(g.index, []) if u.attr != "beta"]
        f = fn
        if not uses and criterion == "bn_scale":
            fallback.append(g.name)
            f = channel_scores.l1
            uses = filters_of.get(g.index, [])
        parts = [_use_scores(graph, u, g, f, cache) for u in uses]
        if not parts:
            continue
        acc = np.stack([p[0] for p in parts])
        cov = np.stack([p[1] for p in parts])
        if reduction == "sum":
            out[g.index] = acc.sum(0)
        elif reduction == "max":
            out[g.index] = acc.max(0)
        else:
            out[g.index] = acc.sum(0) / np.maximum(cov.sum(0), 1)
    if fallback:
        warnings.warn(
            f"criterion='bn_scale': {len(fallback)} groups have no BatchNormalization "
            f"(e.g. {fallback[0]!r}); they are scored by the l1 norm of their filters.",
            stacklevel=3,
        )
    return out


def _check_choice(arg, value, valid):
    if value not in valid:
        raise errors.unknown_name(arg, value, valid)


def _n_keep(n, sparsity, round_to, min_channels):
    k = max(n - int(round(n * sparsity)), min_channels, 1)
    if round_to > 1:
        k = int(math.ceil(k / round_to) * round_to)
    return min(k, n)


def choose(graph, scores: dict, *, sparsity, round_to, min_channels, scope) -> dict:
    """Group index -> kept channel indices from per-channel scores."""
    counts = {}
    if scope == "global" and scores:
        names = list(scores)
        flat = np.concatenate([scores[g] / (scores[g].mean() or 1.0) for g in names])
        order = np.argsort(flat, kind="stable")[: int(round(flat.size * sparsity))]
        pruned = np.zeros(flat.size, bool)
        pruned[order] = True
        start = 0
        for g in names:
            n = len(scores[g])
            frac = pruned[start : start + n].mean()
            counts[g] = _n_keep(n, float(frac), round_to, min_channels)
            start += n
    else:
        counts = {g: _n_keep(len(s), sparsity, round_to, min_channels) for g, s in scores.items()}
    return {g: np.sort(np.argsort(-scores[g], kind="stable")[:k]) for g, k in counts.items()}


def check_options(*, criterion, granularity, reduction, scope, round_to, min_channels) -> None:
    """Validate the options shared by ``structured.plan`` and ``ChannelPruning``.

    Raises:
        ConfigError: an unknown name (the valid ones are listed) or a count < 1.

    """
    if not callable(criterion):
        _check_choice("criterion", criterion, channel_scores.SCORES)
    _check_choice("granularity", granularity, ROLES)
    _check_choice("reduction", reduction, REDUCTIONS)
    _check_choice("scope", scope, SCOPES)
    for arg, v in (("round_to", round_to), ("min_channels", min_channels)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
            raise errors.ConfigError(f"{arg} must be an integer >= 1, got {v!r}.")


def check_round_to(groups, round_to: int) -> None:
    """Refuse a ``round_to`` larger than a prunable group."""
    small = [x.name for x in groups if x.channels < round_to]
    if small:
        raise errors.ConfigError(
            f"round_to={round_to} is larger than the {len(small)} group(s) {small[:5]} "
            f"(fewest channels: {min(x.channels for x in groups)}). Lower round_to or add "
            "those layers to exclude=[...]."
        )


def select(
    graph,
    *,
    sparsity,
    criterion,
    granularity,
    reduction,
    round_to,
    min_channels,
    scope,
    previous=None,
) -> dict:
    """Group index -> kept channel indices of every prunable group (score, then choose).

    ``previous`` (group index -> bool keep array) makes the choice nested: channels
    it removed score lowest (0, or below every other score if some are negative) and
    stay removed, so a channel once pruned is never brought back.
    """
    groups = graph.prunable()
    scores = score_groups(
        graph, groups, criterion=criterion, granularity=granularity, reduction=reduction
    )
    previous = previous or {}
    for gi, s in scores.items():
        old = previous.get(gi)
        if old is not None and not old.all():
            floor = 0.0 if s[old].min() >= 0 else s[old].min() - 1.0
            s[~old] = np.minimum(s[~old], floor)
    kept = choose(
        graph,
        scores,
        sparsity=sparsity,
        round_to=round_to,
        min_channels=min_channels,
        scope=scope,
    )
    for gi, k in kept.items():
        if gi in previous:
            nested = k[previous[gi][k]]
            kept[gi] = nested if nested.size else k
    return kept


def derive(graph) -> tuple:
    """Read a plan from a masked model: channel c of a group is removed when every
    producer weight (kernel slice, bias) and BatchNormalization gamma/beta holding it
    is exactly zero. Returns ``(Plan, fraction of exact zeros in producer kernels)``."""
    keep, channels, zeros, total, cache = {}, {}, 0, 0, {}
    for u in graph.uses:
        if u.role == "out":
            w = _weight(u, cache)
            zeros += int((w == 0).sum())
            total += w.size
    uses_of = _by_group(graph, ("out", "bias", "affine"))
    for g in graph.prunable():
        zero = np.ones(g.channels, bool)
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
        zero &= seen
        if zero.any():
            if zero.all():
                zero[0] = False  # a group keeps at least one channel
            keep[g.name] = tuple(np.flatnonzero(~zero).tolist())
            channels[g.name] = g.channels
    return Plan(keep, channels), zeros / max(total, 1)
