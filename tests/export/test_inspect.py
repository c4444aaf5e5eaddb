"""tfprune/export/_inspect.py: what a .tflite flatbuffer holds (checked by its identifier,
refused naming the fix otherwise), its modes and sparsity, and which layers an op touches."""

import pytest

from tfprune import errors
from tfprune.export._inspect import (
    MODE_NAMES,
    SPARSITY_MODES,
    OpInfo,
    Summary,
    check_content,
    layers_for_op,
)


def _summary(graph=(), modes=(), sparse=(), ops=()):
    return Summary(ops=tuple(ops), graph=tuple(graph), modes=tuple(modes),
                   sparse_tensors=tuple(sparse), input_dtype="float32", output_dtype="float32")


def test_check_content_accepts_the_tfl3_identifier_and_returns_bytes():
    content = bytearray(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 12)
    assert check_content(content) == bytes(content)
    assert isinstance(check_content(memoryview(content)), bytes)


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x00" * 4 + b"TFL2" + b"\x00" * 12,
                                     b"\x00" * 4 + b"TFL3"])
def test_check_content_refuses_other_bytes_naming_the_fix(content):
    with pytest.raises(errors.ExportError, match=rf"model.bin is not a .tflite model "
                       rf"\({len(content)} bytes.*tfprune\.export\.tflite"):
        check_content(content, "model.bin")


def test_modes_are_named_and_sparsity_is_read_from_modes_tensors_or_densify():
    assert _summary(modes=(1003, 3001, 77)).mode_names == ("PTQ_FULL_INTEGER",
                                                          "RANDOM_SPARSITY", "77")
    assert SPARSITY_MODES == {k for k, v in MODE_NAMES.items() if "SPARSITY" in v}
    assert not _summary(modes=(1003,)).is_sparse
    assert _summary(modes=(3002,)).is_sparse
    assert _summary(sparse=("w",)).is_sparse
    assert _summary(ops=("DENSIFY",)).is_sparse


def test_layers_for_op_reads_tensor_names_by_whole_path_components():
    graph = [OpInfo("CONV_2D", ("x", "model/conv/Conv2D"), ("model/conv/Relu",), False),
             OpInfo("CONV_2D", ("model/conv/Relu",), ("model/conv_1/Conv2D",), False),
             OpInfo("FULLY_CONNECTED", ("model/flat/Reshape", "model/head/MatMul"),
                    ("StatefulPartitionedCall:0",), True),
             OpInfo("MEAN", ("model/conv_1/Conv2D", "model/pool;model/head/x"), ("t",), False)]
    s = _summary(graph)
    names = ["conv", "conv_1", "flat", "head", "pool"]
    assert layers_for_op(s, "CONV_2D", names) == ["conv", "conv_1"]  # not "conv" for conv_1
    assert layers_for_op(s, "FULLY_CONNECTED", names, output_layers=["head"]) == ["head"]
    # no output names a layer: the last of the layers its inputs name
    assert layers_for_op(s, "MEAN", names) == ["pool"]
    assert layers_for_op(s, "SOFTMAX", names) == []
