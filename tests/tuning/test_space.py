import keras_tuner as kt
import pytest

from tfprune import errors
from tfprune.tuning import space


def test_dict_space_lists_become_choices_and_scalars_fixed():
    hp = kt.HyperParameters()
    fn = space.from_dict({"sparsity": [0.5, 0.8], "epochs": 2})
    fn(hp)
    kinds = {p.name: type(p).__name__ for p in hp.space}
    assert kinds == {"sparsity": "Choice", "epochs": "Fixed"}


def test_settings_fill_defaults():
    s = space.settings_from(space.from_dict({"sparsity": 0.6}), kt.HyperParameters())
    assert s == {**space.DEFAULTS, "sparsity": 0.6}


def test_every_choice_is_checked_before_any_trial():
    hp = kt.HyperParameters()
    fn = space.from_dict({"sparsity": [0.5, 1.2]})
    fn(hp)
    with pytest.raises(errors.ConfigError, match=r"sparsity=1\.2"):
        space.check_space(fn, hp)


def test_unknown_granularity_names_the_closest():
    hp = kt.HyperParameters()
    fn = space.from_dict({"sparsity": 0.5, "granularity": ["weight", "chanel"]})
    fn(hp)
    with pytest.raises(errors.ConfigError, match="Did you mean 'channel'"):
        space.check_space(fn, hp)


def test_range_ends_are_checked():
    def fn(hp):
        hp.Float("sparsity", 0.5, 1.0)

    hp = kt.HyperParameters()
    fn(hp)
    with pytest.raises(errors.ConfigError, match=r"sparsity=1\.0"):
        space.check_space(fn, hp)


def test_empty_space_refused():
    with pytest.raises(errors.ConfigError, match="empty"):
        space.check_space(lambda hp: None, kt.HyperParameters())


def test_unknown_setting_refused():
    with pytest.raises(errors.ConfigError, match="Unknown setting 'sparsty'"):
        space.from_dict({"sparsty": [0.5]})


def test_sparsity_and_mac_fraction_are_exclusive():
    with pytest.raises(errors.ConfigError, match="exactly one of 'sparsity'"):
        space.check_settings({"sparsity": 0.5, "mac_fraction": 0.5})
    with pytest.raises(errors.ConfigError, match="exactly one of 'sparsity'"):
        space.check_settings({"criterion": "magnitude"})


def test_criterion_must_support_the_granularity():
    with pytest.raises(errors.ConfigError, match="'obs' does not work at granularity 'channel'"):
        space.check_settings({"sparsity": 0.5, "granularity": "channel", "criterion": "obs"})
    s = space.check_settings({"sparsity": 0.5, "granularity": "channel", "schedule": "agp",
                              "criterion": "taylor"})
    assert s["criterion"] == "taylor"


def test_default_space_is_valid_at_every_probe():
    hp = kt.HyperParameters()
    space.default_space(hp)
    space.check_space(space.default_space, hp)  # no error
    names = {p.name for p in hp.space}
    assert {"sparsity", "granularity", "scope", "schedule", "epochs", "learning_rate"} <= names


def test_hp_function_returning_a_dict():
    def fn(hp):
        level = hp.Int("level", 1, 3)
        return {"sparsity": 0.3 * level - 0.25}

    hp = kt.HyperParameters()
    fn(hp)
    space.check_space(fn, hp)
    hp.values["level"] = 3
    assert space.settings_from(fn, hp)["sparsity"] == pytest.approx(0.65)


# -- distillation as a searched setting (issue 25 item 2) ---------------------------------
def test_distill_choices_stay_booleans_and_fill_distill_defaults():
    hp = kt.HyperParameters()
    fn = space.from_dict({"sparsity": 0.5, "distill": [False, True], "alpha": [0.5, 0.9]})
    fn(hp)
    space.check_space(fn, hp)
    assert {type(p).__name__ for p in hp.space if p.name == "distill"} == {"Boolean"}
    off = space.settings_from(fn, hp.copy())
    assert (off["distill"], off["temperature"], off["alpha"]) == (False, None, None)
    hp.values["distill"] = True
    on = space.settings_from(fn, hp.copy())
    assert (on["distill"], on["temperature"], on["alpha"]) == (True, 4.0, 0.5)
    assert space.check_settings({"sparsity": 0.5, "distill": 1})["distill"] is True


@pytest.mark.parametrize("bad, key", [
    ({"distill": ["yes"]}, "'distill'"),
    ({"distill": True, "temperature": [2.0, 0.0]}, "'temperature'"),
    ({"distill": True, "alpha": [0.5, 1.5]}, "'alpha'"),
    ({"distill": True, "temperature": "hot"}, "'temperature'"),
    ({"distill": [False, True], "epochs": 0}, "distill=True.*epochs >= 1"),
])
def test_bad_distill_values_are_refused_naming_the_key(bad, key):
    hp = kt.HyperParameters()
    fn = space.from_dict({"sparsity": 0.5, **bad})
    fn(hp)
    with pytest.raises(errors.ConfigError, match=key):
        space.check_space(fn, hp)


def test_grid_size_counts_choices_and_stepped_ranges():
    hp = kt.HyperParameters()
    hp.Choice("granularity", ["weight", "channel"])
    hp.Boolean("distill")
    hp.Int("epochs", 1, 3)
    assert space.grid_size(hp) == 12
    hp.Float("sparsity", 0.5, 0.9)
    assert space.grid_size(hp) is None
