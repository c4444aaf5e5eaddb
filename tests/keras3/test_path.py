"""The whole path with Keras 3 models: prune -> fit -> strip, channel shrink, export, save.

Public tfprune functions take a Keras 3 model (or its .keras file) and give back Keras 3
wherever they return a plain model; wrapped models are tf_keras, flagged as from Keras 3.
"""

import os
import subprocess
import sys
import textwrap

import keras as keras3
import numpy as np
import pytest
import tf_keras

import tfprune
from tfprune import compat, errors

from ._models import keras3_cnn, randomize_bn, rel_err


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = np.repeat((x * 16).astype("float32").reshape(-1, 8, 8, 1), 3, axis=-1)  # 0..255
    return x[:256], (y[:256] % 4).astype("int64")


@pytest.fixture(scope="module")
def channel_shrunk():
    """The Keras 3 CNN, its 50% channel plan, the masked and the shrunk model (read-only; built
    once for the two tests below)."""
    keras3.utils.set_random_seed(1234)
    m3 = randomize_bn(keras3_cnn())
    plan = tfprune.structured.plan(m3, sparsity=0.5)
    masked = tfprune.structured.apply_masks(m3, plan)
    return m3, masked, tfprune.shrink(masked, plan)


def _kernel_zeros(model, name):
    k = np.asarray(model.get_layer(name).get_weights()[0])
    return float((k == 0).mean())


@pytest.mark.slow  # ~10 s alone, 40 s on the shared machine (tracing the wrapped fit)
def test_prune_fit_strip_gives_keras3_with_zeros(digits):
    x, y = digits
    L = keras3.layers
    m3 = keras3.Sequential([keras3.Input((8, 8, 3)), L.Rescaling(1 / 255, name="scale"),
                            L.Flatten(name="flat"), L.Dense(16, activation="relu", name="d1"),
                            L.Dense(4, name="head")], name="mlp3")
    p = tfprune.prune(m3, sparsity=0.5)
    assert isinstance(p, tf_keras.Model) and compat.is_from_keras3(p)
    p.compile("adam", tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    p.fit(x, y, epochs=1, batch_size=128, verbose=0, callbacks=[tfprune.PruningCallback()])
    s = tfprune.strip(p)
    assert compat.is_keras3_object(s) and isinstance(s, keras3.Model)
    assert [layer.name for layer in s.layers] == [layer.name for layer in m3.layers]
    assert _kernel_zeros(s, "d1") == pytest.approx(0.5, abs=0.02)
    assert rel_err(s(x[:8]), p(x[:8])) <= 1e-5
    assert _kernel_zeros(m3, "d1") == 0.0  # the user's model is untouched


@pytest.mark.slow
def test_one_shot_then_strip_and_keras3_file_in(tmp_path, digits):
    x, _ = digits
    m3 = randomize_bn(keras3_cnn())
    path = str(tmp_path / "user.keras")
    m3.save(path)
    s = tfprune.strip(tfprune.one_shot(path, 0.75))  # a Keras 3 .keras path goes in too
    assert isinstance(s, keras3.Model)
    assert _kernel_zeros(s, "c1") == pytest.approx(0.75, abs=0.02)
    loaded, from3 = compat.load_model(path)
    assert from3 and isinstance(loaded, tf_keras.Model)
    assert rel_err(loaded(x[:4]), m3(x[:4])) <= 1e-5


@pytest.mark.slow
def test_channel_plan_apply_shrink_in_keras3(digits, channel_shrunk):
    x, _ = digits
    m3, masked, shrunk = channel_shrunk
    assert isinstance(masked, keras3.Model) and isinstance(shrunk, keras3.Model)
    assert [layer.name for layer in shrunk.layers] == [layer.name for layer in m3.layers]
    assert rel_err(shrunk(x[:16]), masked(x[:16])) <= 1e-5
    macs = tfprune.structured.count_macs
    assert macs(compat.to_tf_keras(shrunk)) < 0.7 * macs(compat.to_tf_keras(masked))
    assert shrunk.count_params() < m3.count_params()


def test_refused_before_any_work():
    class Sub(keras3.Model):
        def call(self, x):
            return x

    # pruned beside its own layers once built (tests/masking/test_keras3_subclassed.py)
    with pytest.raises(errors.ModelTypeError,
                       match=r"subclassed Keras 3 model \(Sub\).*not built.*model\(x\)"):
        tfprune.prune(Sub(), sparsity=0.5)


@pytest.mark.slow
def test_int8_tflite_and_micro_from_keras3(tmp_path, digits):
    x, _ = digits
    m3 = randomize_bn(keras3_cnn())
    rec = tfprune.export.tflite(m3, str(tmp_path / "m.tflite"), quantize="int8",
                                representative_data=x[:64])
    assert os.path.getsize(rec.path) == rec.bytes > 0
    micro = tfprune.export.micro(m3, str(tmp_path / "mcu"), representative_data=x[:64])
    assert micro.flash_bytes > 0 and micro.arena_bytes > 0
    assert micro.tflm_vs_litert["top1_agreement"] >= 0.9


@pytest.mark.slow
def test_pruned_and_shrunk_keras3_models_reload_without_tfprune(tmp_path, digits,
                                                                channel_shrunk):
    x, _ = digits
    m3, _, shrunk = channel_shrunk
    stripped = tfprune.strip(tfprune.one_shot(m3, 0.5))
    np.save(tmp_path / "x.npy", x[:8])
    for name, model in (("stripped", stripped), ("shrunk", shrunk)):
        model.save(str(tmp_path / f"{name}.keras"))
        np.save(tmp_path / f"{name}.npy", np.asarray(model(x[:8])))
    code = textwrap.dedent(f"""
        import sys, numpy as np, keras
        d = {str(tmp_path)!r}
        x = np.load(d + "/x.npy")
        for name in ("stripped", "shrunk"):
            m = keras.saving.load_model(d + "/" + name + ".keras")
            ref = np.load(d + "/" + name + ".npy")
            err = np.abs(np.asarray(m(x)) - ref).max() / np.abs(ref).max()
            print(name, type(m).__module__, float(err))
        assert "tfprune" not in sys.modules
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in r.stdout.strip().splitlines())
    for name in ("stripped", "shrunk"):
        module, err = lines[name].split()
        assert module.startswith("keras.") and float(err) <= 1e-5
