import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

from tfprune import export
from tfprune.compat import keras
from tfprune.export import _inspect, _io, _litert

pytestmark = pytest.mark.slow  # TFLite conversions: about a second each


def _litert_outputs(path, x):
    with open(path, "rb") as f:
        it, _, _ = _litert.interpreter(f.read(), resolver=_litert.BUILTIN)
    return _litert.run(it, [x], _io.identity(1, 1))[0][0]


def test_float_export_matches_keras_within_1e4_relative(tmp_path, digits_cnn):
    rec = export.tflite(digits_cnn, tmp_path / "f.tflite", sparse=False)
    x = np.random.default_rng(5).random((40, 8, 8, 1)).astype("float32")
    ref = digits_cnn.predict(x, verbose=0)
    got = _litert_outputs(rec.path, x)
    assert np.max(np.abs(ref - got)) <= 1e-4 * np.max(np.abs(ref))
    assert rec.verification["max_rel_error"] <= 1e-4
    assert rec.modes == () and not rec.sparse


def test_record_reports_bytes_gzip_and_ops(tmp_path, digits_cnn):
    rec = export.tflite(digits_cnn, tmp_path / "f.tflite")
    content = (tmp_path / "f.tflite").read_bytes()
    assert rec.bytes == len(content)
    assert rec.gzip_bytes == len(gzip.compress(content, 9))
    assert set(rec.ops) >= {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED"}
    assert rec.to_dict()["ops"] == rec.ops


def test_int8_export_agrees_top1_with_keras_on_digits(tmp_path, digits_cnn, digits_data):
    (xtr, _), (xte, _) = digits_data
    rec = export.tflite(digits_cnn, tmp_path / "q.tflite", quantize="int8",
                        representative_data=xtr)
    assert rec.modes == (1003,)
    got = _litert_outputs(rec.path, xte)
    ref = digits_cnn.predict(xte, verbose=0)
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= 0.99
    assert rec.verification["top1_agreement"] >= 0.99


@pytest.mark.parametrize("quantize, mode", [("dynamic", 1002), ("float16", 1001)])
def test_quantize_mode_is_read_back_from_metadata(tmp_path, mlp64, quantize, mode):
    rec = export.tflite(mlp64, tmp_path / "m.tflite", quantize=quantize)
    assert rec.modes == (mode,)
    assert rec.quantize == quantize


def test_sparse_true_records_random_sparsity_in_metadata(tmp_path, sparse_mlp):
    rec = export.tflite(sparse_mlp, tmp_path / "s.tflite", sparse=True)
    assert 3001 in rec.modes and "RANDOM_SPARSITY" in rec.mode_names
    assert "DENSIFY" in rec.ops and rec.sparse
    assert rec.verification["max_rel_error"] <= 1e-4


def test_sparse_auto_encodes_only_when_it_saves_bytes(tmp_path, sparse_mlp, mlp64):
    # objective="size": the choice by bytes alone (the default, "balanced", also times the two
    # files, and their latencies are within a few percent of each other: a timing coin toss)
    packed = export.tflite(sparse_mlp, tmp_path / "a.tflite", sparse="auto", objective="size")
    dense = export.tflite(sparse_mlp, tmp_path / "d.tflite", sparse=False)
    assert 3001 in packed.modes and packed.bytes < dense.bytes
    assert dense.modes == ()
    plain = export.tflite(mlp64, tmp_path / "p.tflite", sparse="auto", objective="size")
    assert not _inspect.SPARSITY_MODES.intersection(plain.modes) and not plain.sparse


def test_sparse_int8_falls_back_to_builtin_resolver_and_says_so(tmp_path, sparse_mlp):
    x = np.random.default_rng(0).random((64, 64)).astype("float32")
    with pytest.warns(UserWarning, match="default delegate refused"):
        rec = export.tflite(sparse_mlp, tmp_path / "q.tflite", quantize="int8", sparse=True,
                            representative_data=x)
    assert rec.modes == (1003, 3001)
    assert rec.resolver == _litert.BUILTIN and rec.resolver_note
    assert rec.verification["top1_agreement"] >= 0.95


def test_wrapped_model_is_stripped_and_left_unchanged(tmp_path, mlp64):
    import tfprune

    wrapped = tfprune.one_shot(mlp64, 0.8)
    before = [w.numpy().copy() for w in wrapped.weights]
    names = [type(layer).__name__ for layer in wrapped.layers]
    rec = export.tflite(wrapped, tmp_path / "w.tflite", sparse=True)
    assert [type(layer).__name__ for layer in wrapped.layers] == names
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, wrapped.weights, strict=True))
    assert 3001 in rec.modes
    x = np.random.default_rng(1).random((16, 64)).astype("float32")
    ref = tfprune.strip(wrapped).predict(x, verbose=0)
    assert np.allclose(_litert_outputs(rec.path, x), ref, atol=1e-4)


def test_tf_data_dataset_of_pairs_is_accepted_for_int8(tmp_path, digits_cnn, digits_data):
    (xtr, ytr), _ = digits_data
    ds = tf.data.Dataset.from_tensor_slices((xtr[:256], ytr[:256])).batch(32)
    rec = export.tflite(digits_cnn, tmp_path / "q.tflite", quantize="int8",
                        representative_data=ds)
    assert rec.modes == (1003,) and rec.verification["samples"] == 64


def test_model_given_as_keras_file_is_exported_and_kept(tmp_path, mlp64):
    src = tmp_path / "m.keras"
    mlp64.save(src)
    before = src.read_bytes()
    rec = export.tflite(str(src), tmp_path / "m.tflite")
    assert os.path.exists(rec.path) and src.read_bytes() == before
    assert rec.verification["max_rel_error"] <= 1e-4


def test_overwrite_true_replaces_an_existing_file(tmp_path, mlp64):
    out = tmp_path / "m.tflite"
    out.write_bytes(b"old")
    rec = export.tflite(mlp64, out, overwrite=True)
    assert out.read_bytes()[4:8] == b"TFL3" and rec.bytes == out.stat().st_size
    assert sorted(os.listdir(tmp_path)) == ["m.tflite"]  # no temp file left


def test_keras_model_built_without_input_layer_works(tmp_path):
    m = keras.Sequential([keras.layers.Dense(3, input_shape=(5,))])
    rec = export.tflite(m, tmp_path / "m.tflite")
    assert rec.ops == ("FULLY_CONNECTED",)
