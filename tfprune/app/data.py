"""A recipe's data: loading and checking it. Nothing here downloads.

* :func:`load_data`: a recipe's ``data`` section (built-in set, ``.npz`` or image folder);
  :func:`check_input` compares it with the model's input before any work.
* the built-in sets and demo models (:mod:`tfprune.app.builtin`) stay importable from here.
"""

from __future__ import annotations

import os

import numpy as np

from tfprune import errors
from tfprune import task as task_lib
from tfprune.app import outputs
from tfprune.app.builtin import BUILTIN, demo_cnn, digits, ds_cnn, mnist5k, seeded_split
from tfprune.compat import keras

__all__ = ["mnist5k", "digits", "demo_cnn", "ds_cnn", "load_data", "for_model", "check_input",
           "default_loss", "max_data_bytes", "BUILTIN"]


def max_data_bytes() -> int:
    """The most memory one recipe's data may take: half the machine's RAM, at most 8 GiB.

    Example:
        >>> 0 < max_data_bytes() <= 8 * 2**30
        True
    """
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 16 * 2**30
    return int(min(8 * 2**30, ram // 2))


def _check_bytes(n_bytes: int, what: str, fix: str) -> None:
    limit = max_data_bytes()
    if n_bytes > limit:
        raise errors.ConfigError(f"{what} needs {n_bytes:,} bytes ({n_bytes / 2**30:,.1f} GiB) "
                                 f"of memory, more than the {limit / 2**30:,.1f} GiB tfprune "
                                 f"allows for a recipe's data on this machine. {fix}")


def _npz_headers(path) -> dict:
    """``{name: (shape, dtype)}`` of every array in a .npz file, read from the .npy headers
    alone (nothing is decompressed or allocated)."""
    import zipfile

    out = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with z.open(info) as f:
                version = np.lib.format.read_magic(f)
                read = {(1, 0): np.lib.format.read_array_header_1_0,
                        (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if read is None:
                    raise ValueError(f"{info.filename}: .npy format version {version}")
                shape, _, dtype = read(f)
            out[info.filename[:-4]] = (shape, dtype)
    return out


def _npz(path, test_fraction, seed, task=None):
    try:
        headers = _npz_headers(path)
        total = 0
        for name, (shape, dtype) in headers.items():
            if dtype.hasobject:
                raise errors.ConfigError(f"data.source {path!r}: array {name!r} holds Python "
                                         "objects (dtype object), which are never unpickled. "
                                         "Save numeric arrays (np.savez(path, x=..., y=...)).")
            total += int(np.prod(shape, dtype=object)) * dtype.itemsize
        _check_bytes(total, f"data.source {path!r} (its arrays as declared in the file: "
                     + ", ".join(f"{k} {tuple(v[0])} {v[1]}" for k, v in headers.items()) + ")",
                     "Use a smaller file, or data.limit after splitting it.")
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except errors.ConfigError:
        raise
    except (OSError, ValueError, EOFError, KeyError) as exc:
        raise errors.ConfigError(f"data.source {path!r}: not a readable .npz ({exc}). Save it "
                                 "with np.savez(path, x=..., y=...).") from None
    except Exception as exc:  # noqa: BLE001  (zipfile/zlib errors of a damaged file)
        raise errors.ConfigError(f"data.source {path!r}: not a readable .npz "
                                 f"({type(exc).__name__}: {exc}).") from None
    several = outputs.split_arrays(path, arrays, test_fraction, seed)
    if several is not None:  # one label array per output: y_<output>
        return several
    if {"x_train", "y_train", "x_test", "y_test"} <= set(arrays):
        for part in ("train", "test"):
            _check_pair(path, f"x_{part}", arrays[f"x_{part}"], f"y_{part}", arrays[f"y_{part}"],
                        task)
        return ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"]))
    if {"x", "y"} <= set(arrays):
        x, y = arrays["x"], arrays["y"]
        _check_pair(path, "x", x, "y", y, task)
        if len(x) < 2:
            raise errors.ConfigError(f"data.source {path!r}: x has {len(x)} sample(s); a run "
                                     "needs training and test samples (at least 2).")
        return seeded_split(x, y, len(x) - max(1, int(round(test_fraction * len(x)))), seed)
    raise errors.ConfigError(f"data.source {path!r} holds {sorted(arrays)}; it needs arrays "
                             "x_train, y_train, x_test, y_test (or x, y split by test_fraction; "
                             "for a model with several outputs y_<output> per output).")


def _check_pair(source, xname, x, yname, y, task=None) -> None:
    """Refuse arrays a model cannot train on, in the recipe's words (file and array name).
    Float targets are values (regression) when ``task`` says so or they are not whole
    numbers; whole-number floats for another task are refused as labels saved as floats."""
    where = f"data.source {source!r}"
    if x.ndim == 0 or y.ndim == 0:
        raise errors.ConfigError(f"{where}: {xname} and {yname} must be arrays with one row per "
                                 f"sample; got shapes {x.shape} and {y.shape}.")
    if len(x) != len(y):
        raise errors.ConfigError(f"{where}: {xname} has {len(x)} rows but {yname} has {len(y)}; "
                                 "give one label per sample.")
    if len(x) == 0:
        raise errors.ConfigError(f"{where}: {xname} is empty (0 samples).")
    if x.dtype.kind not in "fiub":
        raise errors.ConfigError(
            f"{where}: {xname} has dtype {x.dtype} ({_KINDS.get(x.dtype.kind, 'not numbers')}); "
            "a model takes numbers. Convert it before saving (tokenize text, decode images, "
            "x.astype('float32')).")
    if x.dtype.kind == "f":
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        if bad:
            rows = int(np.count_nonzero(~np.isfinite(x).reshape(len(x), -1).all(axis=1)))
            raise errors.ConfigError(
                f"{where}: {xname} holds {bad:,} NaN/inf values (in {rows:,} of {len(x):,} "
                "samples); training on them makes every weight NaN. Clean or drop those "
                f"samples (e.g. {xname}[np.isfinite({xname}).all(axis=(1, ...))]).")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise errors.ConfigError(
                f"{where}: {yname} holds {int(np.size(y) - np.count_nonzero(np.isfinite(y))):,} "
                "NaN/inf targets; clean or drop those samples.")
        if task == "regression" or not np.all(np.mod(y, 1) == 0):
            return  # values: checked against the model's output by check_input
    if y.dtype.kind not in "iub":
        raise errors.ConfigError(
            f"{where}: {yname} has dtype {y.dtype}; labels are integer class ids (0, 1, 2, ...). "
            f"Save them as integers ({yname}.astype('int64')), or set `task: regression` for "
            "values.")


_KINDS = {"U": "text", "S": "bytes", "O": "Python objects", "c": "complex numbers",
          "M": "dates", "m": "time deltas", "V": "raw records"}


class _Quiet:
    """Silence ``print`` of Keras' loaders ("Found N files belonging to K classes.")."""

    def __enter__(self):
        import contextlib
        import io

        self._cm = contextlib.redirect_stdout(io.StringIO())
        return self._cm.__enter__()

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def _folder(path, image_size, test_fraction, seed, limit):
    import tensorflow as tf

    if image_size is None:
        raise errors.ConfigError(f"data.source {path!r} is an image folder: give "
                                 "data.image_size: [height, width].")
    try:
        with _Quiet():
            train, test = keras.utils.image_dataset_from_directory(
                path, image_size=tuple(image_size), seed=seed, validation_split=test_fraction,
                subset="both", label_mode="int", batch_size=256)
    except ValueError as exc:
        raise errors.ConfigError(f"data.source {path!r}: {exc}") from None
    n = len(train.file_paths) + len(test.file_paths)
    h, w = image_size
    _check_bytes(n * h * w * 3 * 4, f"data.source {path!r} ({n:,} images at data.image_size "
                 f"[{h}, {w}], RGB float32)", "Give a smaller data.image_size or data.limit.")

    def arrays(ds):
        xs, ys, n = [], [], 0
        try:
            for xb, yb in ds:
                xs.append(xb.numpy() / 255.0)
                ys.append(yb.numpy())
                n += len(xb)
                if limit and n >= limit:
                    break
        except (tf.errors.OpError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise errors.ConfigError(f"data.source {path!r}: a file in the image folder cannot "
                                     f"be read as an image ({first}). Remove it or convert it "
                                     "to PNG/JPEG.") from None
        if not xs:
            raise errors.ConfigError(f"data.source {path!r}: no images in this part of the "
                                     "split; add images or change data.test_fraction.")
        return np.concatenate(xs).astype("float32"), np.concatenate(ys).astype("int64")

    return arrays(train), arrays(test)


def _transform(x, spec):
    import tensorflow as tf

    if "scale" in spec:
        x = x.astype("float32") * float(spec["scale"])
    if x.ndim == 3:
        x = x[..., None]
    if "resize" in spec:
        h, w = spec["resize"]
        ch = x.shape[-1] if x.ndim == 4 else 1
        _check_bytes(len(x) * h * w * ch * (3 if spec.get("rgb") and ch == 1 else 1) * 4,
                     f"data.resize {list(spec['resize'])} of {len(x):,} samples",
                     "Give a smaller data.resize or data.limit.")
        if x.ndim != 4:
            raise errors.ConfigError(f"data.resize: works on images (samples of shape (h, w) or "
                                     f"(h, w, c)); these samples have shape {x.shape[1:]}.")
        x = tf.image.resize(x, (h, w)).numpy()
    if spec.get("rgb") and x.ndim == 4 and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    return x.astype("float32") if x.dtype != np.float32 and x.dtype.kind == "f" else x


def load_data(spec: dict, seed: int = 0, *, task=None):
    """The recipe's ``data`` section as ``((x_train, y_train), (x_test, y_test))``.

    ``source``: ``mnist5k``, ``digits``, a ``.npz`` file (``x_train``/``y_train``/``x_test``/
    ``y_test``, or ``x``/``y`` split by ``test_fraction``) or an image folder (one sub-folder
    per class, read with ``image_dataset_from_directory`` at ``image_size``, scaled to
    [0, 1]). Optional: ``limit`` (training rows), ``scale``, ``resize`` ([h, w]), ``rgb``.

    Every array is checked in the recipe's words before any training: numbers (not text or
    objects), no NaN/inf, one integer label per sample (or float values: ``task="regression"``,
    or targets that are not whole numbers), a size that fits in memory (declared
    .npz sizes and resizes are checked before anything is allocated).

    Raises:
        ConfigError: unknown source, unreadable or malformed file, arrays as above.

    Example:
        >>> (x, y), _ = load_data({"source": "digits", "resize": [16, 16], "rgb": True})
        >>> x.shape[1:]
        (16, 16, 3)
    """
    source = spec["source"]
    if "\0" in source:
        raise errors.ConfigError(f"data.source {source!r} holds a NUL byte; give a real path.")
    frac = float(spec.get("test_fraction", 0.2))
    if source in BUILTIN:
        (xtr, ytr), (xte, yte) = BUILTIN[source](seed)
    elif source.endswith(".npz"):
        if not os.path.isfile(source):
            raise errors.ConfigError(f"data.source {source!r} does not exist.")
        (xtr, ytr), (xte, yte) = _npz(source, frac, seed, task)
    elif os.path.isdir(source):
        (xtr, ytr), (xte, yte) = _folder(source, spec.get("image_size"), frac, seed,
                                         spec.get("limit"))
    else:
        raise errors.ConfigError(
            f"data.source {source!r} is neither a built-in set ({', '.join(BUILTIN)}), an "
            ".npz file nor an existing image folder.")
    if spec.get("limit"):
        xtr, ytr = xtr[: spec["limit"]], ytr[: spec["limit"]]
    return (_transform(xtr, spec), ytr), (_transform(xte, spec), yte)


def for_model(model, x):
    """``x`` as ``model`` takes it: ``load_data`` gives 3-d arrays a channel axis (grayscale
    images), which a model of sequences (``(time, features)`` samples) does not want.

    Example:
        >>> from tfprune.compat import keras
        >>> seq = keras.Sequential([keras.Input((6, 8)), keras.layers.LSTM(4)])
        >>> for_model(seq, np.zeros((2, 6, 8, 1))).shape
        (2, 6, 8)
    """
    want = model.inputs[0].shape[1:]
    if x.ndim == len(want) + 2 and x.shape[-1] == 1:
        return x[..., 0]
    return x


def _check_values(model, x, source) -> None:
    """Numbers the model's input takes: no text, no NaN/inf, no unscaled integer images for a
    float model (training on 0..255 values diverges or learns nothing; export refuses them)."""
    if x.dtype.kind not in "fiub":
        raise errors.ConfigError(f"{source}: samples have dtype {x.dtype} "
                                 f"({_KINDS.get(x.dtype.kind, 'not numbers')}); a model takes "
                                 "numbers. Convert the data before saving it.")
    import tensorflow as tf

    wants_float = tf.as_dtype(model.inputs[0].dtype).is_floating
    if wants_float and x.dtype.kind in "iub":
        top = int(x.max()) if x.size else 0
        raise errors.ConfigError(
            f"{source}: samples are {x.dtype} (values up to {top}) but model {model.name!r} "
            "takes floats. Scale them in the recipe (data.scale: 0.00392156862745098, i.e. "
            "1/255, for 0..255 images; data.scale: 1 keeps the values) or save float32 arrays.")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise errors.ConfigError(f"{source}: samples hold {bad:,} NaN/inf values (after "
                                 "data.scale/resize); training on them makes every weight NaN. "
                                 "Clean the data or lower data.scale.")


def check_input(model, x, y=None, source: str = "data", *, task=None, loss=None) -> None:
    """Refuse data that does not fit the model's input (both shapes named) or targets that do
    not fit its output's task (:mod:`tfprune.task`: ``task`` — a recipe's ``task:`` — else
    ``loss``, the compile state, the activation and the targets): class ids in range for
    class scores, one-hot rows, 0/1 for binary outputs, finite numbers of the output's size
    for regression (float targets).

    Example:
        >>> check_input(demo_cnn(), np.zeros((2, 8, 8, 1)))
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: data: samples have shape (8, 8, 1) but model 'demo_cnn' expects (28, 28, 1). Resize the data (data.resize / data.rgb in a recipe) or build the model for this shape (model_options.input_shape).
        >>> from tfprune.compat import keras
        >>> reg = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> check_input(reg, np.zeros((2, 3)), np.array([6.5, 17.25]))  # float targets
    """
    _check_values(model, x, source)
    want = tuple(model.inputs[0].shape[1:])
    have = tuple(x.shape[1:])
    fits = len(want) == len(have) and all(w is None or w == h for w, h in zip(want, have, strict=True))
    if not fits:
        shown = tuple(w for w in want)
        raise errors.ConfigError(
            f"{source}: samples have shape {have} but model {model.name!r} expects {shown}. "
            "Resize the data (data.resize / data.rgb in a recipe) or build the model for this "
            "shape (model_options.input_shape).")
    if y is not None:
        _check_targets(model, np.asarray(y), source, task, loss)


def _check_targets(model, y, source, task, loss):
    if y.dtype.kind not in "biuf":
        raise errors.ConfigError(f"{source}: targets must be numbers (class ids or values), "
                                 f"got dtype {y.dtype}.")
    t = task_lib.resolve(model, y, task=task, loss=loss)[0]
    classes = int(model.outputs[0].shape[-1])
    if t.kind == "regression":
        per = int(np.prod([d or 1 for d in model.outputs[0].shape[1:]]))
        if y.size != len(y) * per or not np.all(np.isfinite(y)):
            raise errors.ConfigError(
                f"{source}: regression targets must be finite numbers, {per} per sample (the "
                f"output {t.output!r} has shape {tuple(model.outputs[0].shape[1:])}); got shape "
                f"{y.shape}.")
        return
    if t.kind in ("categorical", "binary") and y.ndim >= 2 and y.shape[-1] == classes > 1:
        return
    if t.kind == "binary" and classes == 1 and y.size == len(y) and np.all((y == 0) | (y == 1)):
        return
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise errors.ConfigError(
            f"{source}: labels must be integer class ids, one per sample, for output "
            f"{t.output!r} ({t.kind or 'unknown task'}, from {t.source}); got shape {y.shape}, "
            f"dtype {y.dtype}. For values (regression) set `task: regression` in the recipe "
            "and give the model a linear output.")
    if len(y) and (y.min() < 0 or y.max() >= max(classes, 2)):
        raise errors.ConfigError(f"{source}: labels range over [{y.min()}, {y.max()}] but "
                                 f"the model has {classes} outputs.")


def default_loss(model, y, task=None) -> str:
    """The loss a recipe trains with when ``train.loss`` is not set: the usual one for the
    output's task (``task:`` in the recipe, else inferred: compile state, activation,
    targets); ``sparse_categorical_crossentropy`` when nothing says.

    Example:
        >>> from tfprune.compat import keras
        >>> reg = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> default_loss(reg, np.array([6.5, 17.25])), default_loss(demo_cnn(), None)
        ('mse', 'sparse_categorical_crossentropy')
    """

    kind = task_lib.resolve(model, y, task=task)[0].kind
    return task_lib.default_loss(kind) or "sparse_categorical_crossentropy"
