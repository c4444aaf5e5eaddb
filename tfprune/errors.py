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
