"""tfprune/compat/_configs.py: the one config walk (keep accepted keys, drop "off" keys,
refuse the rest by name), init_args over the MRO, and nested-model node shifts."""

import pytest

from tfprune.compat._configs import filter_config, init_args, shift_nodes


class _Base:
    def __init__(self, name=None, trainable=True):
        pass


class _Passes(_Base):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)


class _Stops(_Base):
    def __init__(self, units, activation=None):
        super().__init__()


def test_init_args_follow_kwargs_up_the_mro_and_stop_where_they_end():
    assert init_args(_Passes) == {"units", "name", "trainable"}
    assert init_args(_Stops) == {"units", "activation"}  # no **kwargs: the parent is not reached


def test_init_args_until_takes_every_init_up_to_that_base():
    assert init_args(_Stops, until=_Base) == {"units", "activation", "name", "trainable"}
    assert init_args(_Passes, until=_Passes) == {"units"}


def _refuse(key, value):
    return ValueError(f"key {key!r}={value!r} has no counterpart")


def test_filter_config_keeps_accepted_drops_off_values_and_leaves_input_alone():
    config = {"units": 2, "lora_rank": None, "quantization_config": None, "gain": 3}
    out = filter_config(config, accepted={"units", "gain"},
                        droppable={"lora_rank": (None,), "quantization_config": None},
                        refuse=_refuse, convert=lambda k, v: v * 10 if k == "gain" else v)
    assert out == {"units": 2, "gain": 30}
    assert config == {"units": 2, "lora_rank": None, "quantization_config": None, "gain": 3}


def test_filter_config_refuses_a_droppable_key_that_is_on_naming_it():
    with pytest.raises(ValueError, match=r"key 'lora_rank'=4 has no counterpart"):
        filter_config({"units": 2, "lora_rank": 4}, accepted={"units"},
                      droppable={"lora_rank": (None,)}, refuse=_refuse)


def test_filter_config_refuses_an_unknown_key():
    with pytest.raises(ValueError, match="'dtype_policy'"):
        filter_config({"dtype_policy": "mixed"}, accepted=set(), droppable={}, refuse=_refuse)


def test_shift_nodes_moves_only_references_to_the_named_models():
    config = {"layers": [{"inbound_nodes": [[["inner", 0, 0, {}], ["dense", 0, 0, {}]]]},
                         {"inbound_nodes": [["inner", 1, 0]]}],
              "output_layers": [["inner", 2, 1]], "name": "inner"}
    out = shift_nodes(config, {"inner"}, 1)
    assert out["layers"][0]["inbound_nodes"] == [[["inner", 1, 0, {}], ["dense", 0, 0, {}]]]
    assert out["layers"][1]["inbound_nodes"] == [["inner", 2, 0]]
    assert out["output_layers"] == [["inner", 3, 1]] and out["name"] == "inner"
    assert shift_nodes(out, {"inner"}, -1) == config


def test_shift_nodes_leaves_lists_that_are_not_references():
    assert shift_nodes([["inner", "x", 0], ["inner", 0]], {"inner"}, 1) == [["inner", "x", 0],
                                                                            ["inner", 0]]
