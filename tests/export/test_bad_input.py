"""Refused exports: clear errors, raised before conversion, no files left behind."""

import os

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors, export
from tfprune.compat import keras


def test_int8_without_representative_data_is_refused(tmp_path, mlp64, no_conversion):
    with pytest.raises(errors.ExportError, match="representative_data"):
        export.tflite(mlp64, tmp_path / "q.tflite", quantize="int8")
    assert os.listdir(tmp_path) == []


def test_micro_without_representative_data_is_refused(tmp_path, mlp64, no_conversion):
    with pytest.raises(errors.ExportError, match="representative_data"):
        export.micro(mlp64, tmp_path / "out", representative_data=None)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_wrong_shape_data_shows_both_shapes(tmp_path, digits_cnn, no_conversion):
    bad = np.zeros((10, 28, 28, 1), "float32")
    with pytest.raises(errors.ExportError, match=r"\(10, 28, 28, 1\).*\(n, 8, 8, 1\)"):
        export.tflite(digits_cnn, tmp_path / "q.tflite", quantize="int8",
                      representative_data=bad)
    with pytest.raises(errors.ExportError, match=r"\(10, 28, 28, 1\).*\(n, 8, 8, 1\)"):
        export.micro(digits_cnn, tmp_path / "out", representative_data=bad)
    assert os.listdir(tmp_path) == []


def test_wrong_dtype_data_is_refused(tmp_path, digits_cnn, no_conversion):
    raw = np.zeros((10, 8, 8, 1), "uint8")
    with pytest.raises(errors.ExportError, match="dtype uint8.*float32"):
        export.tflite(digits_cnn, tmp_path / "q.tflite", quantize="int8",
                      representative_data=raw)
    assert os.listdir(tmp_path) == []


def test_wrong_shape_dataset_is_refused(tmp_path, digits_cnn, no_conversion):
    ds = tf.data.Dataset.from_tensor_slices(np.zeros((8, 8, 8), "float32")).batch(4)
    with pytest.raises(errors.ExportError, match=r"\(4, 8, 8\).*\(n, 8, 8, 1\)"):
        export.tflite(digits_cnn, tmp_path / "q.tflite", quantize="int8",
                      representative_data=ds)


def test_nan_data_is_refused(tmp_path, mlp64, no_conversion):
    x = np.full((4, 64), np.nan, "float32")
    with pytest.raises(errors.ExportError, match="NaN"):
        export.tflite(mlp64, tmp_path / "q.tflite", quantize="int8", representative_data=x)


def test_unknown_options_list_valid_values(tmp_path, mlp64, no_conversion):
    with pytest.raises(errors.ConfigError, match="Did you mean 'int8'"):
        export.tflite(mlp64, tmp_path / "q.tflite", quantize="int")
    with pytest.raises(errors.ConfigError, match="'auto', True or False"):
        export.tflite(mlp64, tmp_path / "q.tflite", sparse="yes")
    with pytest.raises(errors.ConfigError, match="C identifier"):
        export.micro(mlp64, tmp_path / "o", representative_data=np.zeros((2, 64)), name="1x")
    assert os.listdir(tmp_path) == []


def test_existing_output_is_kept_without_overwrite(tmp_path, mlp64, no_conversion):
    out = tmp_path / "m.tflite"
    out.write_bytes(b"keep me")
    with pytest.raises(errors.ExportError, match="overwrite=True"):
        export.tflite(mlp64, out)
    assert out.read_bytes() == b"keep me"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.tflite").write_bytes(b"keep")
    with pytest.raises(errors.ExportError, match="model.tflite.*overwrite=True"):
        export.micro(mlp64, tmp_path / "out", representative_data=np.zeros((2, 64), "float32"))
    assert os.listdir(tmp_path / "out") == ["model.tflite"]


def test_output_folder_that_is_a_file_is_refused(tmp_path, mlp64, no_conversion):
    f = tmp_path / "not_a_dir"
    f.write_bytes(b"x")
    with pytest.raises(errors.ExportError, match="is a file, not a folder"):
        export.micro(mlp64, f, representative_data=np.zeros((2, 64), "float32"))
    with pytest.raises(errors.ExportError, match="is a file, not a folder"):
        export.tflite(mlp64, f / "m.tflite")
    assert f.read_bytes() == b"x"


def test_tflite_path_that_is_a_folder_is_refused(tmp_path, mlp64, no_conversion):
    with pytest.raises(errors.ExportError, match="is a folder"):
        export.tflite(mlp64, tmp_path)


def test_path_of_the_input_model_is_never_overwritten(tmp_path, mlp64, no_conversion):
    src = tmp_path / "m.keras"
    mlp64.save(src)
    before = src.read_bytes()
    for overwrite in (False, True):
        with pytest.raises(errors.ExportError, match="input model file"):
            export.tflite(str(src), src, overwrite=overwrite)
    with pytest.raises(errors.ExportError, match="Keras/TensorFlow model file"):
        export.tflite(mlp64, tmp_path / "other.h5", overwrite=True)
    assert src.read_bytes() == before


@pytest.mark.slow
def test_micro_refuses_the_input_tflite_file_as_its_output(tmp_path, mlp64):
    x = np.random.default_rng(0).random((32, 64)).astype("float32")
    export.micro(mlp64, tmp_path, representative_data=x)
    before = (tmp_path / "model.tflite").read_bytes()
    with pytest.raises(errors.ExportError, match="input model file"):
        export.micro(str(tmp_path / "model.tflite"), tmp_path, representative_data=None,
                     overwrite=True)
    assert (tmp_path / "model.tflite").read_bytes() == before


def test_unbuilt_subclassed_keras3_model_is_refused_before_conversion(tmp_path, no_conversion,
                                                                    keras3_subclassed):
    m = type(keras3_subclassed)()  # never called: its input shape is unknown
    with pytest.raises(errors.ModelTypeError, match=r"not built.*model\(x\)"):
        export.tflite(m, tmp_path / "m.tflite")
    assert not (tmp_path / "m.tflite").exists()


@pytest.mark.slow
def test_micro_refuses_a_sparse_encoded_file(tmp_path, sparse_mlp):
    x = np.random.default_rng(0).random((64, 64)).astype("float32")
    with pytest.warns(UserWarning):
        rec = export.tflite(sparse_mlp, tmp_path / "s.tflite", quantize="int8", sparse=True,
                            representative_data=x)
    assert 3001 in rec.modes
    with pytest.raises(errors.ExportError, match="sparse-encoded.*RANDOM_SPARSITY.*DENSIFY"):
        export.micro(rec.path, tmp_path / "out", representative_data=x)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_micro_refuses_a_float_file(tmp_path, mlp64):
    rec = export.tflite(mlp64, tmp_path / "f.tflite")
    with pytest.raises(errors.ExportError, match="float32 input .*float32 output.*full-int8"):
        export.micro(rec.path, tmp_path / "out", representative_data=None)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_micro_names_the_op_tflm_lacks_and_its_layer(tmp_path):
    inp = keras.Input((6,))
    h = keras.layers.Dense(6, name="d1")(inp)
    out = keras.layers.Lambda(lambda t: tf.reduce_prod(t, axis=-1, keepdims=True),
                              name="product")(h)
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).random((32, 6)).astype("float32")
    with pytest.raises(errors.ExportError, match="REDUCE_PROD.*'product'"):
        export.micro(model, tmp_path / "out", representative_data=x)
    assert not (tmp_path / "out").exists()
