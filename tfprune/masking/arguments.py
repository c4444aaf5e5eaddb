"""The arguments of the entry points: ``Request`` (the arguments of one ``prune``/
``one_shot``/``strip`` call), ``Calibration`` (one-shot data with the knobs that only apply
with data), and the one translation of the deprecated keywords of ``prune``/``one_shot``.

``one_shot(model, s, data=...)`` takes the data itself (``x``, ``(x, y)``, batches, a
``tf.data.Dataset``) or a :class:`Calibration` holding it with its loss, its batch limit and
``compensate``: every one of them needs data, so they travel with it.

The keywords ``n_m=``/``block=`` (now ``granularity="N:M"``/``"block:RxC"``) and ``loss=``/
``max_batches=``/``compensate=`` (now fields of :class:`Calibration`) are still accepted
until tfprune 0.4, through :func:`accepts_deprecated`, with a DeprecationWarning naming
the new spelling (:mod:`tfprune.deprecations`).

Example:
    >>> Calibration([1, 2], max_batches=1).compensate, of(None)
    (False, Calibration(data=None, loss=None, max_batches=None, compensate=False))
"""

from __future__ import annotations

import dataclasses
import functools

from tfprune import deprecations
from tfprune.core.criteria import granularity as spec_lib

__all__ = ["Request", "Calibration", "of", "accepts_deprecated", "fold_granularity",
           "GRANULARITY_KEYWORDS", "CALIBRATION_KEYWORDS"]

#: deprecated keywords folded into ``granularity``
GRANULARITY_KEYWORDS = ("n_m", "block")
#: deprecated keywords folded into ``data`` (a :class:`Calibration`)
CALIBRATION_KEYWORDS = ("loss", "max_batches", "compensate")


@dataclasses.dataclass(frozen=True)
class Request:
    """The arguments of a ``tfprune.prune``/``one_shot``/``strip`` call (their defaults).

    Example:
        >>> Request(sparsity=0.5).criterion
        'magnitude'
    """

    sparsity: float | None = None
    schedule: object = None
    criterion: object = "magnitude"
    scope: object = "layer"
    exclude: object = None
    granularity: object = None  # any spelling of tfprune.core.criteria.granularity.parse
    inplace: bool = False
    data: object = None  # the data or a Calibration (loss, max_batches, compensate)


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Calibration data for :func:`tfprune.one_shot`, with the options that need it.

    Attributes:
        data: ``x`` or ``(x, y)`` arrays (cut in batches of 64), a list of batches, or a
            ``tf.data.Dataset`` (``None``: no data).
        loss: loss for gradient criteria (default: the model's compiled loss).
        max_batches: use at most this many calibration batches.
        compensate: repair what the cut changed, without training (see
            :func:`tfprune.one_shot`).

    Example:
        >>> import tfprune
        >>> tfprune.Calibration(([[0.0]], [0]), loss="mse").loss
        'mse'
    """

    data: object = None
    loss: object = None
    max_batches: int | None = None
    compensate: bool = False


def of(data) -> Calibration:
    """``data`` as a :class:`Calibration` (a Calibration as it is).

    Example:
        >>> of([1]).data
        [1]
    """
    return data if isinstance(data, Calibration) else Calibration(data)


def fold_granularity(granularity, pairs: dict, *, stacklevel: int):
    """``granularity`` with the deprecated ``n_m``/``block`` values ``pairs`` folded in
    (each checked, blamed on its keyword, and announced with the new spelling);
    ``granularity=None`` (the criterion's default, which takes no pair) stays None.
    ``stacklevel`` counts as if this function called ``warnings.warn`` itself.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     str(fold_granularity("n:m", {"n_m": (1, 4)}, stacklevel=2))
        '1:4'
    """
    if not pairs:
        return granularity
    spec = spec_lib.from_pairs(granularity if granularity is not None else "weight",
                               pairs.get("n_m"), pairs.get("block"))  # checked either way
    new = (f"granularity={str(spec)!r}" if granularity is not None else
           "granularity='N:M' or 'block:RxC' (e.g. '2:4', 'block:4x1')")
    for k, v in pairs.items():
        deprecations.keyword(k, v, new, stacklevel=stacklevel + 1)
    return spec if granularity is not None else None


def _fold(kwargs: dict, old: dict, stacklevel: int) -> dict:
    """``kwargs`` with the deprecated keywords ``old`` folded into ``granularity``/``data``."""
    kwargs = dict(kwargs)
    pairs = {k: old[k] for k in GRANULARITY_KEYWORDS if k in old}
    if pairs:
        kwargs["granularity"] = fold_granularity(kwargs.get("granularity"), pairs,
                                                 stacklevel=stacklevel)
    knobs = {k: old[k] for k in CALIBRATION_KEYWORDS if k in old}
    if knobs:
        kwargs["data"] = dataclasses.replace(of(kwargs.get("data")), **knobs)
        for k, v in knobs.items():
            deprecations.keyword(k, v, f"data=tfprune.Calibration(data, {k}={v!r})",
                                 stacklevel=stacklevel)
    return kwargs


def accepts_deprecated(*names):
    """Decorate ``prune``/``one_shot``: the deprecated keywords ``names`` are taken out of
    the call and folded into ``granularity``/``data`` (with a DeprecationWarning); any
    other unknown keyword still raises the function's own TypeError.

    Example:
        >>> import warnings
        >>> @accepts_deprecated("n_m")
        ... def f(*, granularity=None):
        ...     return str(granularity)
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     f(granularity="n:m", n_m=(1, 4))
        '1:4'
    """
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            old = {k: kwargs.pop(k) for k in names if k in kwargs}
            if old:
                kwargs = _fold(kwargs, old, stacklevel=4)
            return fn(*args, **kwargs)

        return wrapper

    return decorate
