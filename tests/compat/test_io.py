"""tfprune.compat._io: loading tf_keras and Keras 3 files, and the keras3_io decorator."""

import numpy as np
import pytest

from tfprune import compat, errors


def test_load_model_reads_tf_keras_and_keras3_files(tmp_path):
    import keras as keras3
    import numpy as np

    x = np.ones((2, 3), "float32")
    m2 = compat.keras.Sequential([compat.keras.Input((3,)), compat.keras.layers.Dense(2)])
    m2.save(str(tmp_path / "a.h5"))
    loaded, from3 = compat.load_model(tmp_path / "a.h5")
    assert not from3 and np.allclose(loaded(x), m2(x))
    m3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)])
    m3.save(str(tmp_path / "b.keras"))
    loaded, from3 = compat.load_model(str(tmp_path / "b.keras"))
    assert from3 and compat.is_from_keras3(loaded) and np.allclose(loaded(x), m3(x))
    with pytest.raises(errors.ConfigError, match="does not exist"):
        compat.load_model(tmp_path / "missing.keras")


@pytest.mark.slow
def test_a_compiled_keras3_file_loads_compiled(tmp_path):
    import keras as keras3
    import tf_keras

    m3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2, name="d")])
    m3.compile(keras3.optimizers.SGD(0.25, momentum=0.5), keras3.losses.MeanAbsoluteError(),
               metrics=["mse"])
    path = tmp_path / "compiled.keras"
    m3.save(str(path))
    loaded, from3 = compat.load_model(path)
    assert from3 and isinstance(loaded.optimizer, tf_keras.optimizers.SGD)
    assert float(loaded.optimizer.learning_rate.numpy()) == 0.25
    assert float(loaded.optimizer.momentum) == 0.5
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    result = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert set(result) == {"loss", "mse"}
    assert np.isclose(result["loss"], np.mean(np.abs(m3.predict(x, verbose=0))), atol=1e-5)

    @compat.keras3_io(returns="model")
    def same(model):
        return model

    out = same(str(path))  # what a public function (and the CLI) gets from a .keras path
    assert compat.is_keras3_object(out) and out.compiled
    assert isinstance(out.optimizer, keras3.optimizers.SGD)


def test_a_keras3_file_whose_compile_state_cannot_load_loads_uncompiled(tmp_path):
    import keras as keras3

    def unregistered_loss(y, p):
        return keras3.ops.mean(keras3.ops.abs(y - p))

    m3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2, name="d")])
    m3.compile("sgd", unregistered_loss)
    m3.save(str(tmp_path / "custom.keras"))
    with pytest.warns(UserWarning, match="loaded uncompiled.*register_keras_serializable"):
        loaded, from3 = compat.load_model(tmp_path / "custom.keras")
    assert from3 and not loaded._is_compiled
    x = np.ones((2, 3), "float32")
    assert np.allclose(loaded(x), m3(x))


def test_keras3_io_options_and_keyword_model():
    import keras as keras3

    with pytest.raises(errors.ConfigError, match="Unknown returns 'plain'"):
        compat.keras3_io(returns="plain")

    @compat.keras3_io(returns="model")
    def same(model, *, scale=1):
        assert not compat.is_keras3_object(model)
        return model

    m3 = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2, name="d")])
    out = same(model=m3)
    assert compat.is_keras3_object(out) and out is not m3 and out.layers[0].name == "d"
    plain = compat.keras.Sequential([compat.keras.Input((3,)), compat.keras.layers.Dense(2)])
    assert same(plain) is plain  # tf_keras in, tf_keras out, untouched
