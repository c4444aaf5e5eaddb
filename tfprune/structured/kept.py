"""The :class:`Plan` value: which channels of each dependency group to keep (no Keras, no
graph; :mod:`tfprune.structured.plans` makes and reads plans, ``heads`` and ``rebuild`` apply
them)."""

from __future__ import annotations

import dataclasses

__all__ = ["Plan"]


@dataclasses.dataclass(frozen=True)
class Plan:
    """Channels to keep per dependency group.

    Attributes:
        keep: group name -> sorted tuple of kept channel indices.
        channels: group name -> channel count of the model the plan was made for.

    Example:
        >>> p = Plan({"conv": (0, 2)}, {"conv": 4})
        >>> p.removed, Plan.from_dict(p.to_dict()) == p
        (2, True)
        >>> print(p)
        Plan: 2 channels removed in 1 groups
          conv: keep 2/4
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
        heads = sum(self.channels[g] - len(k) for g, k in self.keep.items()
                    if g.endswith("/heads"))
        n_heads = sum(1 for g in self.keep if g.endswith("/heads"))
        what = [f"{self.removed - heads} channels removed in {len(self.keep) - n_heads} groups"]
        if n_heads:
            what = (what if len(self.keep) > n_heads else []) + [
                f"{heads} heads removed in {n_heads} attention layers"]
        rows = [f"Plan: {', '.join(what)}"]
        for g, k in self.keep.items():
            rows.append(f"  {g}: keep {len(k)}/{self.channels[g]}")
        return "\n".join(rows)
