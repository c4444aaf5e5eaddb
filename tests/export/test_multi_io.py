"""Multi-input / multi-output export: data by order or name, verification per output."""

import numpy as np
import pytest

from tfprune import errors, export
from tfprune.export import _inspect, micro_file, samples


def test_data_as_list_tuple_dict_or_pair_gives_the_same_arrays(two_io_model, two_io_data):
    a, b = two_io_data
    forms = [[a, b], (a, b), {"b": b, "a": a}, ([a, b], np.zeros(40)), ({"a": a, "b": b}, None)]
    for form in forms:
        got = samples.representative(two_io_model, form)
        assert len(got) == 2 and np.array_equal(got[0], a) and np.array_equal(got[1], b)


def test_mismatched_data_names_the_input_and_both_shapes(tmp_path, two_io_model, two_io_data,
                                                          no_conversion):
    a, _ = two_io_data
    bad_b = np.zeros((40, 7), "float32")
    with pytest.raises(errors.ExportError, match=r"input 'b' has shape \(40, 7\).*\(n, 3\)"):
        export.tflite(two_io_model, tmp_path / "m.tflite", quantize="int8",
                      representative_data=[a, bad_b])
    with pytest.raises(errors.ExportError, match=r"input 'b' has shape \(40, 7\).*\(n, 3\)"):
        export.micro(two_io_model, tmp_path / "o", representative_data={"a": a, "b": bad_b})
    assert list(tmp_path.iterdir()) == []


def test_wrong_keys_counts_and_lengths_are_refused(two_io_model, two_io_data):
    a, b = two_io_data
    with pytest.raises(errors.ExportError, match=r"missing: \['b'\], unknown: \['c'\]"):
        samples.representative(two_io_model, {"a": a, "c": b})
    with pytest.raises(errors.ExportError, match="2 inputs.*list of 2 arrays"):
        samples.representative(two_io_model, [a, b, b])
    with pytest.raises(errors.ExportError, match="different sample counts"):
        samples.representative(two_io_model, [a, b[:10]])


@pytest.fixture(scope="module")
def int8_rec(tmp_path_factory, two_io_model, two_io_data):
    a, b = two_io_data
    out = tmp_path_factory.mktemp("multi") / "q.tflite"
    return export.tflite(two_io_model, out, quantize="int8", representative_data={"b": b, "a": a})


@pytest.mark.slow
def test_int8_export_is_verified_per_output(int8_rec):
    per = int8_rec.verification["outputs"]
    assert sorted(per) == ["o1", "o2"]
    assert all(v["max_rel_error"] < 0.05 for v in per.values())
    assert int8_rec.verification["max_rel_error"] == max(v["max_rel_error"] for v in per.values())


@pytest.mark.slow
def test_file_inputs_are_matched_by_name_not_order(int8_rec):
    summary = _inspect.summarize(open(int8_rec.path, "rb").read())
    assert sorted(t.name for t in summary.inputs) == ["a", "b"]
    assert [t.name for t in summary.outputs] == ["o1", "o2"]


@pytest.mark.slow
def test_micro_and_verify_of_a_two_input_two_output_model(tmp_path, two_io_model, two_io_data,
                                                           int8_rec):
    with pytest.MonkeyPatch.context() as mp:  # force the TFLM-vs-LiteRT warning
        mp.setattr(micro_file, "TFLM_STEP_TOLERANCE", -1)
        with pytest.warns(UserWarning, match=r"up to \d+ int8 steps.*bound of -1 steps"):
            rec = export.micro(two_io_model, tmp_path / "mcu", representative_data=two_io_data)
    assert sorted(rec.tflm_vs_litert["outputs"]) == ["o1", "o2"]
    assert rec.tflm_vs_litert["max_step_diff"] <= 1 and rec.vs_keras["top1_agreement"] == 1.0
    v = export.verify(two_io_model, int8_rec.path, rec.files["tflite"], data=two_io_data)
    rows = [(r["name"], r["runtime"], r["output"]) for r in v.rows]
    assert rows == [("two_io", "Keras", "o1"), ("two_io", "Keras", "o2"),
                    ("q.tflite", "LiteRT", "o1"), ("q.tflite", "LiteRT", "o2"),
                    ("model.tflite", "LiteRT", "o1"), ("model.tflite", "LiteRT", "o2"),
                    ("model.tflite", "TFLM", "o1"), ("model.tflite", "TFLM", "o2")]
    assert all(r["max_rel_error"] < 0.05 for r in v.rows)
    assert "| output |" in str(v)


def test_tflm_step_warning_names_both_numbers():
    with pytest.warns(UserWarning, match=r"up to 31 int8 steps.*bound of 4 steps"):
        micro_file._warn_steps({"max_step_diff": 31})
