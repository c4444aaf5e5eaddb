"""The user's model for the CLI: a saved file, a ``tf_keras.applications`` name or the
demo CNN, loaded (or built offline, ``weights=None``) and checked before any work.

Example:
    >>> load_model("demo_cnn").name
    'demo_cnn'
    >>> load_model("MobileNetV2", {"input_shape": [32, 32, 3], "classes": 4, "alpha": 0.35}).output_shape
    (None, 4)
"""

from __future__ import annotations

import inspect
import os

from tfprune import compat, errors
from tfprune.app.builtin import demo_cnn
from tfprune.compat import keras

__all__ = ["load_model", "application_names", "is_model_path", "cli_options"]

_SUFFIXES = (".keras", ".h5", ".hdf5")


def application_names() -> list:
    """Names of the model builders in ``tf_keras.applications`` (``MobileNetV2``, ...).

    Example:
        >>> "ResNet50" in application_names()
        True
    """
    return sorted(n for n in dir(keras.applications) if n[0].isupper()
                  and callable(getattr(keras.applications, n)))


def is_model_path(spec: str) -> bool:
    """True if ``spec`` looks like a file path rather than a model name."""
    return os.sep in spec or spec.endswith(_SUFFIXES) or os.path.exists(spec)


def _application(name: str, options: dict):
    build = getattr(keras.applications, name)
    accepted = inspect.signature(build).parameters
    kwargs = {"weights": None}
    if "input_shape" in options:
        kwargs["input_shape"] = tuple(options["input_shape"])
    if "classes" in options:
        kwargs["classes"] = int(options["classes"])
    if "alpha" in options:
        if "alpha" not in accepted:
            raise errors.ConfigError(f"model_options.alpha: {name} has no width multiplier; "
                                     "remove the key.")
        kwargs["alpha"] = float(options["alpha"])
    try:
        return build(**kwargs)
    except ValueError as exc:
        raise errors.ConfigError(f"tf_keras.applications.{name}({kwargs}): {exc}") from None


def _load_file(path: str, safe_mode: bool = True):
    if "\0" in path:
        raise errors.ConfigError(f"Model {path!r} holds a NUL byte; give a real path.")
    if not os.path.exists(path):
        raise errors.ConfigError(f"Model {path!r} does not exist. Give a .keras/.h5 file, a "
                                 "SavedModel folder or a tf_keras.applications name.")
    try:  # tf_keras files, or a Keras 3 .keras file translated to tf_keras
        model, _ = compat.load_model(path, safe_mode=safe_mode)
    except errors.TfpruneError:
        raise
    except Exception as exc:  # noqa: BLE001  (any loader failure means "not a model")
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise errors.ConfigError(
            f"Model {path!r} could not be loaded as a tf_keras model ({first}). Give a .keras/"
            ".h5 file or a SavedModel folder saved by tf_keras; a model with custom layers "
            "needs them registered (keras.saving.register_keras_serializable).") from None
    if not isinstance(model, keras.Model):
        raise errors.ConfigError(f"Model {path!r} loaded as {type(model).__name__}, not a Keras "
                                 "model (a bare SavedModel from tf.saved_model.save?). Save it "
                                 "with model.save('model.keras').")
    compat.check_tf_keras_model(model)
    return model


MAX_INPUT_ELEMENTS = 2**24  # one sample of a built model: 16.7 M values (64 MB as float32)


def check_input_shape(shape, key: str = "model_options.input_shape") -> tuple:
    """Refuse an input shape whose one sample would need an absurd amount of memory
    (more than :data:`MAX_INPUT_ELEMENTS` values), before any model is built.

    Example:
        >>> check_input_shape([96, 96, 3])
        (96, 96, 3)
        >>> check_input_shape([4096, 4096, 3])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: model_options.input_shape [4096, 4096, 3]: one sample is 50,331,648 values...
    """
    n = 1
    for s in shape:
        n *= int(s)
    if n > MAX_INPUT_ELEMENTS:
        raise errors.ConfigError(
            f"{key} {list(shape)}: one sample is {n:,} values ({n * 4 / 2**20:,.0f} MiB as "
            f"float32), more than the {MAX_INPUT_ELEMENTS:,} tfprune builds models for; "
            "training would need that times the batch size and every layer's activations. "
            "Give a smaller input shape (e.g. 224, 224, 3).")
    return tuple(int(s) for s in shape)


def _demo_cnn_params(shape, classes) -> int:
    h, w, c = (list(shape) + [1, 1, 1])[:3]
    h, w = ((h - 2) // 2 - 2) // 2, ((w - 2) // 2 - 2) // 2
    return (9 * c + 1) * 32 + (9 * 32 + 1) * 64 + (max(h, 0) * max(w, 0) * 64 + 1) * 128 \
        + 129 * classes


def load_model(spec: str, options: dict | None = None, *, safe_mode: bool = True):
    """Load or build the model named by ``spec`` (always a tf_keras model; a Keras 3
    ``.keras`` file is translated, see :func:`tfprune.compat.load_model`).

    Args:
        spec: ``"demo_cnn"``, a ``tf_keras.applications`` name (built with
            ``weights=None``: nothing downloads) or a .keras/.h5/SavedModel path (tf_keras or
            Keras 3).
        options: ``input_shape``, ``classes``, ``alpha`` for built models.
        safe_mode: ``False`` allows a model file carrying Python code (a ``Lambda`` layer
            holding a ``lambda``; the CLI's ``--unsafe``): it runs while loading.

    Raises:
        ConfigError: a missing path, a file that is not a model or carries code, an unknown
            name (with the closest application name), an input shape or model too large.

    Example:
        >>> load_model("MobileNetV3")
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: Unknown model 'MobileNetV3'. Did you mean 'MobileNetV2'? \
Give a .keras/.h5 file, a SavedModel folder, 'demo_cnn' or a tf_keras.applications name.
    """
    options = dict(options or {})
    if "input_shape" in options:
        check_input_shape(options["input_shape"])
    if spec == "demo_cnn":
        shape = tuple(options.get("input_shape", (28, 28, 1)))
        params = _demo_cnn_params(shape, int(options.get("classes", 10)))
        if params > 100_000_000:
            raise errors.ConfigError(
                f"model_options.input_shape {list(shape)}: demo_cnn at this size has {params:,} "
                f"weights ({params * 4 / 2**30:,.1f} GiB; its Dense layer takes the flattened "
                "image). Give a smaller input_shape or a convolutional model (MobileNetV2).")
        try:
            return demo_cnn(shape, int(options.get("classes", 10)))
        except ValueError:
            raise errors.ConfigError(f"model_options.input_shape {list(shape)}: too small for "
                                     "demo_cnn (two 3x3 convolutions and two 2x2 poolings need "
                                     "at least 10x10).") from None
    name = spec.split(".")[-1] if spec.startswith(("applications.", "tf_keras.applications.")) \
        else spec
    if not is_model_path(spec) and name in application_names():
        return _application(name, options)
    if is_model_path(spec):
        return _load_file(spec, safe_mode)
    import difflib

    close = difflib.get_close_matches(spec, application_names() + ["demo_cnn"], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise errors.ConfigError(f"Unknown model {spec!r}.{hint} Give a .keras/.h5 file, a "
                             "SavedModel folder, 'demo_cnn' or a tf_keras.applications name.")


def _ints(text, option):
    try:
        values = [int(s) for s in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise errors.ConfigError(f"{option} {text!r}: give positive integers separated by "
                                 "commas, e.g. 96,96,3.")
    return values


def cli_options(input_shape, classes):
    """``model_options`` from the CLI's ``--input-shape 96,96,3`` and ``--classes``.

    Example:
        >>> cli_options("96,96,3", 10)
        {'input_shape': [96, 96, 3], 'classes': 10}
    """
    opts = {}
    if input_shape:
        opts["input_shape"] = _ints(input_shape, "--input-shape")
    if classes:
        opts["classes"] = classes
    return opts
