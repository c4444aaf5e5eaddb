"""export.tflite keeps the encoding that fits `objective`, from measured latency and size."""

import numpy as np
import pytest

from tfprune import errors, export
from tfprune.export import _choice, _litert, tflite_file
from tfprune.export._choice import Candidate, choose

D, B = _litert.DEFAULT, _litert.BUILTIN


def _demo_like():
    """The issue's measurement: sparse int8 refused by XNNPACK, 1.7x slower on builtin."""
    return [Candidate("dense", D, 7392, 0.122), Candidate("dense", B, 7392, 0.25),
            Candidate("sparse", D, 5304, None, note="failed to delegate FULLY_CONNECTED"),
            Candidate("sparse", B, 5304, 0.207)]


@pytest.mark.parametrize("objective", ["latency", "balanced"])
def test_slower_sparse_file_loses_to_dense_unless_size_is_asked(objective):
    pick, reason = choose(_demo_like(), objective)
    assert (pick.encoding, pick.resolver) == ("dense", D)
    assert "sparse file: 5304 bytes, 0.207 ms (1.70x)" in reason
    assert choose(_demo_like(), "size")[0].encoding == "sparse"


def test_balanced_keeps_the_smaller_file_only_within_3_percent_of_the_fastest():
    near = [Candidate("dense", D, 100, 0.100), Candidate("sparse", D, 40, 0.1029)]
    far = [Candidate("dense", D, 100, 0.100), Candidate("sparse", D, 40, 0.1031)]
    assert choose(near, "balanced")[0].encoding == "sparse"
    assert choose(far, "balanced")[0].encoding == "dense"
    assert choose(near, "latency")[0].encoding == "dense"


def test_builtin_resolver_is_chosen_only_when_clearly_faster_and_then_said():
    slight = [Candidate("dense", D, 100, 0.100), Candidate("dense", B, 100, 0.098)]
    clear = [Candidate("dense", D, 100, 0.100), Candidate("dense", B, 100, 0.050)]
    assert choose(slight, "latency")[0].resolver == D
    pick, _ = choose(clear, "latency")
    assert pick.resolver == B
    assert "BUILTIN_WITHOUT_DEFAULT_DELEGATES" in _choice.notes(pick, clear)[0]


def test_forced_sparse_file_that_is_slower_is_said_in_the_notes():
    pick, reason = choose(_demo_like(), "balanced", encoding="sparse")
    assert (pick.encoding, pick.resolver) == ("sparse", B)
    lines = _choice.notes(pick, _demo_like())
    assert any("refused the sparse file" in ln and "builtin kernels" in ln for ln in lines)
    assert any("1.70x slower than the dense file" in ln for ln in lines)


@pytest.mark.parametrize("kwargs, match", [({"objective": "fast"}, "objective"),
                                           ({"objective": "latency", "measure": False},
                                            "measure=True"),
                                           ({"measure": "yes"}, "measure")])
def test_bad_objective_or_measure_is_refused_before_conversion(tmp_path, mlp64, monkeypatch,
                                                               kwargs, match):
    monkeypatch.setattr(tflite_file, "convert", lambda *a, **k: pytest.fail("converted"))
    with pytest.raises(errors.ConfigError, match=match):
        export.tflite(mlp64, tmp_path / "m.tflite", **kwargs)


@pytest.fixture
def fake_timing(monkeypatch):
    """Replace the interleaved timing with the issue's figures (no timing luck)."""
    figures = {("dense", D): 0.122, ("dense", B): 0.25, ("sparse", D): 0.21,
               ("sparse", B): 0.207}
    monkeypatch.setattr(_choice.timing, "interleaved",
                        lambda its, summary: {k: figures[k] for k in its})


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["latency", "balanced"])
def test_sparse_int8_model_gets_the_dense_file_when_sparse_is_slower(tmp_path, sparse_mlp,
                                                                      fake_timing, objective):
    x = np.random.default_rng(0).random((64, 64)).astype("float32")
    rec = export.tflite(sparse_mlp, tmp_path / "q.tflite", quantize="int8",
                        representative_data=x, objective=objective)
    assert not rec.sparse and rec.modes == (1003,)
    assert rec.latency_ms == rec.dense_latency_ms == 0.122 and rec.resolver == D
    by = {(c["encoding"], c["resolver"]): c for c in rec.candidates}
    assert by[("sparse", D)]["note"] and by[("sparse", D)]["latency_ms"] is None
    assert "sparse file" in rec.decision and rec.objective == objective
    size = export.tflite(sparse_mlp, tmp_path / "s.tflite", quantize="int8",
                         representative_data=x, objective="size")
    assert size.sparse and size.bytes < rec.bytes and size.latency_ms is None
    assert any("refused the sparse file" in ln for ln in size.notes)


@pytest.mark.slow
def test_real_run_records_latency_kernels_and_candidates(tmp_path, sparse_mlp):
    rec = export.tflite(sparse_mlp, tmp_path / "f.tflite")
    assert rec.latency_ms > 0 and rec.dense_latency_ms > 0
    assert {(c["encoding"], c["resolver"]) for c in rec.candidates} == {
        ("dense", D), ("dense", B), ("sparse", D), ("sparse", B)}
    assert "FULLY_CONNECTED" in rec.kernels and rec.decision.endswith("x)")
    skipped = export.tflite(sparse_mlp, tmp_path / "n.tflite", measure=False)
    assert skipped.latency_ms is None and "measure=False" in skipped.decision
