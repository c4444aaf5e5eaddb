"""Error classes raised by tfprune (each subclasses ValueError or TypeError), and the argument,
model and path checks that raise them.

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


# The model and data checks (layer names, N:M pairs, losses, output folders, already-pruned
# models): one module with the classes they raise.


def _names(model) -> list[str]:
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer.name)
        inner = getattr(layer, "layer", None)  # a pruning wrapper
        if inner is not None and getattr(inner, "name", None):
            out.append(inner.name)
        if hasattr(layer, "layers") and layer is not model:
            out.extend(_names(layer))
    return out


def check_layer_names(arg: str, value, model) -> list[str]:
    """Return ``value`` as a list of layer names of ``model``; unknown names are refused.

    A string is ONE name (``exclude="fc1"`` means ``["fc1"]``, never its letters). Each
    unknown name is reported with the closest existing name.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="fc1")])
        >>> check_layer_names("exclude", "fc1", m)
        ['fc1']
        >>> check_layer_names("exclude", ["fc"], m)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: `exclude` names layer 'fc', which model ... Did you mean 'fc1'? ...
    """
    if value is None:
        return []
    names = [value] if isinstance(value, str) else value
    try:
        names = list(names)
    except TypeError:
        raise ConfigError(f"`{arg}` must be a layer name or a list of layer names, got "
                          f"{value!r}.") from None
    valid = _names(model)
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"`{arg}` must hold layer names (strings), got {name!r} in "
                              f"{value!r}.")
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"`{arg}` names layer {name!r}, which model {getattr(model, 'name', '?')!r} "
                f"does not have.{hint} Layers: {', '.join(repr(v) for v in valid)}.")
    return names


def check_pair(value, arg: str = "n_m") -> tuple[int, int]:
    """Return an N:M pair ``(n, m)`` with 0 < n < m, or raise a ConfigError naming ``arg``.

    Example:
        >>> check_pair((2, 4))
        (2, 4)
        >>> check_pair((4, 2))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: `n_m` = (4, 2): N:M keeps N of every M weights, so ...
    """
    try:
        n, m = value
    except (TypeError, ValueError):
        raise ConfigError(f"`{arg}` must be a pair (N, M) such as (2, 4), got {value!r}.") \
            from None
    for v in (n, m):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ConfigError(f"`{arg}` must hold two integers (N, M) such as (2, 4), got "
                              f"{value!r}.")
    if not 0 < n < m:
        raise ConfigError(
            f"`{arg}` = {tuple(value)!r}: N:M keeps N of every M weights, so it needs "
            f"0 < N < M, e.g. (2, 4) or ({min(n, m)}, {max(n, m)}). (`sparsity` is not used "
            "with n:m: it is 1 - N/M.)")
    return int(n), int(m)


def check_loss(name):
    """Return a Keras loss for ``name`` (a name, a Loss or a callable); typos get a hint.

    Example:
        >>> check_loss("mse").__name__
        'mean_squared_error'
        >>> check_loss("sparse_categorical_crosentropy")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: Unknown loss 'sparse_categorical_crosentropy'. Did you mean 'sparse_categorical_crossentropy'? ...
    """
    import tf_keras as keras  # the compat step has run: tfprune imports compat first

    if callable(name):
        return name
    if not isinstance(name, str):
        raise ConfigError(f"`loss` must be a loss name, a keras Loss or a function "
                          f"(y_true, y_pred), got {name!r}.")
    try:
        return keras.losses.get(name)
    except (ValueError, TypeError):
        valid = [n for n in dir(keras.losses) if not n.startswith("_") and n.islower()
                 and n not in ("get", "serialize", "deserialize")]
        raise unknown_name("loss", name, valid) from None


def check_output_dir(path, *, arg: str = "out"):
    """Check, before any work, that ``path`` (a folder to create or fill) can be written.

    Returns:
        ``path`` as a ``pathlib.Path``.

    Raises:
        OutputPathError: ``path`` is an existing file, or its nearest existing folder is
            not writable.

    Example:
        >>> import tempfile
        >>> check_output_dir(tempfile.mkdtemp()).is_dir()
        True
    """
    import os
    import pathlib

    p = pathlib.Path(path)
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"`{arg}`={str(path)!r} is an existing file, not a folder: "
                              "choose another path or remove the file.")
    probe = p
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputPathError(f"`{arg}`={str(path)!r} cannot be written ({str(probe)!r} is "
                              "read-only for this user): choose a writable folder.")
    return p


def check_not_pruned(model, arg: str = "model") -> None:
    """Refuse a model that already holds pruning wrappers (tfprune's or TF-MOT's).

    Example:
        >>> from tfprune.compat import keras
        >>> check_not_pruned(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    """
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    def found(m):
        for layer in getattr(m, "layers", []):
            if isinstance(layer, pruning_wrapper.PruneLowMagnitude):
                yield layer
            elif hasattr(layer, "layers"):
                yield from found(layer)

    hits = [w.name for w in found(model)]
    if hits:
        raise AlreadyPrunedError(
            f"`{arg}` {getattr(model, 'name', '?')!r} is already pruned (pruning wrappers: "
            f"{', '.join(hits[:5])}{', ...' if len(hits) > 5 else ''}). Strip it first with "
            "tfprune.strip(model) (TF-MOT: tfmot.sparsity.keras.strip_pruning) and prune the "
            "plain model, or keep training the pruned one.")
