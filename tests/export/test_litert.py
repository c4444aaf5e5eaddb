"""tfprune.export._litert: running .tflite bytes in LiteRT, codes and comparisons."""

import numpy as np
import pytest

from tfprune import errors, export
from tfprune.export import _litert

D, B = _litert.DEFAULT, _litert.BUILTIN


def test_codes_round_trip_and_pass_token_ids_through():
    q = {"quantization": (0.5, -3), "dtype": np.int8}
    codes = _litert.encode(np.array([1.0, -1.0, 200.0]), q)
    assert codes.dtype == np.int8 and codes.tolist() == [-1, -5, 127]  # clipped at int8
    np.testing.assert_array_equal(_litert.decode(codes[:2], q), [1.0, -1.0])
    ids = {"quantization": (0.0, 0), "dtype": np.int32}
    assert _litert.encode(np.array([7.0, 2.0]), ids).tolist() == [7, 2]


def test_compare_reports_the_worst_output_and_each_by_name():
    ref = np.array([[1.0, 3.0], [4.0, 2.0]])
    one = _litert.compare(ref, ref + [[0.0, 0.5], [0.0, -0.5]])
    assert one == {"max_abs_error": 0.5, "max_rel_error": 0.125, "top1_agreement": 1.0,
                   "samples": 2}
    two = _litert.compare([ref, ref], [ref, ref[:, ::-1]], names=["a", "b"])
    assert two["max_abs_error"] == 2.0 and two["top1_agreement"] == 0.0
    assert set(two["outputs"]) == {"a", "b"} and two["outputs"]["a"]["max_abs_error"] == 0.0


def test_check_finite_counts_the_samples_with_nan():
    with pytest.raises(errors.ExportError, match=r"'y' is NaN or infinite on 1 of 3 samples"):
        _litert.check_finite([np.array([[1.0], [np.nan], [2.0]])], ["y"], "m.tflite")


def test_kernels_names_the_ops_the_delegate_took(mlp64):
    b = export.tflite_bytes(mlp64)
    runs = {r: it for r, it, _ in _litert.resolvers(b)}
    assert _litert.kernels(runs[D]) == {"delegate": ["FULLY_CONNECTED"] * 2, "builtin": []}
    assert _litert.kernels(runs[B]) == {"delegate": [], "builtin": ["FULLY_CONNECTED"] * 2}
    assert _litert.kernels_text(_litert.kernels(runs[D])) == "XNNPACK: FULLY_CONNECTED x2"
