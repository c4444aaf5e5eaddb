"""Recipes: ``prune.schedule: one_shot`` at weight granularity cuts once with
``tfprune.one_shot`` on calibration samples (data criteria such as sparsegpt reconstruct from
them) and fine-tunes with the masks held; ``compensate`` re-estimates BatchNormalization."""

import numpy as np
import pytest

from tfprune import errors, masking
from tfprune.app import pipeline, training
from tfprune.app.recipes import load_recipe_text


def _recipe(d, prune):
    return load_recipe_text(
        f"model: {d / 'reg.keras'}\ntask: regression\ndata: {{source: {d / 'reg.npz'}}}\n"
        "train: {epochs: 1, batch_size: 32}\n"
        f"prune: {prune}\n"
        "export: {tflite: [float], latency_runs: 0}\nreport: {plots: false}\n")


def _pruned(reg, prune, monkeypatch):
    calls = []
    real = masking.one_shot

    def spy(model, sparsity=None, **kw):
        calls.append((sparsity, kw))
        return real(model, sparsity, **kw)

    monkeypatch.setattr(masking, "one_shot", spy)
    job = pipeline.prepare(_recipe(reg, prune))
    pipeline.train(job, quiet=True)
    plain, hist, info = pipeline.prune_variant(job.model, job.prune, job, quiet=True)
    return job, plain, hist, info, calls


@pytest.mark.slow
def test_one_shot_weight_schedule_cuts_once_with_the_criterion_and_its_data(reg, monkeypatch):
    job, plain, hist, info, calls = _pruned(
        reg, "{granularity: weight, schedule: one_shot, criterion: sparsegpt, sparsity: 0.6, "
             "epochs: 0}", monkeypatch)
    (sparsity, kw), = calls  # one cut, by one_shot, not an AGP schedule during fit
    assert sparsity == 0.6 and kw["criterion"] == "sparsegpt" and kw["compensate"] is False
    x, y = kw["data"]
    assert len(x) == len(y) == min(len(job.train_data[0]), training.CALIBRATION_SAMPLES)
    assert info == {"schedule": "one_shot", "calibration_samples": len(x)} and hist == {}
    kernels = [w.numpy() for layer in plain.layers for w in [layer.kernel]]
    assert 0.55 <= float(np.mean(np.concatenate([k.ravel() for k in kernels]) == 0)) <= 0.65


@pytest.mark.slow
def test_one_shot_then_fine_tuning_keeps_the_zeros(reg, monkeypatch):
    _, plain, hist, _, calls = _pruned(
        reg, "{granularity: weight, schedule: one_shot, sparsity: 0.5, epochs: 1, "
             "compensate: true}", monkeypatch)
    assert calls[0][1]["compensate"] is True and "loss" in hist
    for layer in plain.layers:
        assert float(np.mean(layer.kernel.numpy() == 0)) == pytest.approx(0.5, abs=0.07)


@pytest.mark.parametrize("prune", [
    "{granularity: weight, schedule: agp, compensate: true}",
    "{granularity: channel, schedule: one_shot, compensate: true}"])
def test_compensate_outside_a_one_shot_weight_cut_is_refused_before_training(reg, prune):
    with pytest.raises(errors.ConfigError, match="prune.compensate.*schedule: one_shot"):
        pipeline.prepare(_recipe(reg, prune))
