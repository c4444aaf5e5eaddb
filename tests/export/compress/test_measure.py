"""tfprune.export.compress.measure: an encoded model proven against its dense original in TFLM."""

import pytest

from tfprune import errors
from tfprune.export import tflite_bytes
from tfprune.export.compress import measure, prune_encode
from tfprune.export.compress.measure import compare_tflm


def test_for_micro_keeps_the_dense_model_when_nothing_was_encoded(monkeypatch):
    monkeypatch.setattr(measure, "compare_tflm", lambda *a, **k: pytest.fail("TFLM ran"))
    small, report = measure.for_micro(b"dense", None, encoded=(b"dense", {"encoded": 0}))
    assert small == b"dense" and report["bit_exact"] is None and "dense model" in report["note"]


@pytest.mark.parametrize("answer, match", [
    ({"ok": False, "error": "TFLM process died (SIGSEGV)"}, "does not run in TFLite Micro"),
    ({"ok": True, "bit_exact": False, "max_abs_diff": 3, "samples": 2}, "max 3 int steps")])
def test_for_micro_refuses_a_model_tflm_does_not_reproduce(monkeypatch, answer, match):
    monkeypatch.setattr(measure, "compare_tflm", lambda *a, **k: answer)
    with pytest.raises(errors.ExportError, match=match):
        measure.for_micro(b"dense", None, encoded=(b"small", {"encoded": 1}))


def test_for_micro_reports_the_tflm_measurement(monkeypatch):
    answer = {"ok": True, "bit_exact": True, "samples": 2, "reported": {"dense": 9},
              "seconds": {"dense": 1.0}, "overhead": 1.5}
    monkeypatch.setattr(measure, "compare_tflm", lambda *a, **k: answer)
    small, report = measure.for_micro(b"dense", None, encoded=(b"small", {"encoded": 1}))
    assert small == b"small" and report["bit_exact"] and report["decode_overhead"] == 1.5
    assert report["arena_reported"] == {"dense": 9} and report["samples"] == 2


@pytest.mark.slow
def test_float32_weights_decode_bit_exact_too(small_cnn, data):
    # the reader copies float32 as 32-bit patterns; only +0.0 is dropped
    f32 = tflite_bytes(small_cnn(sparsity=0.9))
    small, report = prune_encode(f32)
    assert {r["dtype"] for r in report["tensors"]} == {"float32"}
    res = compare_tflm(f32, small, data[:6], repeats=2)
    assert res["ok"] and res["bit_exact"], res
