"""Subclassed Keras 3 models (``class M(keras.Model)`` with ``import keras``) through
export.tflite / micro / verify: prune -> fit -> strip -> float and int8 micro files whose
outputs agree with the Keras 3 model, pruned zeros kept, the user's model unchanged; refusals
before any conversion (tfprune/export/keras3_call.py)."""

import os
import pathlib

import numpy as np
import pytest

import tfprune
from tfprune import errors, export
from tfprune.export import _litert, keras3_call
from tfprune.masking import keras3_slots

keras = pytest.importorskip("keras")

from tests.masking._keras3_models import MLP, _compile, _conv, _data, _kernels, _mlp  # noqa: E402


def _file_tensors(path):
    """Every constant tensor of a .tflite file LiteRT can read, as arrays."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    out = []
    for d in it.get_tensor_details():
        try:
            out.append(np.asarray(it.get_tensor(d["index"])))
        except ValueError:  # a tensor without data (activations before invoke)
            continue
    return out


def _run_file(path, x):
    """The file's outputs for ``x``, one sample per invoke (the library's LiteRT loop)."""
    it, _, _ = _litert.interpreter(pathlib.Path(path).read_bytes())
    return _litert.run_codes(it, [x])[0]


@pytest.mark.slow
def test_prune_fit_strip_export_float_and_micro_then_verify(tmp_path):
    m = _mlp()
    x, y = _data((8,), 3)
    p = tfprune.prune(m, sparsity=0.5)
    _compile(p)
    p.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[tfprune.PruningCallback()])
    s = tfprune.strip(p)
    kernels = _kernels(s)
    before = [v.numpy().copy() for v in s.weights]
    rec = export.tflite(s, tmp_path / "f.tflite", sparse=False, measure=False)
    assert rec.bytes == os.path.getsize(tmp_path / "f.tflite")
    assert rec.verification["max_rel_error"] < 1e-5
    # the file computes what the Keras 3 model computes
    np.testing.assert_allclose(_run_file(rec.path, x[:16]), np.asarray(s(x[:16])), atol=1e-5)
    # each pruned kernel is in the file (FULLY_CONNECTED keeps it transposed) with its zeros
    tensors = _file_tensors(rec.path)
    for name, k in kernels.items():
        assert (k == 0).mean() == pytest.approx(0.5, abs=0.02)
        assert any(t.shape == k.T.shape and np.array_equal(t, k.T) for t in tensors), name
    mr = export.micro(s, tmp_path / "micro", representative_data=x)
    assert mr.vs_keras["top1_agreement"] >= 0.9 and mr.vs_keras["max_rel_error"] < 0.05
    assert mr.tflm_vs_litert["max_step_diff"] <= export.TFLM_STEP_TOLERANCE
    assert os.path.isfile(mr.files["source"])
    v = export.verify(s, rec.path, mr.files["tflite"], data=(x, y))
    assert [r["runtime"] for r in v.rows] == ["Keras", "LiteRT", "LiteRT", "TFLM"]
    assert v.rows[1]["max_rel_error"] < 1e-5 and v.rows[2]["top1_agreement"] >= 0.9
    # the user's model is unchanged: same class, same weights, no tfprune state
    assert type(s) is type(m) and keras3_slots.state_of(s) is None
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, s.weights, strict=True))


@pytest.mark.slow
def test_model_still_holding_masks_is_stripped_for_export_and_left_as_it_was(tmp_path):
    m = _conv()
    x, _ = _data((8, 8, 3), 4, n=32)
    p = tfprune.one_shot(m, 0.6)
    state = keras3_slots.state_of(p)
    before = [v.numpy().copy() for v in p.weights]
    rec = export.tflite(p, tmp_path / "p.tflite", representative_data=x, measure=False)
    np.testing.assert_allclose(_run_file(rec.path, x[:8]),
                               np.asarray(tfprune.strip(p)(x[:8])), atol=1e-4)
    assert keras3_slots.state_of(p) is state
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, p.weights, strict=True))


def test_view_runs_the_call_on_the_models_own_variables():
    m = _mlp()
    v = keras3_call.view(m)
    assert v.input_names == ["x"] and v.input_shape == (None, 8) and v.output_shape == (None, 3)
    assert {id(w) for w in v.weights} == {id(w.value) for w in m.weights}
    x = np.random.default_rng(1).random((4, 8)).astype("float32")
    np.testing.assert_allclose(v(x), m(x), atol=1e-6)
    assert (tfprune.compat.is_keras3_subclassed(m)
            and not tfprune.compat.is_keras3_subclassed(v))


class _Recurrent(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.rnn = keras.layers.GRU(4, name="gru")
        self.head = keras.layers.Dense(2, name="head")

    def call(self, x):
        return self.head(self.rnn(x))


class _TwoInputs(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fc = keras.layers.Dense(2, name="fc")

    def call(self, xs):
        return self.fc(keras.ops.concatenate(xs, axis=-1))


def test_recurrent_and_two_input_models_are_refused_before_conversion(tmp_path, no_conversion):
    r = _Recurrent()
    r(np.zeros((1, 5, 3), "float32"))
    with pytest.raises(errors.ModelTypeError, match=r"'gru' \(GRU\).*recurrent.*keras.Model"):
        export.tflite(r, tmp_path / "r.tflite")
    t = _TwoInputs()
    t([np.zeros((1, 2), "float32"), np.zeros((1, 3), "float32")])
    with pytest.raises(errors.ModelTypeError, match="one tensor"):
        export.micro(t, tmp_path / "out", representative_data=np.zeros((4, 2), "float32"))
    assert os.listdir(tmp_path) == []


def test_masks_on_a_class_that_cannot_be_copied_say_to_strip_in_place(tmp_path, no_conversion,
                                                                       keras3_subclassed):
    p = tfprune.prune(keras3_subclassed, sparsity=0.5, inplace=True)
    assert keras3_slots.state_of(p) is not None
    with pytest.raises(errors.ModelTypeError, match=r"masks.*tfprune.strip\(model, inplace=True\)"):
        export.tflite(p, tmp_path / "k3.tflite")
    assert os.listdir(tmp_path) == []


class _Named(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.a = keras.layers.Dense(3, name="a")
        self.b = keras.layers.Dense(1, name="b")

    def call(self, x):
        return {"cls": self.a(x), "reg": self.b(x)}


def test_dict_outputs_are_named_by_their_keys(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    m = _Named()  # a leading underscore: Keras 3 names it "__named", refused as a TF scope
    x = np.random.default_rng(2).random((4, 5)).astype("float32")
    m(x[:1])
    rec = export.tflite(m, tmp_path / "n.tflite", sparse=False, measure=False)
    assert sorted(rec.verification["outputs"]) == ["cls", "reg"]
    it = Interpreter(model_path=rec.path)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x[:1])
    it.invoke()
    got = {tuple(d["shape"]): it.get_tensor(d["index"]) for d in it.get_output_details()}
    for want in m(x[:1]).values():  # the outputs differ in shape: (1, 3) and (1, 1)
        np.testing.assert_allclose(got[tuple(want.shape)], np.asarray(want), atol=1e-5)


def test_nan_weight_is_refused_naming_the_weight(tmp_path, no_conversion):
    m = _mlp()
    k = m.fc1.kernel.numpy()
    k[0, :2] = np.nan
    m.fc1.kernel.assign(k)
    with pytest.raises(errors.ExportError, match=r"fc1/kernel.*2 NaN/infinite values"):
        export.tflite(m, tmp_path / "nan.tflite")
    assert os.listdir(tmp_path) == []


def test_pruned_zeros_are_stored_sparse_when_asked(tmp_path):
    m = MLP(units=128)
    m(np.zeros((1, 64), "float32"))
    s = tfprune.strip(tfprune.one_shot(m, 0.8))
    rec = export.tflite(s, tmp_path / "s.tflite", sparse=True, measure=False)
    assert rec.sparse and "RANDOM_SPARSITY" in rec.mode_names and "DENSIFY" in rec.ops
    assert rec.bytes < 0.5 * len(export.tflite_bytes(s))
    assert rec.verification["max_rel_error"] < 1e-5
