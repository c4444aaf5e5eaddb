"""Every deprecated spelling tfprune still accepts, with its replacement and removal version.

One table, one warning text: a deprecated value (or name) is translated in exactly one place
(where the value is first resolved) by :func:`replace`, or announced by :func:`warn` where the
caller moves the value itself (a value that became another argument, a renamed function).

Example:
    >>> import warnings
    >>> from tfprune import deprecations
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     deprecations.replace("granularity", "unstructured")
    'weight'
    >>> print(caught[0].message)
    granularity='unstructured' is deprecated; use granularity='weight' (the alias is removed in tfprune 0.4).
    >>> deprecations.replace("granularity", "channel")
    'channel'
"""

from __future__ import annotations

import dataclasses
import warnings

from tfprune import errors

__all__ = ["Deprecation", "DEPRECATIONS", "find", "fold_options", "keyword", "keywords", "message",
           "replace", "warn"]


@dataclasses.dataclass(frozen=True)
class Deprecation:
    """One deprecated value of an argument: what to write instead and when it goes.

    ``where`` limits it to one function (``None``: wherever the argument is resolved);
    ``new_argument`` names the argument the value moved to (``None``: the same argument).
    A renamed function is the value ``old`` of the argument ``"function"``; a keyword that is
    no longer a parameter of the function ``where`` is the value ``old`` of the argument
    ``"keyword"`` (``new``: what to write instead).

    Example:
        >>> Deprecation("granularity", "unstructured", "weight", "0.4").removed_in
        '0.4'
    """

    argument: str
    old: str
    new: str
    removed_in: str
    where: str | None = None
    new_argument: str | None = None


DEPRECATIONS = (
    Deprecation("granularity", "unstructured", "weight", "0.4"),
    Deprecation("granularity", "filter", "producers", "0.4", where="structured.plan",
                new_argument="score_from"),
    Deprecation("function", "masking.pruner.apply_masks", "masking.pruner.assign_masked_weights",
                "0.4"),
    *(Deprecation("keyword", t, f"target=({t!r}, value)", "0.4", where=f)
      for f, targets in (("analysis.allocate", ("params", "macs", "bytes", "latency_ms",
                                                 "flash", "arena")),
                         ("analysis.to_budget", ("macs", "bytes", "latency_ms", "flash",
                                                  "arena")))
      for t in targets),
    Deprecation("keyword", "owl_m", "method=analysis.OWL(m=...)", "0.4",
                where="analysis.allocate"),
    Deprecation("keyword", "owl_lambda", "method=analysis.OWL(lam=...)", "0.4",
                where="analysis.allocate"),
    *(Deprecation("keyword", k, f"options=analysis.SensitivityOptions({k}=...)", "0.4",
                  where="analysis.sensitivity") for k in ("max_batches", "recalibrate_bn")),
    Deprecation("keyword", "overwrite", "options=tuning.SweepOptions(overwrite=...)", "0.4",
                where="tuning.PruningTuner"),
    # keywords folded into one value (the warning of each call spells its replacement)
    Deprecation("keyword", "n_m", "granularity='N:M'", "0.4"),
    Deprecation("keyword", "block", "granularity='block:RxC'", "0.4"),
    Deprecation("keyword", "loss", "data=tfprune.Calibration(data, loss=...)", "0.4"),
    Deprecation("keyword", "max_batches", "data=tfprune.Calibration(data, max_batches=...)", "0.4"),
    Deprecation("keyword", "compensate", "data=tfprune.Calibration(data, compensate=...)", "0.4"),
)
_BY_KEY = {(d.where, d.argument, d.old): d for d in DEPRECATIONS}


def find(argument: str, value, *, where: str | None = None) -> Deprecation | None:
    """The table entry for ``value`` of ``argument`` (in ``where``, else anywhere), or None.

    Example:
        >>> find("granularity", "filter", where="structured.plan").new_argument
        'score_from'
        >>> find("granularity", "filter") is None
        True
    """
    if not isinstance(value, str):
        return None
    return _BY_KEY.get((where, argument, value)) or _BY_KEY.get((None, argument, value))


def message(d: Deprecation) -> str:
    """The one warning text: the old spelling, the new one, the removal version.

    Example:
        >>> message(DEPRECATIONS[1])
        "structured.plan: granularity='filter' is deprecated; use score_from='producers' (the alias is removed in tfprune 0.4)."
    """
    where = f"{d.where}: " if d.where else ""
    if d.argument == "keyword":
        return (f"{where}the keyword {d.old}= is deprecated; use {d.new} (the keyword is "
                f"removed in tfprune {d.removed_in}).")
    if d.argument == "function":
        return (f"{where}tfprune.{d.old} is deprecated; use tfprune.{d.new} (the old name is "
                f"removed in tfprune {d.removed_in}).")
    return (f"{where}{d.argument}={d.old!r} is deprecated; use {d.new_argument or d.argument}="
            f"{d.new!r} (the alias is removed in tfprune {d.removed_in}).")


def warn(argument: str, value, *, where: str | None = None,
         stacklevel: int = 3) -> Deprecation | None:
    """Warn (DeprecationWarning) if ``value`` is a deprecated spelling; return its entry.

    ``stacklevel`` counts from the caller of :func:`warn` as 2 (its caller: 3, the default).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     warn("function", "masking.pruner.apply_masks").new
        'masking.pruner.assign_masked_weights'
    """
    d = find(argument, value, where=where)
    if d is not None:
        warnings.warn(message(d), DeprecationWarning, stacklevel=stacklevel)
    return d


def replace(argument: str, value, *, where: str | None = None, stacklevel: int = 3):
    """``value``, or its replacement (with a DeprecationWarning) if it is a deprecated spelling.

    ``stacklevel`` counts from the caller of :func:`replace` as 2 (its caller: 3, the default).

    Example:
        >>> replace("granularity", None) is None
        True
    """
    d = warn(argument, value, where=where, stacklevel=stacklevel + 1)
    return value if d is None else d.new


def keywords(where: str, given: dict, *, valid=(), stacklevel: int = 3) -> dict:
    """``given`` (the ``**deprecated`` keywords of ``where``), each announced once.

    A keyword that is neither deprecated in ``where`` nor ever was is refused, naming the
    function's valid keywords ``valid`` and the closest one. ``stacklevel`` counts as in
    :func:`warn`.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     keywords("analysis.allocate", {"macs": 0.5})
        {'macs': 0.5}
        >>> print(caught[0].message)
        analysis.allocate: the keyword macs= is deprecated; use target=('macs', value) (the keyword is removed in tfprune 0.4).
        >>> keywords("analysis.allocate", {"metod": "erk"}, valid=["method", "target"])
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: Unknown keyword argument of analysis.allocate() 'metod'. Did you mean 'method'? Valid: 'method', 'target'.
    """
    for key in given:
        if find("keyword", key, where=where) is None:
            raise errors.unknown_name(f"keyword argument of {where}()", key, valid)
    for key in given:
        warn("keyword", key, where=where, stacklevel=stacklevel + 1)
    return dict(given)


def fold_options(where: str, options, cls, deprecated: dict, *, valid=(), stacklevel: int = 3):
    """``options`` (a ``cls``, a frozen dataclass; None: its defaults) with the deprecated
    keywords of ``where`` (:func:`keywords`, each announced) set as its fields of the same
    name. ``stacklevel`` counts as in :func:`keywords`.

    Raises:
        ConfigError: ``options`` of another type, or an unknown keyword.

    Example:
        >>> import warnings
        >>> @dataclasses.dataclass(frozen=True)
        ... class Opts:
        ...     overwrite: bool = False
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     fold_options("tuning.PruningTuner", None, Opts, {"overwrite": True})
        Opts(overwrite=True)
        >>> fold_options("tuning.PruningTuner", {"overwrite": True}, Opts, {})
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: `options` must be a Opts, got dict {'overwrite': True}.
    """
    old = keywords(where, deprecated, valid=valid, stacklevel=stacklevel + 1)
    if options is not None and not isinstance(options, cls):
        raise errors.ConfigError(f"`options` must be a {cls.__name__}, got "
                                 f"{type(options).__name__} {options!r}.")
    return dataclasses.replace(options if options is not None else cls(), **old)


def keyword(old: str, value, replacement: str, *, stacklevel: int = 3) -> Deprecation:
    """Warn (DeprecationWarning) that the keyword ``old`` is deprecated, naming the
    ``replacement`` spelling of this very call; return its entry.

    Raises:
        KeyError: ``old`` is not a deprecated keyword of the table (a programming error).

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     _ = keyword("n_m", (1, 4), "granularity='1:4'")
        >>> print(caught[0].message)
        n_m=(1, 4) is deprecated; use granularity='1:4' (the keyword is removed in tfprune 0.4).
    """
    d = _BY_KEY[(None, "keyword", old)]
    warnings.warn(f"{old}={value!r} is deprecated; use {replacement} (the keyword is removed "
                  f"in tfprune {d.removed_in}).", DeprecationWarning, stacklevel=stacklevel)
    return d
