"""masking/floor.py: a global weight ranking never leaves an output unit with no weight."""

import numpy as np

import tfprune
from tfprune.compat import keras
from tfprune.masking import floor, pruner

L = keras.layers


def _model(cls_scale=1e-4):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((8,)), L.Dense(32, name="big"), L.Dense(4, name="cls")])
    m.get_layer("cls").set_weights([np.full((32, 4), cls_scale, "float32"), np.zeros(4)])
    return m


def _wrapper(p, name):
    return next(w for w in pruner.tfprune_wrappers(p) if w.layer.name == name)


def test_an_emptied_class_keeps_a_uniform_cuts_share_of_its_best_weights():
    w = _wrapper(tfprune.prune(_model(), sparsity=0.75, scope="global"), "cls")
    scores = np.random.default_rng(0).random((32, 4)).astype("float32")
    unit = np.ones((32, 4), "float32")
    unit[:, 1] = 0.0  # class 1 emptied by the ranking
    out = floor.floor_empty_outputs(w, 0, scores, unit, 0.75).numpy()
    assert out[:, [0, 2, 3]].all()  # the other classes are untouched
    kept = np.flatnonzero(out[:, 1])
    assert len(kept) == 8  # ceil((1 - 0.75) * 32)
    assert set(kept) == set(np.argsort(-scores[:, 1])[:8])  # its best-scored weights


def test_hidden_layers_and_untouched_rankings_are_left_alone():
    p = tfprune.prune(_model(), sparsity=0.75, scope="global")
    unit = np.zeros((8, 32), "float32")  # a hidden layer emptied: structured, not a collapse
    scores = np.ones((8, 32), "float32")
    assert floor.floor_empty_outputs(_wrapper(p, "big"), 0, scores, unit, 0.75) is unit
    full = np.ones((32, 4), "float32")
    assert floor.floor_empty_outputs(_wrapper(p, "cls"), 0, np.ones((32, 4)), full, 0.75) is full


def test_one_shot_global_keeps_every_class_alive():
    p = tfprune.one_shot(_model(), 0.9, scope="global")
    kernel = p.get_layer("cls").layer.kernel.numpy()
    # the ranking kept one (tiny) class weight, every tensor keeping one unit; the three
    # classes it emptied get ceil(0.1 * 32) = 4 back each
    assert sorted((kernel != 0).sum(axis=0).tolist()) == [1, 4, 4, 4]
