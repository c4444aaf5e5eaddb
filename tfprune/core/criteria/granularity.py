"""Granularity as one value: the unit a mask removes, with its N:M or block shape.

The one place a granularity spelling is parsed. Accepted forms:

* a name: ``"weight"``, ``"n:m"`` (2:4), ``"block"`` (4x1 blocks), ``"channel"``, ``"head"``;
* ``"N:M"`` (e.g. ``"1:4"``, ``"2:8"``): keep N of every M weights along the input axis;
* ``"block:RxC"`` (e.g. ``"block:8x1"``): ``R x C`` blocks of the kernel viewed as
  ``[inputs, outputs]``;
* a :class:`Granularity` (what the strings parse to).

``str(Granularity)`` is its canonical spelling (``"2:4"``, ``"block:4x1"``, ``"weight"``):
what configs and recipes store, and what :func:`parse` reads back.

Example:
    >>> parse("1:4"), str(parse("block:8x1")), parse("n:m").n_m
    (Granularity(name='n:m', n_m=(1, 4), block=(4, 1)), 'block:8x1', (2, 4))
"""

from __future__ import annotations

import dataclasses
import difflib
import re

from tfprune import deprecations, errors

__all__ = ["GRANULARITIES", "Granularity", "parse", "from_pairs", "FORMS"]

#: The one meaning of ``granularity`` in tfprune: the unit a mask removes.
GRANULARITIES = ("weight", "n:m", "block", "channel", "head")
#: The valid spellings, for messages.
FORMS = ("'weight'", "'n:m' (2:4)", "'N:M' such as '1:4'", "'block' (4x1)",
         "'block:RxC' such as 'block:8x1'", "'channel'", "'head'")
_NM = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")
_BLOCK = re.compile(r"^\s*block\s*:\s*(\d+)\s*[xX]\s*(\d+)\s*$")


@dataclasses.dataclass(frozen=True)
class Granularity:
    """One granularity: its name and the shape of its units (``n_m``, ``block``).

    ``n_m`` only means something for ``"n:m"``, ``block`` for ``"block"``; the other
    names keep the defaults. Build one with :func:`parse`.

    Example:
        >>> Granularity("n:m", (1, 4)).sparsity, str(Granularity("channel"))
        (0.75, 'channel')
    """

    name: str = "weight"
    n_m: tuple = (2, 4)
    block: tuple = (4, 1)

    def __str__(self) -> str:
        if self.name == "n:m":
            return f"{self.n_m[0]}:{self.n_m[1]}"
        if self.name == "block":
            return f"block:{self.block[0]}x{self.block[1]}"
        return self.name

    @property
    def sparsity(self) -> float | None:
        """``1 - N/M`` for ``"n:m"`` (fixed by the pattern), else None."""
        return 1.0 - self.n_m[0] / self.n_m[1] if self.name == "n:m" else None


def _invalid(value) -> errors.ConfigError:
    close = difflib.get_close_matches(str(value), GRANULARITIES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return errors.ConfigError(f"Unknown granularity {value!r}.{hint} Valid forms: "
                              f"{', '.join(FORMS)}.")


def _positive_pair(a: str, b: str, value) -> tuple[int, int]:
    pair = (int(a), int(b))
    if min(pair) < 1:
        raise errors.ConfigError(f"granularity={value!r}: both numbers must be >= 1. Valid "
                                 f"forms: {', '.join(FORMS)}.")
    return pair


def parse(value, default: str = "weight") -> Granularity:
    """The :class:`Granularity` a spelling stands for (``None``: ``default``, a name).

    The deprecated ``"unstructured"`` is ``"weight"`` (with a DeprecationWarning).

    Raises:
        ConfigError: an unknown spelling (the valid forms are listed), ``N >= M``
            (``0 < N < M`` is named) or a zero in a block.

    Example:
        >>> parse(None).name, parse("2:8").sparsity, parse("block:2x2").block
        ('weight', 0.75, (2, 2))
        >>> parse("4:2")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: `granularity` = (4, 2): N:M keeps N of every M weights, ...
    """
    if isinstance(value, Granularity):
        value = str(value)  # checked again: a hand-made one may hold a bad pair
    if value is None:
        value = default
    if not isinstance(value, str):
        raise _invalid(value)
    value = deprecations.replace("granularity", value, stacklevel=5)
    if value in GRANULARITIES:
        return Granularity(value)
    nm = _NM.match(value)
    if nm:
        return Granularity("n:m", n_m=errors.check_pair(
            (int(nm.group(1)), int(nm.group(2))), "granularity"))
    block = _BLOCK.match(value)
    if block:
        return Granularity("block", block=_positive_pair(*block.groups(), value))
    raise _invalid(value)


def from_pairs(name, n_m=None, block=None) -> Granularity:
    """The :class:`Granularity` of the former three-argument spelling (``granularity=name,
    n_m=(N, M), block=(R, C)``): what configs saved before 0.3 and the deprecated keywords
    give. Each pair is checked and blamed on its own argument.

    Example:
        >>> str(from_pairs("n:m", n_m=[1, 4], block=[4, 1])), str(from_pairs("weight", (2, 4)))
        ('1:4', 'weight')
    """
    spec = parse(name)
    if n_m is not None:
        n_m = errors.check_pair(tuple(n_m) if isinstance(n_m, list) else n_m, "n_m")
    if block is not None:
        try:
            r, c = block
            block = _positive_pair(r, c, block) if int(r) == r and int(c) == c else None
        except (TypeError, ValueError):
            block = None
        if block is None:
            raise errors.ConfigError("`block` must be a pair of positive ints such as (4, 1).")
    if spec.name == "n:m" and n_m is not None:
        spec = dataclasses.replace(spec, n_m=tuple(n_m))
    if spec.name == "block" and block is not None:
        spec = dataclasses.replace(spec, block=tuple(block))
    return spec
