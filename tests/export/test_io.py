"""tfprune/export/_io.py: a .tflite file's inputs and outputs matched to a Keras model's, by
name then by order; a file of another model is refused naming what differs and the fix."""

import numpy as np
import pytest

from tfprune import errors
from tfprune.compat import keras
from tfprune.export._inspect import Summary, TensorInfo
from tfprune.export._io import IOMap, identity, match, output_shapes
from tfprune.export.samples import InputSpec


def _summary(inputs, outputs):
    return Summary(ops=(), graph=(), modes=(), sparse_tensors=(), input_dtype="float32",
                   output_dtype="float32", inputs=tuple(inputs), outputs=tuple(outputs))


def _t(name, shape, dtype="float32", quantized=False):
    return TensorInfo(name, shape, dtype, quantized)


_SPECS = [InputSpec("a", (3,), np.dtype("float32")), InputSpec("ids", (5,), np.dtype("int32"))]


def test_identity_keeps_the_file_order_and_names_outputs():
    assert identity(2, 2) == IOMap((0, 1), (0, 1), ("output_0", "output_1"))
    assert identity(1, 1, ["p"]).output_names == ("p",)


def test_inputs_and_outputs_are_matched_by_signature_name():
    summary = _summary([_t("serving_default_ids:0", (1, 5), "int32"), _t("a", (1, 3))],
                       [_t("reg", (-1, 1)), _t("cls", (-1, 4))])
    m = match(summary, _SPECS, [(4,), (1,)], ["cls", "reg"], model_name="m", file_name="f")
    assert m.inputs == (1, 0)  # the file's first input feeds Keras input 1 ("ids")
    assert m.outputs == (1, 0) and m.output_names == ("cls", "reg")


def test_unnamed_tensors_are_matched_by_order():
    summary = _summary([_t("x0", (1, 3)), _t("x1", (1, 5), "int32")],
                       [_t("StatefulPartitionedCall:0", (1, 4))])
    m = match(summary, _SPECS, [(4,)], ["cls"], model_name="m", file_name="f")
    assert m.inputs == (0, 1) and m.outputs == (0,)


def test_another_models_file_is_refused_naming_counts_shapes_and_dtypes():
    one_input = _summary([_t("a", (1, 3))], [_t("cls", (1, 4))])
    with pytest.raises(errors.ExportError, match=r"f\.tflite has 1 inputs \['a'\], but model "
                       r"'m' has 2 \['a', 'ids'\].*Pass the model the file came from"):
        match(one_input, _SPECS, [(4,)], ["cls"], model_name="m", file_name="f.tflite")
    wrong_shape = _summary([_t("a", (1, 7)), _t("ids", (1, 5), "int32")], [_t("cls", (1, 4))])
    with pytest.raises(errors.ExportError, match=r"input 'a' is float32 \(7\), the model input "
                       r"'a' is float32 \(3\)"):
        match(wrong_shape, _SPECS, [(4,)], ["cls"], model_name="m", file_name="f")
    float_ids = _summary([_t("a", (1, 3)), _t("ids", (1, 5))], [_t("cls", (1, 4))])
    with pytest.raises(errors.ExportError, match="model input 'ids' is int32"):
        match(float_ids, _SPECS, [(4,)], ["cls"], model_name="m", file_name="f")
    wrong_out = _summary([_t("a", (1, 3)), _t("ids", (1, 5), "int32")], [_t("cls", (1, 9))])
    with pytest.raises(errors.ExportError, match=r"output 'cls' has shape \(9\), the model "
                       r"output 'cls' \(4\)"):
        match(wrong_out, _SPECS, [(4,)], ["cls"], model_name="m", file_name="f")


def test_dynamic_and_quantized_dimensions_fit():
    specs = [InputSpec("a", (None, 3), np.dtype("float32"))]
    q = _summary([_t("a", (1, -1, 3), "int8", quantized=True)], [_t("o", (1, -1))])
    assert match(q, specs, [(None,)], ["o"], model_name="m", file_name="f").inputs == (0,)


def test_output_shapes_follow_keras_order_without_the_batch_axis():
    i = keras.Input((None, 3))
    m = keras.Model(i, [keras.layers.Dense(2, name="p")(i), keras.layers.Dense(1, name="q")(i)])
    assert output_shapes(m) == [(None, 2), (None, 1)]
