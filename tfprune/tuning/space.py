"""Search spaces over pruning settings, and the settings one trial runs with.

A search space is a keras-tuner ``hp`` function (``space(hp) -> dict | None``), a dict
(a list value becomes ``hp.Choice``, ``[False, True]`` ``hp.Boolean``, a scalar ``hp.Fixed``)
or ``None`` for
:func:`default_space`. Every point of the space is turned into *settings*: a dict with
the keys of :data:`DEFAULTS`, validated by :func:`settings_from` before any trial runs.

Example:
    >>> import keras_tuner as kt
    >>> hp = kt.HyperParameters()
    >>> s = settings_from(from_dict({"sparsity": [0.5, 0.8], "epochs": 1}), hp)
    >>> s["sparsity"], s["granularity"], s["schedule"]
    (0.5, 'weight', 'one_shot')
"""

from __future__ import annotations

import inspect
import numbers

from tfprune import callbacks, errors
from tfprune.core import criteria as criteria_lib
from tfprune.masking import scope as scope_lib

__all__ = ["DEFAULTS", "DISTILL_DEFAULTS", "GRANULARITIES", "SCHEDULES", "default_space",
           "from_dict", "settings_from", "check_settings", "check_space", "grid_size"]

#: Every setting a trial understands, with its value when the space does not set it.
DEFAULTS = {
    "sparsity": None,        # fraction removed, [0, 1): weights ("weight") or channels ("channel")
    "mac_fraction": None,    # or: keep this fraction of the dense model's MACs, (0, 1]
    "criterion": "magnitude",
    "granularity": "weight",
    "scope": "layer",
    "schedule": "one_shot",
    "epochs": 1,             # fine-tune epochs (Hyperband sets them through "tuner/epochs")
    "learning_rate": 1e-3,
    "distill": False,        # fine-tune with the dense model as teacher (tfprune.distill)
    "temperature": None,     # distillation temperature T > 0 (None: distill's default)
    "alpha": None,           # weight in [0, 1] of the distillation term (None: distill's default)
}
#: The values a distilling trial uses when the space leaves ``temperature``/``alpha`` unset:
#: :func:`tfprune.distill`'s own defaults.
DISTILL_DEFAULTS = {k: p.default for k, p in inspect.signature(callbacks.distill).parameters.items()
                    if k in ("temperature", "alpha")}  # one owner: tfprune.distill
#: The granularities a trial runs: those of tfprune's one table that a trial can shrink
#: or measure (weight and channel), in the table's order.
GRANULARITIES = tuple(g for g in criteria_lib.GRANULARITIES if g in ("weight", "channel"))
SCHEDULES = ("one_shot", "agp")
#: A trial's scope is one of the scope names (a per-layer mapping is an allocation's job).
SCOPES = scope_lib.SCOPES


def default_space(hp):
    """The built-in space: sparsity, granularity, scope, schedule, epochs, learning rate.

    Magnitude criterion (|w| per weight; per channel, the group's summed scores).

    Example:
        >>> import keras_tuner as kt
        >>> hp = kt.HyperParameters()
        >>> s = settings_from(default_space, hp)
        >>> s["criterion"], s["granularity"], s["distill"]
        ('magnitude', 'weight', False)
    """
    hp.Float("sparsity", 0.3, 0.9, step=0.1)
    hp.Choice("granularity", list(GRANULARITIES))
    hp.Choice("scope", list(SCOPES))
    hp.Choice("schedule", list(SCHEDULES))
    hp.Int("epochs", 1, 3)
    hp.Choice("learning_rate", [1e-3, 3e-4])


def from_dict(space: dict):
    """An ``hp`` function from ``{setting: value or [choices]}``.

    Example:
        >>> import keras_tuner as kt
        >>> hp = kt.HyperParameters()
        >>> from_dict({"sparsity": [0.5, 0.9]})(hp); hp.get("sparsity")
        0.5
    """
    if not isinstance(space, dict):
        raise errors.ConfigError(f"A search space dict was expected, got {type(space).__name__}.")
    unknown = sorted(set(space) - set(DEFAULTS))
    if unknown:
        raise errors.unknown_name("setting", unknown[0], DEFAULTS)

    def space_fn(hp):
        for name, value in space.items():
            if isinstance(value, (list, tuple)):
                if not value:
                    raise errors.ConfigError(f"Search space {name!r}: the list of choices is empty.")
                if set(value) == {False, True} and all(isinstance(v, bool) for v in value):
                    hp.Boolean(name, default=value[0])  # a Choice would give 0 and 1
                else:
                    hp.Choice(name, list(value))
            else:
                hp.Fixed(name, value)

    space_fn.spec = dict(space)
    return space_fn


def _check_number(name, value, low, high, *, low_open=False, integer=False):
    kind = int if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise errors.ConfigError(f"Setting {name!r} must be a number, got {value!r}.")
    if value < low or value > high or (low_open and value == low):
        lo = "(" if low_open else "["
        raise errors.ConfigError(f"Setting {name!r} must be in {lo}{low}, {high}], got {value!r}.")


def _check_choice(name, value, valid):
    if value not in valid:
        raise errors.unknown_name(f"{name} (search-space setting)", value, valid)


def _check_distill(s: dict) -> None:
    """``distill`` a bool; with it, ``temperature`` in (0, 100] and ``alpha`` in [0, 1]
    (unset: :data:`DISTILL_DEFAULTS`); without it, both are ``None`` (not used)."""
    if s["distill"] in (0, 1) and not isinstance(s["distill"], float):
        s["distill"] = bool(s["distill"])  # hp.Choice("distill", [False, True]) gives 0 and 1
    if not isinstance(s["distill"], bool):
        raise errors.ConfigError(
            f"Setting 'distill' must be True or False (fine-tune with the dense model as "
            f"teacher), got {s['distill']!r}; e.g. {{'distill': [False, True]}}.")
    for name, low_open, high in (("temperature", True, 100.0), ("alpha", False, 1.0)):
        if s[name] is not None:
            _check_number(name, s[name], 0.0, high, low_open=low_open)
        s[name] = (s[name] if s[name] is not None else DISTILL_DEFAULTS[name]) if s["distill"] \
            else None
    if s["distill"] and s["epochs"] < 1:
        raise errors.ConfigError("distill=True fine-tunes with the dense model as teacher: it "
                                 f"needs epochs >= 1, got epochs={s['epochs']!r}.")


def check_settings(s: dict) -> dict:
    """Validate one point of the space; return it with defaults filled in.

    Example:
        >>> s = check_settings({"sparsity": 0.5, "distill": True, "alpha": 0.5})
        >>> s["distill"], s["temperature"], s["alpha"]
        (True, 4.0, 0.5)
        >>> check_settings({"sparsity": 0.5, "distill": "yes"})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: Setting 'distill' must be True or False ...
    """
    unknown = sorted(set(s) - set(DEFAULTS))
    if unknown:
        raise errors.unknown_name("setting", unknown[0], DEFAULTS)
    s = {**DEFAULTS, **{k: v for k, v in s.items() if v is not None}}
    if (s["sparsity"] is None) == (s["mac_fraction"] is None):
        raise errors.ConfigError(
            "Each trial needs exactly one of 'sparsity' (fraction removed, e.g. [0.5, 0.8]) or "
            f"'mac_fraction' (fraction of the dense MACs kept); got sparsity={s['sparsity']!r}, "
            f"mac_fraction={s['mac_fraction']!r}.")
    if s["sparsity"] is not None:
        errors.check_sparsity(s["sparsity"], "sparsity", "search space")
    else:
        _check_number("mac_fraction", s["mac_fraction"], 0.0, 1.0, low_open=True)
    _check_choice("granularity", s["granularity"], GRANULARITIES)
    _check_choice("scope", s["scope"], SCOPES)
    _check_choice("schedule", s["schedule"], SCHEDULES)
    crit = criteria_lib.get(s["criterion"])  # the registry's own error for unknown names
    if s["granularity"] not in crit.granularities:
        raise errors.ConfigError(
            f"criterion {s['criterion']!r} does not work at granularity {s['granularity']!r} "
            f"(it supports {list(crit.granularities)}). Use hp.conditional_scope to pair "
            "criteria with granularities, or choose another criterion.")
    _check_number("epochs", s["epochs"], 0, 10_000, integer=True)
    if s["schedule"] == "agp" and s["epochs"] < 1:
        raise errors.ConfigError("schedule='agp' ramps the sparsity during fine-tuning: it needs "
                                 f"epochs >= 1, got epochs={s['epochs']!r}.")
    _check_number("learning_rate", s["learning_rate"], 0.0, 10.0, low_open=True)
    _check_distill(s)
    return s


def settings_from(space_fn, hp) -> dict:
    """Run ``space_fn(hp)`` and return the validated settings of that point.

    ``space_fn`` may return a dict of settings; if it returns ``None`` the active
    hyperparameter values are the settings (keras-tuner's ``tuner/*`` values aside).
    """
    out = space_fn(hp)
    if out is None:
        out = {k: v for k, v in hp.values.items() if not k.startswith("tuner/")}
        out = {k: v for k, v in out.items() if _active(hp, k)}
    elif not isinstance(out, dict):
        raise errors.ConfigError(
            f"The search-space function must return a dict of settings or None, got "
            f"{type(out).__name__}.")
    return check_settings(dict(out))


def _active(hp, name) -> bool:
    try:
        return hp.is_active(name)
    except (KeyError, ValueError):
        return True


def _probes(p):
    cfg = p.get_config()
    kind = type(p).__name__
    if kind == "Choice":
        return list(cfg["values"])
    if kind in ("Int", "Float"):
        return [cfg["min_value"], cfg["max_value"]]
    if kind == "Boolean":
        return [False, True]
    return [cfg.get("value")]


def check_space(space_fn, space_hp) -> None:
    """Refuse an empty space and any declared value that gives invalid settings.

    Every Choice value and the ends of every Int/Float range are tried (one at a time).
    """
    if not space_hp.space:
        raise errors.ConfigError(
            "The search space is empty: declare at least one hyperparameter, e.g. "
            "hp.Float('sparsity', 0.5, 0.9, step=0.1), or pass a dict such as "
            "{'sparsity': [0.5, 0.8]}.")
    settings_from(space_fn, space_hp.copy())
    for p in space_hp.space:
        for value in _probes(p):
            hp = space_hp.copy()
            if not hp.is_active(p):
                continue
            hp.values[p.name] = value
            try:
                settings_from(space_fn, hp)
            except errors.ConfigError as e:
                raise errors.ConfigError(
                    f"Search space: {p.name}={value!r} gives invalid settings: {e}") from e


def grid_size(space_hp) -> int | None:
    """How many points a grid over ``space_hp`` has at most (``None``: a continuous range).

    Example:
        >>> import keras_tuner as kt
        >>> hp = kt.HyperParameters()
        >>> from_dict({"sparsity": [0.5, 0.8], "distill": [False, True], "epochs": 1})(hp)
        >>> grid_size(hp)
        4
    """
    size = 1
    for p in space_hp.space:
        cfg = p.get_config()
        kind = type(p).__name__
        if kind in ("Int", "Float"):
            step = cfg.get("step") or (1 if kind == "Int" else None)
            if not step or cfg.get("sampling") not in (None, "linear"):
                return None
            size *= int(round((cfg["max_value"] - cfg["min_value"]) / step)) + 1
        else:
            size *= len(_probes(p))
    return size
