"""Scope: which units compete for the budget. Resolved once, here; everyone else receives it.

Stop of the path: ``prune``/``one_shot`` -> pruner. A user's ``scope`` is one of
``"layer"`` (every layer or group at the target), ``"global"`` (one ranking across layers
or groups under one budget of weights) or any ``Mapping`` ``{layer_or_group: sparsity}``
(only those units, each at its own final sparsity) -- an
:class:`tfprune.analysis.allocate.Allocation` is one. :func:`resolve` turns it into a
:class:`Scope`; the pruner, the wrappers, ``structured.plan`` and the tuner read its
``ranking`` (``"layer"`` or ``"global"``) and ``targets`` instead of re-parsing the value.
"""

from __future__ import annotations

import collections.abc
import dataclasses

from tfprune import errors
from tfprune.core.criteria.base import resolve_granularity

__all__ = ["SCOPES", "RANKINGS", "Scope", "resolve"]

#: the unit an allocation's sparsities count, per granularity (weight, n:m and block
#: sparsities are all fractions of weights, so a weight allocation serves the three)
_UNIT = {"weight": "weight", "n:m": "weight", "block": "weight", "channel": "channel",
         "head": "head"}

#: The scope names; any Mapping ``{layer_or_group: sparsity}`` is the third form.
SCOPES = ("layer", "global")
#: How the pruner ranks units: each layer/group alone, or all together.
RANKINGS = ("layer", "global")


@dataclasses.dataclass(frozen=True)
class Scope:
    """The one resolved scope.

    Attributes:
        ranking: ``"layer"`` (each layer or group at its own target) or ``"global"``
            (one ranking, one budget of weights).
        targets: ``{layer_or_group: sparsity}`` for a mapping scope, else ``None``.
        granularity: the granularity the mapping was made for (an ``Allocation``'s),
            else ``None``.

    Example:
        >>> s = resolve({"fc": 0.5})
        >>> s.ranking, s.targets, s.is_mapping, s.final
        ('layer', {'fc': 0.5}, True, 0.5)
    """

    ranking: str = "layer"
    targets: dict | None = None
    granularity: str | None = None

    @property
    def is_mapping(self) -> bool:
        """True for ``{layer_or_group: sparsity}`` (only those units are pruned)."""
        return self.targets is not None

    @property
    def final(self) -> float | None:
        """The largest target of a mapping scope (the schedule's final sparsity)."""
        return max(self.targets.values()) if self.targets else None

    def __str__(self) -> str:
        return self.ranking if self.targets is None else f"{{{len(self.targets)} units}}"


def resolve(scope, granularity: str | None = None) -> Scope:
    """The one resolution of a user's ``scope`` (a :class:`Scope` is returned as is).

    Args:
        scope: ``"layer"``, ``"global"``, any Mapping ``{layer_or_group: sparsity}``
            (an ``Allocation`` included) or a :class:`Scope`.
        granularity: the granularity asked for, if any: refused when it counts another
            unit than the one an ``Allocation`` was made for (a weight allocation serves
            ``"weight"``, ``"n:m"`` and ``"block"``).

    Returns:
        A :class:`Scope`.

    Raises:
        ConfigError: an unknown name, another type, an empty mapping, a key that is not a
            string, a sparsity out of [0, 1), or a granularity that contradicts the
            allocation's -- naming the value and the fix.

    Example:
        >>> resolve("global").ranking
        'global'
        >>> resolve("globl")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: Unknown scope 'globl'. Did you mean 'global'? ...
    """
    if isinstance(scope, Scope):
        return scope
    if isinstance(scope, str):
        if scope not in SCOPES:
            raise errors.unknown_name("scope", scope, SCOPES + ("{layer_name: sparsity}",))
        return Scope(ranking=scope)
    if not isinstance(scope, collections.abc.Mapping):
        raise errors.ConfigError(
            f"`scope` must be 'layer', 'global' or a mapping {{layer_name: sparsity}} (e.g. "
            f"an Allocation from tfprune.analysis.allocate), got {type(scope).__name__} "
            f"{scope!r}.")
    targets = dict(scope.items())
    if not targets:
        raise errors.ConfigError("`scope` dict is empty: give {layer_name: sparsity}.")
    for name, value in targets.items():
        if not isinstance(name, str):
            raise errors.ConfigError(
                f"`scope` keys must be layer (or group) names, got {name!r} "
                f"({type(name).__name__}).")
        errors.check_sparsity(value, f"scope[{name!r}]")
    made_for = getattr(scope, "granularity", None)
    # a deprecated spelling ("unstructured") is translated where granularities are resolved
    made_for = resolve_granularity(made_for) if isinstance(made_for, str) else None
    if made_for and granularity and _UNIT.get(granularity) != _UNIT.get(made_for):
        raise errors.ConfigError(
            f"scope is an allocation made for granularity={made_for!r} (sparsities of "
            f"{_UNIT[made_for]}s), but granularity={granularity!r} was passed. Pass "
            f"granularity={made_for!r} (or leave it out), or allocate again with "
            f"granularity={granularity!r}.")
    return Scope(ranking="layer", targets={k: float(v) for k, v in targets.items()},
                 granularity=made_for)
