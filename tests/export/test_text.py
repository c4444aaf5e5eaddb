"""Token-id (int32) inputs: Embedding-first models export, verify and run in TFLM."""

import warnings

import numpy as np
import pytest

from tfprune import errors, export
from tfprune.export import _inspect, samples


def test_input_spec_finds_the_embedding_vocabulary(text_model):
    (spec,) = samples.input_specs(text_model)
    assert (spec.name, spec.vocab, spec.embedding, spec.dtype.name) == ("ids", 50, "emb", "int32")


def test_sample_inputs_are_valid_ids(text_model):
    (x,) = samples.sample_inputs(text_model, None, n=200)
    assert x.dtype == np.int32 and x.min() >= 0 and x.max() <= 49 and x.max() > 40


def test_ids_at_or_above_input_dim_are_refused_naming_the_embedding(tmp_path, text_model,
                                                                    no_conversion):
    bad = np.full((4, 6), 50, "int32")
    with pytest.raises(errors.ExportError, match=r"token id 50.*'emb'.*input_dim=50"):
        export.tflite(text_model, tmp_path / "t.tflite", quantize="int8",
                      representative_data=bad)
    with pytest.raises(errors.ExportError, match=r"token id -1.*'emb'"):
        export.micro(text_model, tmp_path / "o", representative_data=-np.ones((4, 6), "int32"))
    assert list(tmp_path.iterdir()) == []


def test_float_data_for_an_id_input_is_refused(tmp_path, text_model, no_conversion):
    with pytest.raises(errors.ExportError, match=r"token ids.*astype\('int32'\)"):
        export.micro(text_model, tmp_path / "o", representative_data=np.zeros((4, 6)))


@pytest.mark.slow
def test_text_model_exports_float_and_int8_with_integer_input(tmp_path, text_model, token_ids):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero, no tolerance warning
        f = export.tflite(text_model, tmp_path / "f.tflite")
        q = export.tflite(text_model, tmp_path / "q.tflite", quantize="int8",
                          representative_data=token_ids)
    assert f.verification["max_rel_error"] < 1e-5
    assert q.verification["top1_agreement"] >= 0.9 and q.verification["max_rel_error"] < 0.05
    summary = _inspect.summarize(open(q.path, "rb").read())
    assert summary.inputs[0].dtype == "int32" and not summary.inputs[0].quantized
    assert summary.inputs[0].vocab == 50 and "GATHER" in summary.ops


@pytest.fixture(scope="module")
def text_micro(tmp_path_factory, text_model, token_ids):
    return export.micro(text_model, tmp_path_factory.mktemp("text") / "mcu",
                        representative_data=token_ids)


@pytest.mark.slow
def test_text_model_runs_in_tflm_with_int32_ids(text_micro):
    assert text_micro.tflm_vs_litert["max_step_diff"] <= export.TFLM_STEP_TOLERANCE
    assert text_micro.vs_keras["top1_agreement"] >= 0.9
    assert {"GATHER", "FULLY_CONNECTED"} <= set(text_micro.ops)


@pytest.mark.slow
def test_micro_of_the_int8_text_file_needs_no_data(tmp_path, text_micro):
    rec = export.micro(text_micro.files["tflite"], tmp_path / "again")
    assert rec.flash_bytes == text_micro.flash_bytes and rec.vs_keras is None
    assert rec.tflm_vs_litert["samples"] == 32


@pytest.mark.slow
def test_verify_feeds_the_text_files_valid_ids(text_model, token_ids, text_micro):
    v = export.verify(text_model, text_micro.files["tflite"], data=token_ids)
    assert [r["runtime"] for r in v.rows] == ["Keras", "LiteRT", "TFLM"]
    assert all(r["top1_agreement"] >= 0.9 for r in v.rows)
