"""tfprune.export.compress._tflm_pair, run in-process against a stand-in TFLM runtime."""

import json

import numpy as np
import pytest

from tests.export import _fake_tflm
from tfprune.export.compress import _tflm_pair


def _write_job(tmp_path, dense, compressed, x, outputs=True):
    (tmp_path / "d").write_bytes(dense)
    (tmp_path / "c").write_bytes(compressed)
    np.savez(tmp_path / "in.npz", in0=x)
    job = {"dense": str(tmp_path / "d"), "compressed": str(tmp_path / "c"),
           "inputs": str(tmp_path / "in.npz"), "arena": 1000, "repeats": 3,
           "outputs": str(tmp_path / "out.npy") if outputs else None}
    (tmp_path / "job").write_text(json.dumps(job))
    return str(tmp_path / "job")


def test_identical_models_are_bit_exact_and_report_their_arenas(monkeypatch, tmp_path):
    _fake_tflm.install(monkeypatch)
    x = np.arange(8, dtype=np.int8).reshape(4, 2)
    res = _tflm_pair.main(_write_job(tmp_path, b"ok", b"ok", x))
    assert res["ok"] and res["bit_exact"] and res["max_abs_diff"] == 0
    assert res["samples"] == 4 and res["outputs"] == 1
    assert res["reported"] == {"dense": 500, "compressed": 500}
    assert set(res["seconds"]) == {"dense", "compressed"} and res["overhead"] > 0
    assert np.array_equal(np.load(tmp_path / "out.npy"), 2 * x)


def test_a_differing_model_is_not_bit_exact_and_says_by_how_much(monkeypatch, tmp_path):
    _fake_tflm.install(monkeypatch)
    x = np.array([[1, 5]], np.int8)
    res = _tflm_pair.main(_write_job(tmp_path, b"ok", b"odd", x, outputs=False))
    assert res["ok"] and not res["bit_exact"] and res["max_abs_diff"] == 5
    assert not (tmp_path / "out.npy").exists()


def test_an_interpreter_failure_is_an_answer_with_the_log(monkeypatch, tmp_path):
    _fake_tflm.install(monkeypatch)
    res = _tflm_pair.main(_write_job(tmp_path, b"ok", b"bad", np.zeros((1, 2), np.int8)))
    assert res == {"ok": False, "error": "Failed to allocate",
                   "log": "Didn't find op for builtin opcode 'FOO'\n"}


def test_result_takes_medians_and_refuses_bit_exact_without_outputs():
    times = {"dense": [1.0, 2.0, 4.0], "compressed": [2.0, 2.0, 2.0]}
    res = _tflm_pair._result(True, 0.0, 0, 3, {"dense": 1, "compressed": 1}, times)
    assert not res["bit_exact"]  # no output compared proves nothing
    assert res["seconds"] == {"dense": 2.0, "compressed": 2.0}
    assert res["overhead"] == pytest.approx(1.0) and res["overhead_min"] == 2.0
