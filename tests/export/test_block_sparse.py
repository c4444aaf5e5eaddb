"""Dense layers pruned in the converter's block layout are stored natively block-sparse.

Our ``block=(r, c)`` counts ``r`` along the Keras kernel's input axis and ``c`` along its
output axis; TFLite stores FULLY_CONNECTED weights as [outputs, inputs], so our ``(4, 1)`` is
the converter's 1x4 block (float) and ``(16, 1)`` its 1x16 block (int8). ``(1, 4)`` runs
along the outputs: the converter then stores the kernel randomly sparse behind a DENSIFY op.
"""

import numpy as np
import pytest

import tfprune
from tfprune import export
from tfprune.compat import keras

pytestmark = pytest.mark.slow  # TFLite conversions


def _mlp():
    keras.utils.set_random_seed(1)
    L = keras.layers
    return keras.Sequential([keras.Input((64,)), L.Dense(32, activation="relu", name="d1"),
                             L.Dense(16, name="d2")], name="mlp")


@pytest.mark.parametrize("block, quantize, modes", [((4, 1), None, (3002,)),
                                                    ((16, 1), "int8", (1003, 3002))])
def test_kernel_aligned_blocks_give_block_sparse_file_without_densify(tmp_path, block,
                                                                      quantize, modes):
    plain = tfprune.strip(tfprune.one_shot(_mlp(), 0.9, granularity=f"block:{block[0]}x{block[1]}"))
    x = np.random.default_rng(0).random((32, 64)).astype("float32")
    rec = export.tflite(plain, tmp_path / "b.tflite", quantize=quantize, sparse=True,
                        representative_data=x)
    assert rec.modes == modes and "BLOCK_SPARSITY" in rec.mode_names
    assert "DENSIFY" not in rec.ops
    assert rec.verification["top1_agreement"] >= 0.9


def test_blocks_along_the_output_axis_are_not_the_native_layout(tmp_path):
    plain = tfprune.strip(tfprune.one_shot(_mlp(), 0.9, granularity="block:1x4"))
    rec = export.tflite(plain, tmp_path / "r.tflite", sparse=True)
    assert 3002 not in rec.modes and "DENSIFY" in rec.ops
