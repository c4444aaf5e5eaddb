"""Dependency groups: which output channels of which layers are tied together.

A *group* is a set of channels that must be removed together. Channel ``c`` of a
group lives in several places (a conv filter, the BatchNormalization scale after
it, the input slice of every consumer, the matching slice of a residual partner);
each place is a :class:`Member`. Built by :func:`tfprune.graph.build`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfprune import errors

__all__ = ["Member", "Group", "WeightUse", "ConfigEdit", "DependencyGraph"]


@dataclasses.dataclass(frozen=True)
class WeightUse:
    """One weight axis whose positions carry channels.

    ``atoms[p]`` is the channel atom at position ``p`` of ``layer.<attr>`` along
    ``axis``. ``role`` is one of ``out`` (producer kernel), ``bias``, ``in``
    (consumer kernel), ``dw`` (per-channel kernel of a depthwise conv),
    ``affine`` (normalization scale/offset), ``stat`` (moving statistics),
    ``scale`` (PReLU alpha, LayerScale gamma).
    """

    path: str
    layer: object
    attr: str
    axis: int
    role: str
    atoms: np.ndarray


@dataclasses.dataclass(frozen=True)
class ConfigEdit:
    """A layer config key whose value is the number of kept positions of ``atoms``."""

    path: str
    layer: object
    key: str
    atoms: np.ndarray


@dataclasses.dataclass(frozen=True)
class Member:
    """One place where a group's channels live.

    Attributes:
        path: layer name (``outer/inner`` inside nested models).
        class_name: the layer class.
        how: how the layer is tied to the group, in words.
        positions: group channel index at each position of the layer's
            channel axis (``-1`` where the position belongs to another group).
    """

    path: str
    class_name: str
    how: str
    positions: np.ndarray

    def where(self, n: int) -> str:
        """Describe which positions hold the group's channels (empty if exactly 0..n-1)."""
        pos = np.flatnonzero(self.positions >= 0)
        if len(pos) == len(self.positions) == n and np.array_equal(self.positions, np.arange(n)):
            return ""
        chans = self.positions[pos]
        if len(pos) == len(self.positions) and len(pos) < n and np.array_equal(
                chans, np.arange(chans[0], chans[0] + len(chans))):
            # the layer's whole axis is one segment of the group (a concatenation input)
            return f" as group channels {chans[0]}..{chans[-1]} of {n}"
        if len(pos) == n and pos[-1] - pos[0] == n - 1:
            return f" at positions {pos[0]}..{pos[-1]} of {len(self.positions)}"
        per = len(pos) / max(n, 1)
        if per > 1 and float(per).is_integer():
            return f" ({int(per)} positions per channel, {len(self.positions)} in all)"
        return f" at {len(pos)} of {len(self.positions)} positions"


@dataclasses.dataclass
class Group:
    """Channels that are removed together.

    Attributes:
        name: path of the layer that creates the group's first channel.
        index: position in :attr:`DependencyGraph.groups`.
        channels: number of channels.
        members: every place the channels live (see :class:`Member`).
        pinned_by: reasons the group cannot be pruned (empty if prunable).
    """

    name: str
    index: int
    channels: int
    members: list
    pinned_by: tuple = ()

    @property
    def prunable(self) -> bool:
        """True if no member forbids removing these channels."""
        return not self.pinned_by

    def layers(self) -> list:
        """Paths of the member layers, in graph order, without repeats."""
        return list(dict.fromkeys(m.path for m in self.members))

    def __str__(self) -> str:
        state = "prunable" if self.prunable else "pinned: " + "; ".join(self.pinned_by)
        lines = [f"Group {self.name!r}: {self.channels} channels, {state}"]
        rows = {}
        for m in self.members:  # one line per layer: everything it does with the channels
            label = f"{m.path} [{m.class_name}]"
            hows = rows.setdefault(label, [])
            how = m.how + m.where(self.channels)  # each role with its own positions
            if how not in hows:
                hows.append(how)
        width = max((len(k) for k in rows), default=0) + 1
        for label, hows in rows.items():
            lines.append(f"  {label:<{width}} {'; '.join(hows)}")
        return "\n".join(lines)


class DependencyGraph:
    """The groups of a model plus the per-weight channel maps used by surgery.

    Attributes:
        model: the model the graph was built from.
        groups: list of :class:`Group`, in graph order.
        uses: list of :class:`WeightUse`.
        edits: list of :class:`ConfigEdit`.
    """

    def __init__(self, model, groups, uses, edits, atom_group, atom_channel):
        self.model = model
        self.groups = groups
        self.uses = uses
        self.edits = edits
        self.atom_group = atom_group
        self.atom_channel = atom_channel
        self._by_name = {g.name: g for g in groups}

    def __getitem__(self, name: str) -> Group:
        try:
            return self._by_name[name]
        except KeyError:
            raise errors.unknown_name("group", name, self._by_name) from None

    def __iter__(self):
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    def prunable(self) -> list:
        """The groups that may lose channels."""
        return [g for g in self.groups if g.prunable]

    def why_none_prunable(self) -> str:
        """Why the groups are pinned: each reason once, model inputs/outputs said last.

        Example:
            >>> from tfprune.compat import keras
            >>> from tfprune.graph import build
            >>> m = keras.Sequential([keras.Input((3, 2)), keras.layers.LSTM(4, name="rnn"),
            ...                       keras.layers.Dense(2)])
            >>> build(m).why_none_prunable()  # doctest: +ELLIPSIS
            "'rnn' (LSTM) mixes channels: ... prune 'rnn' at granularity='weight' ..."
        """
        reasons = list(dict.fromkeys(r for g in self.groups for r in g.pinned_by))
        inner = [r for r in reasons if not r.startswith(("model input", "model output"))]
        if not inner:
            return "every group is tied to a model input or output, whose channels are kept"
        return "; ".join(inner) + " (groups tied to a model input or output keep their channels)"

    def group_of(self, path: str) -> Group:
        """The group whose channels ``path`` (a layer name) produces or carries."""
        for g in self.groups:
            if g.name == path:
                return g
        for g in self.groups:
            if any(m.path == path and m.how.startswith("produces") for m in g.members):
                return g
        for g in self.groups:
            if path in g.layers():
                return g

        raise errors.ConfigError(f"No group has a member named {path!r}.")

    def keep_positions(self, atoms: np.ndarray, keep: dict) -> np.ndarray:
        """Boolean keep flag per position, given ``keep[group index] -> bool[channels]``."""
        g = self.atom_group[atoms]
        c = self.atom_channel[atoms]
        out = np.ones(len(atoms), dtype=bool)
        for gi in np.unique(g):
            if gi in keep:
                sel = g == gi
                out[sel] = keep[gi][c[sel]]
        return out

    def __str__(self) -> str:
        n = len(self.prunable())
        head = f"DependencyGraph of {self.model.name!r}: {len(self.groups)} groups, {n} prunable"
        return "\n\n".join([head] + [str(g) for g in self.groups])
