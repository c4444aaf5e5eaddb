"""Every criterion: config round trip, score shape, errors, save/load.

What one criterion's scores mean is tested in its module's file (test_gradient.py,
test_activation.py, test_channel.py, test_obs.py, ...). The after-fit and save/load checks
of the data criteria are here, the others' in test_criteria_fit.py (one fit per criterion:
half the fits per file).
"""

import pytest
import tensorflow as tf

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import criteria

from ._fitted import DATA_FIT, FIT, LOSS, SAVED, assert_save_and_load, assert_scores_after_fit
from ._fitted import cnn as _cnn
from ._fitted import data as _data

L = keras.layers


@pytest.mark.parametrize("name", criteria.available())
def test_criterion_config_round_trips(name):
    crit = criteria.get(name)
    again = type(crit).from_config(crit.get_config())
    assert again.get_config() == crit.get_config()
    assert criteria.get(criteria.serialize(crit)) == crit


def test_unknown_criterion_name_is_refused_with_suggestion():
    with pytest.raises(errors.ConfigError, match="Did you mean 'taylor'"):
        tfprune.prune(_cnn(), sparsity=0.5, criterion="taylr")


def test_custom_criterion_with_wrong_shape_names_both_shapes():
    class Bad(criteria.Criterion):
        name = "bad"

        def score(self, weight, stats):
            return tf.ones([3])

    with pytest.raises(errors.ConfigError, match=r"bad.*shape \[3\].*expected \[3, 3, 2, 4\]"):
        tfprune.one_shot(_cnn(), 0.5, criterion=Bad())


@pytest.mark.parametrize("name", ["apoz", "fpgm", "bn_scale", "hrank"])
def test_channel_only_criterion_at_weight_granularity_names_what_it_supports(name):
    with pytest.raises(errors.ConfigError, match=rf"{name!r}.*supports granularity in \['channel'\]"):
        tfprune.prune(_cnn(), sparsity=0.5, criterion=name, granularity="weight")
    with pytest.raises(errors.ConfigError, match="'obs'.*supports granularity"):
        tfprune.prune(_cnn(), sparsity=0.5, criterion="obs", granularity="channel")


def test_data_criterion_without_data_is_refused_before_work():
    with pytest.raises(errors.ConfigError, match="pass data="):
        tfprune.one_shot(_cnn(), 0.5, criterion="taylor")
    with pytest.raises(errors.ConfigError, match="loss="):
        tfprune.one_shot(_cnn(), 0.5, criterion="taylor", data=_data())


def test_gradient_criterion_without_labels_is_refused():
    with pytest.raises(errors.ConfigError, match=r"data=\(x, y\)"):
        tfprune.one_shot(_cnn(), 0.5, criterion="snip", data=tfprune.Calibration(_data()[0], loss=LOSS))


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in FIT if n in DATA_FIT])
def test_criterion_scores_have_documented_shape_after_fit(name):
    assert_scores_after_fit(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in SAVED if n in DATA_FIT])
def test_criterion_survives_keras_save_and_load_mid_pruning(name, tmp_path):
    assert_save_and_load(name, str(tmp_path / "m.keras"))
