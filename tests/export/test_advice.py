"""export.advise: which pruning pattern pays on which runtime, per layer."""

import numpy as np
import pytest

from tfprune import errors, export
from tfprune.compat import keras
from tfprune.export import advice

L = keras.layers


def _mlp():
    return keras.Sequential([keras.Input((64,)), L.Dense(32, activation="relu", name="fc1"),
                             L.Dense(10, name="fc2")], name="mlp")


def _cnn():
    return keras.Sequential([keras.Input((8, 8, 4)), L.Conv2D(8, 3, name="c3"),
                             L.Conv2D(12, 1, name="pw"), L.DepthwiseConv2D(3, name="dw"),
                             L.GlobalAveragePooling2D(), L.Dense(10, name="fc")], name="cnn")


def _by(adv):
    return {(r["layer"], r["pattern"]): r for r in adv.rows}


def test_dense_model_gets_channels_block_kernels_and_decode_rows():
    adv = export.advise(_mlp())
    rows = _by(adv)
    assert rows[("fc1", "channels")]["applies"] and not rows[("fc2", "channels")]["applies"]
    block = rows[("fc1", "block 1x4 / 1x16")]
    assert block["applies"] and block["runtime"] == "LiteRT builtin FULLY_CONNECTED"
    assert "granularity='block:4x1'" in block["how"] and "'block:16x1'" in block["how"]
    assert "2,048 -> ~461 bytes" in rows[("fc1", "DECODE prune")]["predicted"]
    assert all(r["measured"] is None for r in adv.rows)
    text = str(adv)
    assert text.startswith("CPU: ") and "| fc1 | Dense | 0% | channels |" in text


def test_conv_model_rows_say_whether_xnnpack_sparse_inference_is_active(monkeypatch):
    monkeypatch.setattr(advice, "cpu_has_avx", lambda: True)
    rows = _by(export.advise(_cnn(), target="litert"))
    pw = rows[("pw", "1x1 conv >= 2/3 zeros")]
    assert not pw["applies"] and "x86 with AVX" in pw["predicted"]
    assert ("c3", "1x1 conv >= 2/3 zeros") not in rows  # 3x3: never
    assert ("fc", "block 1x4 / 1x16") in rows and ("c3", "block 1x4 / 1x16") not in rows
    assert "only float 1x4 tiles it" in rows[("fc", "block 1x4 / 1x16")]["how"]  # 12 inputs
    monkeypatch.setattr(advice, "cpu_has_avx", lambda: False)
    assert _by(export.advise(_cnn()))[("pw", "1x1 conv >= 2/3 zeros")]["applies"]


def test_mcu_target_lists_channels_and_decode_only():
    adv = export.advise(_cnn(), target="micro")
    assert {r["pattern"] for r in adv.rows} == {"channels", "DECODE prune"}
    assert all(r["runtime"] in ("any (LiteRT, TFLM)", "TFLite Micro") for r in adv.rows)


def test_current_zeros_are_reported():
    m = _mlp()
    w, b = m.layers[0].get_weights()
    w[:, :16] = 0
    m.layers[0].set_weights([w, b])
    assert _by(export.advise(m))[("fc1", "channels")]["zeros"] == 0.5


@pytest.mark.parametrize("kwargs, match", [({"target": "gpu"}, "target"),
                                           ({"sparsity": 1.0}, "sparsity"),
                                           ({"measure": 1}, "measure")])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(errors.ConfigError, match=match):
        export.advise(_mlp(), **kwargs)


@pytest.mark.slow
def test_measure_fills_the_measured_column(monkeypatch):
    adv = export.advise(_mlp(), measure=True, target="litert")
    rows = _by(adv)
    assert rows[("fc1", "channels")]["measured"].startswith("50 % channels: ")
    assert rows[("fc1", "block 1x4 / 1x16")]["measured"].startswith("float 1x4 at 90%: ")
    assert rows[("fc2", "channels")]["measured"] is None  # an output layer: not applicable
    assert np.isfinite(float(rows[("fc1", "channels")]["measured"].split()[3][:-1]))
