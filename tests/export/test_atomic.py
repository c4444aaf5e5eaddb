"""export/atomic.py: files written whole with the umask's mode, temporaries of dead
processes removed, output paths refused before any work (exports through these checks:
test_files.py, test_bad_input.py)."""

import os
import subprocess
import sys

import pytest

from tfprune import errors
from tfprune.export import atomic


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_written_files_respect_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    atomic.write_bytes(str(tmp_path / "f.bin"), b"x")
    assert os.stat(tmp_path / "f.bin").st_mode & 0o777 == mode


def test_overwrite_keeps_the_existing_files_mode(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "f.bin"
    for mode in (0o600, 0o644, 0o755):
        target.write_bytes(b"old")
        os.chmod(target, mode)
        atomic.write_bytes(str(target), b"new")
        assert os.stat(target).st_mode & 0o777 == mode and target.read_bytes() == b"new"



def test_stale_temporaries_of_a_dead_process_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / f".tfprune-{dead}-abc").mkdir()
    (tmp_path / f".tfprune-{dead}-xyz.tmp").write_bytes(b"x")
    (tmp_path / f".tfprune-{os.getppid()}-live").mkdir()  # a running process: kept
    (tmp_path / "user.txt").write_bytes(b"kept")
    with atomic.scratch(str(tmp_path / "out")) as scratch:
        assert os.path.dirname(scratch) == str(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".tfprune-{os.getppid()}-live",
                                                           "user.txt"]


def test_output_file_refusals_name_the_problem_and_the_fix(tmp_path):
    (tmp_path / "old.tflite").write_bytes(b"x")
    (tmp_path / "model.keras").write_bytes(b"x")
    cases = {
        str(tmp_path): "is a folder; give a file path",
        str(tmp_path / "missing" / "m.tflite"): "does not exist; create it first",
        str(tmp_path / "old.tflite" / "m.tflite"): "is a file, not a folder",
        str(tmp_path / "m.h5"): "names a Keras/TensorFlow model file",
        str(tmp_path / "old.tflite"): "already exists. Pass overwrite=True",
    }
    for path, why in cases.items():
        with pytest.raises(errors.ExportError, match=why):
            atomic.check_output_file(path, overwrite=False)
    with pytest.raises(errors.ExportError, match="is the input model file"):
        atomic.check_output_file(tmp_path / "model.keras", overwrite=True,
                                 inputs=[str(tmp_path / "model.keras")])
    with pytest.raises(errors.ConfigError, match="must be a file path, got int"):
        atomic.check_output_file(3, overwrite=False)
    assert atomic.check_output_file(tmp_path / "old.tflite", overwrite=True) == \
        str(tmp_path / "old.tflite")


def test_output_dir_lists_the_files_it_would_replace(tmp_path):
    (tmp_path / "a.cc").write_bytes(b"x")
    with pytest.raises(errors.ExportError, match=r"a\.cc already exist\(s\).*overwrite=True"):
        atomic.check_output_dir(tmp_path, ["a.cc", "b.h"], overwrite=False)
    assert atomic.check_output_dir(tmp_path, ["a.cc"], overwrite=True) == str(tmp_path)
    with pytest.raises(errors.ExportError, match="is a file, not a folder"):
        atomic.check_output_dir(tmp_path / "a.cc", ["x"], overwrite=True)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tfprune-")]  # probes removed
