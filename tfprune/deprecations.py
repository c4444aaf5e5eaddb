"""Every deprecated spelling tfprune still accepts, with its replacement and removal version.

One table, one warning function: a deprecated name is translated in exactly one place (where the
value is first resolved) by :func:`replace`, which warns once per call site.

Example:
    >>> import warnings
    >>> from tfprune import deprecations
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     deprecations.replace("granularity", "unstructured")
    'weight'
    >>> "removed in tfprune 0.4" in str(caught[0].message)
    True
    >>> deprecations.replace("granularity", "channel")
    'channel'
"""

from __future__ import annotations

import dataclasses
import warnings

__all__ = ["Deprecation", "DEPRECATIONS", "replace"]


@dataclasses.dataclass(frozen=True)
class Deprecation:
    """One deprecated value of an argument: what to write instead and when it goes."""

    argument: str
    old: str
    new: str
    removed_in: str


DEPRECATIONS = (
    Deprecation("granularity", "unstructured", "weight", "0.4"),
)
_BY_KEY = {(d.argument, d.old): d for d in DEPRECATIONS}


def replace(argument: str, value, *, stacklevel: int = 3):
    """``value``, or its replacement (with a DeprecationWarning) if it is a deprecated spelling."""
    if not isinstance(value, str):
        return value
    d = _BY_KEY.get((argument, value))
    if d is None:
        return value
    warnings.warn(f"{argument}={d.old!r} is deprecated; use {argument}={d.new!r} (the alias is "
                  f"removed in tfprune {d.removed_in}).", DeprecationWarning, stacklevel=stacklevel)
    return d.new
