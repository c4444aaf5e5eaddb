"""Atomic file writes, output-path checks and the scratch folder of the export functions.

Every check here runs before any conversion, so a refused export leaves no file behind.
Written files get the mode a plain ``open()`` would give (0666 minus the umask), or keep the
mode of the file they replace. Temporary files and folders live beside the target, carry the
writing process id in their name, and are removed in ``finally``; what a killed process left
behind (its pid no longer running) is removed by the next export into that folder.

Example:
    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> write_bytes(os.path.join(d, "a.bin"), b"abc")
    >>> open(os.path.join(d, "a.bin"), "rb").read()
    b'abc'
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import tempfile
import threading

from tfprune import errors

__all__ = ["write_bytes", "check_output_file", "check_output_dir", "same_file", "scratch",
           "default_mode", "pid_alive"]

_UMASK_LOCK = threading.Lock()
_PREFIX = ".tfprune-"  # temporary names: .tfprune-<pid>-<random>.tmp and .tfprune-<pid>-<random>

# Files that hold a Keras model; an export never replaces one, even with overwrite=True.
_MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".pb")


def default_mode() -> int:
    """0o666 minus the process umask: the mode ``open(path, "w")`` would create."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, then os.replace.

    The file gets the existing file's mode if it replaces one, else 0666 minus the umask.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = default_mode()
    fd, tmp = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def pid_alive(pid: int) -> bool:
    """True if a process with id ``pid`` exists (``os.kill(pid, 0)``; no signal is sent).

    Example:
        >>> pid_alive(os.getpid())
        True
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(folder: str) -> list:
    """Remove temporaries a killed tfprune process left in ``folder``; return their names."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(_PREFIX):
            continue
        pid = name[len(_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or pid_alive(int(pid)):
            continue
        path = os.path.join(folder, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            removed.append(name)
        except OSError:
            pass
    return removed


def _existing_ancestor(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def check_writable(folder: str, arg: str) -> None:
    """Refuse a folder (or, if missing, its nearest existing ancestor) no file can be created
    in: read-only, immutable (chattr +i), on a read-only mount, or not permitted. It tries."""
    where = _existing_ancestor(folder)
    try:
        fd, probe = tempfile.mkstemp(prefix=f"{_PREFIX}{os.getpid()}-", suffix=".tmp", dir=where)
    except OSError as e:
        why = {errno.EROFS: "it is on a read-only file system",
               errno.EPERM: "it is immutable or writing is not permitted",
               errno.EACCES: "it is read-only for this user"}.get(e.errno, e.strerror)
        raise errors.ExportError(
            f"Cannot write `{arg}`: no file can be created in {where!r} ({why}). Choose a "
            "writable folder, or make it writable (chmod u+w, chattr -i).") from e
    os.close(fd)
    os.remove(probe)


@contextlib.contextmanager
def scratch(folder: str):
    """A temporary folder beside the outputs, used as ``tempfile.tempdir`` meanwhile.

    TensorFlow's converter writes a SavedModel to ``tempfile.mkdtemp()``; running it inside
    this folder keeps every temporary under one name that is removed in ``finally`` (also on
    Ctrl-C and, while it runs in the main thread with the default handler, on SIGTERM).
    Yields the folder path.
    """
    path = None
    for where in (_existing_ancestor(os.path.dirname(os.path.abspath(folder))),
                  _existing_ancestor(folder), tempfile.gettempdir()):
        clean_stale(where)
        try:
            path = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=where)
            break
        except OSError:
            continue
    if path is None:
        raise errors.ExportError(f"Cannot create a temporary folder near {folder!r}.")
    saved_tempdir = tempfile.tempdir
    handler = None
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        def handler(signum, frame):
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, handler)
    tempfile.tempdir = path
    try:
        yield path
    finally:
        tempfile.tempdir = saved_tempdir
        if handler is not None:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        shutil.rmtree(path, ignore_errors=True)


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
    check_writable(parent, arg)
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
    check_writable(out_dir, "out_dir")
    return out_dir
