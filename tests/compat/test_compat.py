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
