"""tfprune/compat/_files.py: model files read as data (never deserialised) before loading:
no model file at all is refused naming the file, code-carrying files naming the layer and the
safe_mode=False / --unsafe way out; refuse_code leaves other problems to the loader."""

import json
import zipfile

import h5py
import pytest

from tfprune import errors
from tfprune.compat._files import _code_in_config, check_model_file, refuse_code

_LAMBDA_H5 = {"class_name": "Sequential", "config": {"name": "m", "layers": [
    {"class_name": "Dense", "config": {"name": "d"}},
    {"class_name": "Lambda", "config": {"name": "f", "function_type": "lambda",
                                        "output_shape_type": "lambda"}}]}}
_LAMBDA_KERAS3 = {"class_name": "Functional", "config": {"name": "m", "layers": [
    {"class_name": "Lambda", "name": "g", "config": {
        "name": "g", "function": {"class_name": "__lambda__", "config": {"code": "..."}}}}]}}
_REGISTERED = {"class_name": "Lambda", "config": {"name": "ok", "function_type": "function",
                                                  "function": "my_package>twice"}}


def _keras_file(path, config):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(config))
    return path


def _h5_file(path, config=None):
    with h5py.File(path, "w") as f:
        if config is not None:
            f.attrs["model_config"] = json.dumps(config)
        f.create_dataset("w", data=[1.0])
    return path


def test_code_in_config_names_each_lambda_with_its_layer():
    assert _code_in_config(_LAMBDA_H5) == [("f", "Lambda", "a Python lambda"),
                                           ("f", "Lambda", "a Python lambda as output_shape")]
    assert _code_in_config(_LAMBDA_KERAS3) == [("g", "Lambda", "a Python lambda")]
    assert _code_in_config(_REGISTERED) == []  # a registered function carries no code


def test_a_code_carrying_keras_file_is_refused_naming_the_layer_and_the_way_out(tmp_path):
    path = _keras_file(tmp_path / "m.keras", _LAMBDA_KERAS3)
    with pytest.raises(errors.ConfigError, match=r"layer 'g' \(Lambda: a Python lambda\)"
                       r".*safe_mode=False.*--unsafe"):
        check_model_file(path)
    check_model_file(path, safe_mode=False)  # the author is trusted: no check


def test_a_code_carrying_h5_file_is_refused_by_both_checks(tmp_path):
    path = _h5_file(tmp_path / "m.h5", _LAMBDA_H5)
    with pytest.raises(errors.ConfigError, match="carries Python code"):
        check_model_file(path)
    with pytest.raises(errors.ConfigError, match="'f'"):
        refuse_code(path)


def test_clean_files_pass(tmp_path):
    check_model_file(_keras_file(tmp_path / "ok.keras", _REGISTERED))
    check_model_file(_h5_file(tmp_path / "ok.h5", {"class_name": "Sequential", "config": {}}))
    refuse_code(tmp_path / "ok.keras")


def test_a_weights_only_h5_file_is_refused_naming_load_weights(tmp_path):
    with pytest.raises(errors.ConfigError, match=r"weights-only.*model\.load_weights\(path\)"):
        check_model_file(_h5_file(tmp_path / "w.h5"))


@pytest.mark.parametrize("content, what", [(b"", "empty"), (b"not a model", "starts with")])
def test_garbage_is_refused_naming_the_file(tmp_path, content, what):
    path = tmp_path / "junk.keras"
    path.write_bytes(content)
    with pytest.raises(errors.ConfigError, match=rf"'.*junk\.keras'.*not a model file \({what}"):
        check_model_file(path)
    refuse_code(path)  # not a model: left to the loader


def test_broken_archives_and_json_are_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "no_config.keras", "w") as z:
        z.writestr("model.weights.h5", b"")
    with pytest.raises(errors.ConfigError, match="without config.json"):
        check_model_file(tmp_path / "no_config.keras")
    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as z:
        z.writestr("config.json", "{not json")
    with pytest.raises(errors.ConfigError, match="config.json is not valid JSON"):
        check_model_file(tmp_path / "bad.keras")


def test_missing_paths_folders_and_nul_bytes_are_refused(tmp_path):
    with pytest.raises(errors.ConfigError, match="does not exist"):
        check_model_file(tmp_path / "missing.keras")
    with pytest.raises(errors.ConfigError, match="without saved_model.pb, not a SavedModel"):
        check_model_file(tmp_path)
    with pytest.raises(errors.ConfigError, match="NUL byte"):
        check_model_file("a\0b.keras")
    refuse_code(tmp_path / "missing.keras")
    refuse_code("a\0b.keras")
