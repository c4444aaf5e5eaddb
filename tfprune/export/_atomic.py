"""Atomic file writes and output-path checks shared by the export functions.

Every check here runs before any conversion, so a refused export leaves no file behind.

Example:
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> write_bytes(os.path.join(d, "a.bin"), b"abc")
    >>> open(os.path.join(d, "a.bin"), "rb").read()
    b'abc'
"""

from __future__ import annotations

import os
import tempfile

from tfprune import errors

__all__ = ["write_bytes", "check_output_file", "check_output_dir", "same_file"]

# Files that hold a Keras model; an export never replaces one, even with overwrite=True.
_MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".pb")


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, then os.replace."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tfprune-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def same_file(a: str, b: str) -> bool:
    """True if two paths name the same file or folder (after resolving links)."""
    return os.path.realpath(os.fspath(a)) == os.path.realpath(os.fspath(b))


def _refuse_input(path: str, inputs, arg: str) -> None:
    for source in inputs:
        if source is not None and same_file(path, source):
            raise errors.ExportError(
                f"`{arg}`={path!r} is the input model file; an export never replaces its "
                "input. Choose another output path."
            )


def check_output_file(path, *, overwrite: bool, inputs=(), arg: str = "path") -> str:
    """Validate an output file path and return it as a string.

    Refuses: a folder, a missing or non-folder parent, the input model file, a Keras model
    file, and an existing file unless ``overwrite=True``.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise errors.ConfigError(f"`{arg}` must be a file path, got {type(path).__name__}.")
    path = os.fspath(path)
    _refuse_input(path, inputs, arg)
    if os.path.isdir(path):
        raise errors.ExportError(f"`{arg}`={path!r} is a folder; give a file path such as "
                                 f"{os.path.join(path, 'model.tflite')!r}.")
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise errors.ExportError(f"The folder of `{arg}` ({parent!r}) is a file, not a folder.")
    if not os.path.isdir(parent):
        raise errors.ExportError(f"The folder of `{arg}` ({parent!r}) does not exist; create it "
                                 "first.")
    if path.lower().endswith(_MODEL_SUFFIXES):
        raise errors.ExportError(f"`{arg}`={path!r} names a Keras/TensorFlow model file; write "
                                 "the export to a .tflite path instead.")
    if os.path.exists(path) and not overwrite:
        raise errors.ExportError(f"`{arg}`={path!r} already exists. Pass overwrite=True to "
                                 "replace it.")
    return path


def check_output_dir(out_dir, filenames, *, overwrite: bool, inputs=()) -> str:
    """Validate an output folder and the files to be written in it; return it as a string."""
    if not isinstance(out_dir, (str, os.PathLike)):
        raise errors.ConfigError(f"`out_dir` must be a folder path, got "
                                 f"{type(out_dir).__name__}.")
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise errors.ExportError(f"`out_dir`={out_dir!r} is a file, not a folder. Give a folder "
                                 "path (it is created if missing).")
    _refuse_input(out_dir, inputs, "out_dir")
    existing = []
    for name in filenames:
        target = os.path.join(out_dir, name)
        _refuse_input(target, inputs, "out_dir")
        if os.path.exists(target):
            existing.append(name)
    if existing and not overwrite:
        raise errors.ExportError(f"{', '.join(existing)} already exist(s) in {out_dir!r}. Pass "
                                 "overwrite=True to replace them.")
    return out_dir
