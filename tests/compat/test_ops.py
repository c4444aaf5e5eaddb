"""compat/_ops.py: which bare Keras 3 ops a config holds, and the implicit Embedding masks."""

import pytest

from tfprune import errors
from tfprune.compat import _ops


def _t(name):
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}


def _config(ne_args, mask_user_kwargs):
    return {"layers": [
        {"class_name": "InputLayer", "name": "in", "config": {"name": "in"}, "inbound_nodes": []},
        {"class_name": "Embedding", "name": "emb", "config": {"name": "emb"},
         "inbound_nodes": [{"args": [_t("in")], "kwargs": {}}]},
        {"class_name": "NotEqual", "name": "ne", "config": {"name": "ne"},
         "inbound_nodes": [{"args": ne_args, "kwargs": {}}]},
        {"class_name": "LSTM", "name": "lstm", "config": {"name": "lstm"},
         "inbound_nodes": [{"args": [_t("emb")], "kwargs": mask_user_kwargs}]}]}


def test_the_mask_of_an_embedding_is_found_and_dropped_from_its_user():
    cfg = _config([_t("in"), 0], {"training": False, "mask": _t("ne")})
    masks = _ops.implicit_masks(cfg, "m")
    assert masks == {"ne"}
    node = _ops.drop_masks(cfg["layers"][3]["inbound_nodes"][0], masks)
    assert node["kwargs"] == {"training": False}
    assert cfg["layers"][3]["inbound_nodes"][0]["kwargs"]["mask"]  # the config is not changed


@pytest.mark.parametrize("args,kwargs", [
    ([_t("in"), 1], {"mask": _t("ne")}),  # x != 1 is not what tf_keras derives
    ([_t("in"), 0], {"other": _t("ne")}),  # used as something else than a mask
])
def test_any_other_not_equal_is_refused_naming_the_op(args, kwargs):
    with pytest.raises(errors.UnsupportedLayerError, match="'ne'.*mask_zero"):
        _ops.implicit_masks(_config(args, kwargs), "m")


def test_refs_finds_tensors_in_nested_arguments():
    assert _ops.refs({"args": [[_t("a"), {"k": _t("b")}]], "kwargs": {}}) == {"a", "b"}
