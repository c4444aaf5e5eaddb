import subprocess
import sys

import numpy as np
import pytest

from tfprune import compat, errors


def run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)


# TensorFlow imported first, then two orders forked from that one import (TF's import costs
# ~12 CPU-seconds; each fork starts from the state of a fresh interpreter that ran only
# `import tensorflow`): "touched" uses tf.keras before importing tfprune, "untouched" does not.
_TF_FIRST = """
import os
import tensorflow as tf
if os.fork() == 0:
    import tfprune
    print('untouched', type(tf.keras.layers.Dense(1)).__module__, flush=True)
    os._exit(0)
_, status = os.wait()
assert status == 0, f'the untouched child failed with status {status}'
tf.keras.layers.Dense(1)
import tfprune, tf_keras as k
m = k.Sequential([k.Input((3,)), k.layers.Dense(4)])
p = tfprune.one_shot(m, 0.5)
print('touched', 'OK', tf.keras.__name__.split('.')[0], type(p.layers[0]).__name__, flush=True)
"""


@pytest.fixture(scope="module")
def tf_first():
    """What the two TensorFlow-first orders printed, by order ("touched", "untouched")."""
    r = run(_TF_FIRST)
    assert r.returncode == 0, r.stderr[-1500:]
    lines = dict(ln.split(" ", 1) for ln in r.stdout.splitlines() if " " in ln)
    return lines


@pytest.mark.slow
def test_import_order_does_not_matter_for_tf_keras_models(tf_first):
    # tf.keras touched first: it stays Keras 3, yet tfprune works on tf_keras models
    assert "touched" in tf_first, tf_first
    assert tf_first["touched"].startswith("OK") and "PruningWrapper" in tf_first["touched"]


@pytest.mark.slow
def test_importing_tfprune_first_makes_tf_keras_the_keras_of_tf():
    r = run("import tfprune, tensorflow as tf\nprint(type(tf.keras.layers.Dense(1)).__module__)")
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.strip().startswith("tf_keras")


def test_keras3_objects_are_detected():
    import keras as keras3

    assert compat.is_keras3_object(keras3.layers.Dense(1))
    assert not compat.is_keras3_object(compat.keras.layers.Dense(1))
    with pytest.raises(errors.KerasVersionError, match="tf_keras"):
        compat.check_tf_keras_model(keras3.Sequential([keras3.Input((2,)), keras3.layers.Dense(1)]))


@pytest.mark.slow
def test_tensorflow_imported_first_but_tf_keras_untouched_still_becomes_tf_keras(tf_first):
    assert "untouched" in tf_first, tf_first
    assert tf_first["untouched"].startswith("tf_keras")


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


@pytest.mark.slow
def test_to_keras3_and_back_carry_the_compile_state():
    import keras as keras3
    import tf_keras

    m = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2, name="d")])
    m.compile(tf_keras.optimizers.SGD(0.25, momentum=0.5),
              tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=[tf_keras.metrics.SparseCategoricalAccuracy(name="acc")])
    m3 = compat.to_keras3(m)
    assert isinstance(m3.optimizer, keras3.optimizers.SGD) and m3.optimizer.momentum == 0.5
    assert m3.loss.get_config()["from_logits"]
    back = compat.to_tf_keras(m3)
    assert isinstance(back.optimizer, tf_keras.optimizers.SGD) and back.optimizer is not m.optimizer
    assert float(back.optimizer.learning_rate.numpy()) == 0.25
    x, y = np.ones((4, 3), "float32"), np.zeros(4, "int64")
    assert set(m3.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "acc"}
