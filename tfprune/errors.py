"""Error classes raised by tfprune. Each subclasses ValueError or TypeError.

Example:
    >>> issubclass(ConfigError, ValueError)
    True
"""

from __future__ import annotations

import difflib
import numbers

__all__ = [
    "TfpruneError",
    "ConfigError",
    "KerasVersionError",
    "ModelTypeError",
    "NothingToPruneError",
    "UnsupportedLayerError",
    "MissingCallbackError",
    "ExportError",
    "unknown_name",
    "check_sparsity",
    "check_number",
    "check_int",
    "check_print_fn",
    "check_layer_names",
    "check_pair",
    "check_loss",
    "check_output_dir",
    "check_not_pruned",
    "AlreadyPrunedError",
    "DataError",
    "OutputPathError",
]


class TfpruneError(Exception):
    """Base class of every tfprune error."""


class ConfigError(TfpruneError, ValueError):
    """An argument or configuration value is invalid."""


class KerasVersionError(TfpruneError, TypeError):
    """A Keras 3 object was passed where a tf_keras object is needed."""


class ModelTypeError(TfpruneError, TypeError):
    """The model kind is not supported (subclassed, unbuilt, not a model)."""


class NothingToPruneError(TfpruneError, ValueError):
    """The model has no layer with prunable weights."""


class UnsupportedLayerError(TfpruneError, ValueError):
    """A layer cannot be handled by the requested operation."""


class MissingCallbackError(TfpruneError, RuntimeError):
    """A pruned model was trained without tfprune.callbacks.PruningCallback."""


class AlreadyPrunedError(TfpruneError, ValueError):
    """The model already holds pruning wrappers (tfprune's or TF-MOT's)."""


class DataError(TfpruneError, ValueError):
    """Calibration data or labels do not fit the model (shape, dtype, range, NaN)."""


class OutputPathError(TfpruneError, ValueError):
    """An output path cannot be written (a file where a folder is needed, read-only)."""


class ExportError(TfpruneError, ValueError):
    """An export request cannot be fulfilled (bad data, unsupported op, bad path)."""


def unknown_name(kind: str, name, valid) -> ConfigError:
    """Build a ConfigError for an unknown name, listing valid names and the closest one.

    Example:
        >>> str(unknown_name("criterion", "magnitud", ["magnitude", "random"]))
        "Unknown criterion 'magnitud'. Did you mean 'magnitude'? Valid: 'magnitude', 'random'."
    """
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listing = ", ".join(repr(v) for v in valid)
    return ConfigError(f"Unknown {kind} {name!r}.{hint} Valid: {listing}.")


def check_sparsity(value, arg: str = "sparsity", owner: str | None = None) -> float:
    """Return ``value`` as a float in [0, 1), or raise a ConfigError naming ``arg``.

    The one sparsity check of tfprune (prune, schedules, structured plans, the demo).

    Example:
        >>> check_sparsity(0.5)
        0.5
        >>> check_sparsity(1.0, "final_sparsity", "AGP")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: AGP: `final_sparsity` must be in [0, 1) ...
    """
    prefix = f"{owner}: " if owner else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{prefix}`{arg}` must be a number in [0, 1), got {value!r}.")
    if not 0.0 <= float(value) < 1.0:
        raise ConfigError(
            f"{prefix}`{arg}` must be in [0, 1) (a fraction of weights set to zero; "
            f"0.9 means 90%), got {arg}={value!r}.")
    return float(value)


def _prefix(owner):
    return f"{owner}: " if owner else ""


def check_number(value, arg: str, owner: str | None = None, *, low: float | None = None,
                 high: float | None = None) -> float:
    """Return ``value`` as a finite float in [low, high], or raise a ConfigError naming ``arg``.

    NaN and infinity are refused (a NaN comparison is always False, so a NaN tolerance
    would silently disable every check that uses it).

    Example:
        >>> check_number(0.01, "tolerance", low=0.0)
        0.01
        >>> check_number(float("nan"), "tolerance", "AccuracyGuard")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: AccuracyGuard: `tolerance` must be a finite number, got nan...
    """
    import math

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{_prefix(owner)}`{arg}` must be a number, got {value!r}.")
    if not math.isfinite(float(value)):
        raise ConfigError(f"{_prefix(owner)}`{arg}` must be a finite number, got {value!r}. "
                          "Pass a real value (NaN and infinity disable the check).")
    if (low is not None and value < low) or (high is not None and value > high):
        span = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ConfigError(f"{_prefix(owner)}`{arg}` must be in {span}, got {arg}={value!r}.")
    return float(value)


def check_int(value, arg: str, owner: str | None = None, *, low: int | None = None) -> int:
    """Return ``value`` as an int >= ``low``, or raise a ConfigError naming ``arg``.

    Example:
        >>> check_int(3, "epochs", low=1)
        3
        >>> check_int(2.5, "epochs")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: `epochs` must be an integer, got 2.5.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{_prefix(owner)}`{arg}` must be an integer, got {value!r}.")
    if low is not None and value < low:
        raise ConfigError(f"{_prefix(owner)}`{arg}` must be an integer >= {low}, "
                          f"got {arg}={value!r}.")
    return int(value)


def check_print_fn(print_fn) -> None:
    """Refuse a ``print_fn`` that is neither callable nor None.

    Example:
        >>> check_print_fn(print)
        >>> check_print_fn(3)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: `print_fn` must be a function taking one string ...
    """
    if print_fn is not None and not callable(print_fn):
        raise ConfigError(
            f"`print_fn` must be a function taking one string (e.g. print or "
            f"logging.info) or None to print nothing, got {print_fn!r}.")


# The model and data checks live in tfprune/_checks.py (they need the classes above).
from tfprune._checks import (  # noqa: E402
    check_layer_names,
    check_loss,
    check_not_pruned,
    check_output_dir,
    check_pair,
)
