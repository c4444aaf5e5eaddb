"""The model and data checks of :mod:`tfprune.errors` (layer names, N:M pairs, labels,
losses, calibration data, output folders, already-pruned models).

Users import them from ``tfprune.errors``, which re-exports every name here.

Example:
    >>> from tfprune import errors
    >>> errors.check_pair((2, 4))
    (2, 4)
"""

from __future__ import annotations

import difflib
import numbers

from tfprune.errors import (
    AlreadyPrunedError,
    ConfigError,
    OutputPathError,
    unknown_name,
)

__all__ = ["check_layer_names", "check_pair", "check_loss", "check_output_dir", "check_not_pruned"]


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
