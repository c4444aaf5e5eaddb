"""Quiet by default: TensorFlow's C++ log lines and converter chatter kept from the user.

TensorFlow, the TFLite converter and LiteRT write to the process' file descriptor 2
from C++ (``cudart_stub.cc ... Could not find cuda drivers``, ``fully_quantize: 0``,
``Created TensorFlow Lite XNNPACK delegate``), which no Python logging setting
reaches. :func:`quiet` points descriptor 2 at a private log file and keeps Python's
``sys.stderr`` (warnings, progress bars, error messages) on the terminal. The CLI calls
it for every verb unless ``--verbose``; Python users call it once:

    >>> from tfprune import logs
    >>> logs.quiet(fd=False)     # Python loggers only (fd=True also hides C++ lines)
    >>> logs.quiet(False)        # back to TensorFlow's defaults

Setting ``TF_CPP_MIN_LOG_LEVEL`` helps only before TensorFlow is imported, so
:func:`quiet` sets it too (``tfprune.app.cli`` does so before any import).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile

__all__ = ["quiet", "captured"]

_state = {"saved_fd": None, "log": None, "stderr": None}


def _python_loggers(level: int) -> None:
    logging.getLogger("tensorflow").setLevel(level)
    logging.getLogger("absl").setLevel(level)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR if level >= logging.ERROR
                                   else absl.logging.INFO)
    except ImportError:  # pragma: no cover
        pass


def _redirect_fd() -> None:
    try:
        if sys.stderr.fileno() != 2:
            return  # a test runner's captured stream: leave descriptors alone
    except (AttributeError, OSError, ValueError):
        return
    sys.stderr.flush()
    log = tempfile.TemporaryFile(prefix="tfprune-stderr-")
    saved = os.dup(2)
    os.dup2(log.fileno(), 2)
    _state.update(saved_fd=saved, log=log, stderr=sys.stderr)
    sys.stderr = open(saved, "w", buffering=1, closefd=False, encoding="utf-8",  # noqa: SIM115
                      errors="replace")


def _restore_fd() -> None:
    if _state["saved_fd"] is None:
        return
    sys.stderr.flush()
    os.dup2(_state["saved_fd"], 2)
    os.close(_state["saved_fd"])
    sys.stderr = _state["stderr"]
    _state["log"].close()
    _state.update(saved_fd=None, log=None, stderr=None)


def quiet(enabled: bool = True, *, fd: bool = True) -> None:
    """Hide (or show again) TensorFlow's log lines for the rest of the process.

    Args:
        enabled: True hides, False restores TensorFlow's defaults.
        fd: also send the C++ lines written to file descriptor 2 to a private log
            (see :func:`captured`); Python's ``sys.stderr`` stays on the terminal.

    Example:
        >>> quiet(fd=False); logging.getLogger("tensorflow").level == logging.ERROR
        True
        >>> quiet(False)
    """
    if enabled:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        _python_loggers(logging.ERROR)
        if fd and _state["saved_fd"] is None:
            _redirect_fd()
    else:
        os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        _python_loggers(logging.NOTSET)
        _restore_fd()


def captured(limit: int = 20_000) -> str:
    """The last ``limit`` characters of the hidden C++ log (empty when not hiding).

    Example:
        >>> isinstance(captured(), str)
        True
    """
    log = _state["log"]
    if log is None:
        return ""
    log.flush()
    log.seek(0, os.SEEK_END)
    size = log.tell()
    log.seek(max(0, size - limit))
    text = log.read().decode("utf-8", errors="replace")
    log.seek(0, os.SEEK_END)
    return text
