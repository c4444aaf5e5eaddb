"""Subclassed models beyond prune/strip (issue 27 item 3): sensitivity at weight granularity,
TFLite export of a stripped model, Keras 3 subclassed models refused up front."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras

from .test_subclassed import CNN, MLP, _data

L = keras.layers


def _compiled_cnn():
    m = CNN()
    m(np.zeros((1, 8, 8, 3), "float32"))
    m.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


@pytest.mark.slow
def test_weight_sensitivity_measures_a_copy_and_restores_nothing_of_the_users():
    m = _compiled_cnn()
    x, y = _data((8, 8, 3), 4, n=32)
    before = [w.copy() for w in m.get_weights()]
    r = tfprune.sensitivity(m, (x, y), levels=(0.5, 0.95), progress=False)
    prunable = {m.stem.name, m.heads["cls"].name} | {b.conv.name for b in m.blocks}
    assert set(r.curves) == prunable  # the custom Blocks are walked into; BN is not a unit
    assert r.baseline == pytest.approx(m.evaluate(x, y, batch_size=32, verbose=0)[0], rel=1e-5)
    assert any(abs(c[-1] - r.baseline) > 1e-4 for c in r.curves.values())
    for a, b in zip(before, m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    acc = tfprune.sensitivity(m, (x, y), levels=(0.5,), metric="accuracy", progress=False)
    assert acc.higher_is_better and 0.0 <= acc.baseline <= 1.0


@pytest.mark.parametrize("granularity", ["channel", "head"])
def test_channel_and_head_sensitivity_refused_with_the_reason(granularity):
    m = _compiled_cnn()
    x, y = _data((8, 8, 3), 4, n=16)
    with pytest.raises(errors.ConfigError, match=rf"granularity='{granularity}' is refused for "
                                                 r"subclassed model CNN.*no\s+graph"):
        tfprune.sensitivity(m, (x, y), granularity=granularity, progress=False)


def test_regression_metric_refused_naming_the_output():
    m = MLP(4)
    m(np.zeros((1, 6), "float32"))
    m.compile(loss="mse")
    x = np.random.default_rng(0).random((16, 6)).astype("float32")
    with pytest.raises(errors.ConfigError, match="cannot apply to output"):
        tfprune.sensitivity(m, (x, np.linspace(5, 9, 16 * 3).reshape(16, 3)),
                            metric="accuracy", progress=False)


@pytest.mark.slow  # two conversions with the latency objective: ~13 s on the shared machine
def test_stripped_and_pruned_subclassed_models_export_to_tflite(tmp_path):
    m = MLP(8)
    m(np.zeros((1, 6), "float32"))
    pruned = tfprune.one_shot(m, 0.5)
    for i, model in enumerate((tfprune.strip(pruned), pruned)):
        rec = tfprune.export.tflite(model, str(tmp_path / f"m{i}.tflite"))
        assert (tmp_path / f"m{i}.tflite").stat().st_size == rec.bytes
        assert rec.verification["max_abs_error"] < 1e-5


def test_unbuilt_subclassed_model_export_says_to_call_it_first(tmp_path):
    with pytest.raises(errors.ModelTypeError, match=r"not built: call it on a batch"):
        tfprune.export.tflite(MLP(4), str(tmp_path / "m.tflite"))
    assert not (tmp_path / "m.tflite").exists()


def test_keras3_subclassed_model_that_cannot_be_copied_names_class_and_fix(tmp_path,
                                                                        keras3_subclassed):
    m = keras3_subclassed  # its __init__ takes no **kwargs: from_config cannot rebuild it
    x, y = np.zeros((16, 3), "float32"), np.arange(16) % 2
    with pytest.raises(errors.ModelTypeError, match=r"copy of subclassed model.*\(K3\).*get_config"):
        tfprune.sensitivity(m, (x, y), progress=False)
    with pytest.raises(errors.ModelTypeError, match=r"Cannot copy.*\(K3\).*inplace=True"):
        tfprune.one_shot(m, 0.5)
    # export converts the model's call: no copy needed
    rec = tfprune.export.tflite(m, str(tmp_path / "k3.tflite"), measure=False)
    assert rec.verification["max_abs_error"] < 1e-5
