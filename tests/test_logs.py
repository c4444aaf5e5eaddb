"""tfprune/logs.py: quiet() hides TensorFlow's Python and C++ log lines (descriptor 2 to a
private log, Python's sys.stderr kept), and quiet(False) undoes all of it."""

import logging
import os
import sys

import pytest

from tfprune import logs


@pytest.fixture
def restore():
    env = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    yield
    logs.quiet(False)
    if env is not None:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = env


def test_python_loggers_and_env_are_quieted_then_restored(restore):
    logs.quiet(fd=False)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert logging.getLogger("tensorflow").level == logging.ERROR
    assert logs.captured() == ""  # descriptors untouched: nothing captured
    logs.quiet(False)
    assert "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    assert logging.getLogger("tensorflow").level == logging.NOTSET


def test_descriptor_2_goes_to_the_private_log_and_sys_stderr_stays(restore, monkeypatch,
                                                                     capfd):
    monkeypatch.setattr(sys, "stderr", open(2, "w", closefd=False))  # noqa: SIM115
    python_stderr = sys.stderr
    logs.quiet()
    try:
        assert sys.stderr is not python_stderr  # a new stream on the saved descriptor
        os.write(2, b"cudart_stub.cc: Could not find cuda drivers\n")  # what C++ writes
        print("a warning for the user", file=sys.stderr, flush=True)
        assert "Could not find cuda drivers" in logs.captured()
        assert "a warning for the user" not in logs.captured()
    finally:
        logs.quiet(False)
    assert sys.stderr is python_stderr and logs.captured() == ""
    err = capfd.readouterr().err
    assert "a warning for the user" in err and "cuda drivers" not in err


def test_a_captured_stream_leaves_descriptors_alone(restore, capsys):
    logs.quiet()  # under capsys, sys.stderr has no descriptor 2
    assert logs.captured() == ""
