"""Files: permissions, temporaries of killed runs, unwritable folders, unreadable inputs."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tfprune import errors, export


@pytest.mark.slow
def test_exported_tflite_is_not_0600(tmp_path, umask, mlp64):
    umask(0o022)
    rec = export.tflite(mlp64, tmp_path / "m.tflite")
    assert os.stat(rec.path).st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]  # no temporaries left


def test_immutable_output_folder_is_refused_before_conversion(tmp_path, mlp64, no_conversion):
    folder = tmp_path / "locked"
    folder.mkdir()
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here")
    try:
        with pytest.raises(errors.ExportError, match="no file can be created.*chattr -i"):
            export.tflite(mlp64, folder / "m.tflite")
        with pytest.raises(errors.ExportError, match="no file can be created"):
            export.micro(mlp64, folder / "mcu", representative_data=np.zeros((4, 64), "float32"))
    finally:
        subprocess.run(["chattr", "-i", str(folder)])
    assert list(folder.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_read_only_output_folder_is_refused_before_conversion(tmp_path, mlp64, no_conversion):
    folder = tmp_path / "ro"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(errors.ExportError, match="read-only"):
            export.tflite(mlp64, folder / "m.tflite")
    finally:
        os.chmod(folder, 0o755)


def test_unwritable_pseudo_folder_is_refused(mlp64, no_conversion):
    with pytest.raises(errors.ExportError, match="no file can be created"):
        export.micro(mlp64, "/proc/self/tfprune-out",
                     representative_data=np.zeros((4, 64), "float32"))


def test_corrupt_keras_file_is_refused_clearly(tmp_path, no_conversion):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip archive")
    with pytest.raises(errors.ExportError, match="could not be loaded as a tf_keras model"):
        export.tflite(str(bad), tmp_path / "m.tflite")


def test_garbage_bytes_in_latency_and_verify_are_refused(tmp_path, mlp64):
    with pytest.raises(errors.ExportError, match="not a .tflite model"):
        export.latency(b"\x00" * 64)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(os.urandom(256))
    with pytest.raises(errors.ExportError, match="not a .tflite model"):
        export.latency(str(junk))
    with pytest.raises(errors.ExportError, match="not a .tflite model"):
        export.verify(mlp64, str(junk), data=np.zeros((2, 64), "float32"))


@pytest.mark.slow
def test_verify_refuses_a_file_of_another_model(tmp_path, mlp64, digits_cnn):
    rec = export.tflite(digits_cnn, tmp_path / "cnn.tflite")
    with pytest.raises(errors.ExportError, match=r"cnn.tflite does not fit model 'mlp64'.*"
                                                 r"\(8, 8, 1\).*\(64\)"):
        export.verify(mlp64, rec.path, data=np.zeros((2, 64), "float32"))


# One export per process: the first is stopped by SIGTERM (SystemExit is caught, the process
# reports it), the test checks what it left; the second is killed by SIGKILL. (Both in one
# process was flaky: an export interrupted by SIGTERM can leave TensorFlow's converter in a
# state where the next export in that process fails.) Both processes are forked from one that
# only imported TensorFlow and tfprune (TensorFlow's runtime starts in each child; the import,
# ~12 CPU-seconds, is paid once). Each child sends the signal to itself right after conversion,
# inside micro()'s scratch folder and before the TFLM runs: no timing, so the test passes the
# same way on a loaded machine. The parent prints one line per child: "<signal> <how it ended>".
_KILLED = textwrap.dedent("""
    import os, signal, sys, time, numpy as np
    from tfprune.compat import keras
    from tfprune import export
    from tfprune.export import tflite_file

    def child(out, sig):
        real = tflite_file.convert
        def convert(*args, **kwargs):
            content = real(*args, **kwargs)
            os.kill(os.getpid(), sig)
            time.sleep(120)  # SIGTERM raises SystemExit here; SIGKILL never returns
            return content
        tflite_file.convert = convert
        m = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8), keras.layers.Dense(4)])
        x = np.random.default_rng(0).random((64, 16)).astype("float32")
        try:
            export.micro(m, out, representative_data=x)
        except SystemExit:
            return "terminated"
        return "finished"

    for out, sig in ((sys.argv[1], signal.SIGTERM), (sys.argv[2], signal.SIGKILL)):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = 0 if child(out, int(sig)) == "terminated" else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit {os.WEXITSTATUS(status)}")
        print(sig.name, how, flush=True)
""")


@pytest.mark.slow
def test_terminated_or_killed_micro_leaves_nothing_behind(tmp_path, mlp64):
    term, kill, tmpdir = tmp_path / "term", tmp_path / "kill", tmp_path / "tmp"
    for d in (term, kill, tmpdir):
        d.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir))
    r = subprocess.run([sys.executable, "-c", _KILLED, str(term / "mcu"), str(kill / "mcu")],
                       env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    ended = dict(ln.split(" ", 1) for ln in r.stdout.splitlines() if ln.startswith("SIG"))
    assert ended["SIGTERM"] == "exit 0", r.stderr[-3000:]  # SIGTERM ended micro() cleanly
    # a terminated export removes its temporaries at once
    assert list(term.iterdir()) == []
    assert ended["SIGKILL"] == f"signal {int(signal.SIGKILL)}", r.stderr[-3000:]
    assert list(tmpdir.iterdir()) == []  # TF's own temporaries were in our scratch folder
    assert any(p.name.startswith(".tfprune-") for p in kill.iterdir())  # the killed one's
    export.tflite(mlp64, kill / "m.tflite")  # the next export removes them
    assert [p.name for p in kill.iterdir()] == ["m.tflite"]
