"""tfprune.app.models: the CLI's model argument (a file, an application name or demo_cnn)."""

import numpy as np
import pytest
import tf_keras

from tfprune import errors
from tfprune.app import compiled, models, pipeline


def test_model_files_are_told_from_names(tmp_path):
    assert models.is_model_path("dir/m.keras") and models.is_model_path("m.h5")
    assert not models.is_model_path("MobileNetV2")
    (tmp_path / "saved").mkdir()
    assert models.is_model_path(str(tmp_path / "saved"))


@pytest.mark.parametrize("spec, options, match", [
    ("missing.keras", None, "'missing.keras' does not exist"),
    ("ResNet50", {"alpha": 0.5}, "ResNet50 has no width multiplier"),
    ("demo_cnn", {"input_shape": [6, 6, 1]}, "too small for demo_cnn"),
    ("bad\0.keras", None, "NUL byte")])
def test_bad_model_arguments_are_refused_with_the_fix(spec, options, match):
    with pytest.raises(errors.ConfigError, match=match):
        models.load_model(spec, options)


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    (tmp_path / "x.keras").write_bytes(b"not a zip")
    with pytest.raises(errors.ConfigError, match="x.keras"):
        models.load_model(str(tmp_path / "x.keras"))


@pytest.mark.parametrize("text", ["96,x", "0,3", ","])
def test_cli_options_refuse_non_positive_shapes(text):
    with pytest.raises(errors.ConfigError, match="--input-shape"):
        models.cli_options(text, None)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_saved_tf_keras_model_keeps_its_compile_state(suffix, tmp_path):
    m = tf_keras.Sequential([tf_keras.Input((6,)), tf_keras.layers.Dense(8, activation="relu"),
                             tf_keras.layers.Dense(1, name="price")])
    m.compile("adam", loss="huber", metrics=["mse", "mae"])
    path = str(tmp_path / f"reg{suffix}")
    m.save(path)
    loaded = models.load_model(path)
    assert loaded.loss is not None  # loaded compiled: before, compile=False dropped it
    assert compiled.user_loss(loaded) == "huber"
    assert compiled.user_metric(loaded) == "mse"
    y = np.linspace(6, 18, 10).astype("float32")
    assert pipeline.resolve_metric(loaded, y, "huber")[1] == "mse"
