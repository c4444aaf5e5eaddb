"""The demo: the demo CNN on MNIST-5k pruned both ways, exported and compared.

* ``weights``: unstructured pruning to ``sparsity`` (90%) during fine-tuning: the
  compressed/sparse file shrinks, MACs and latency do not.
* ``channels``: ``channels`` (50%) of every prunable dependency group removed
  (``tfprune.structured.plan`` + ``apply_masks`` + ``shrink``), then the smaller model
  is fine-tuned: fewer params and MACs, faster LiteRT, smaller TFLM flash and arena.

Each variant (and the dense model) is exported as float32 and int8 .tflite and as a
microcontroller build, and measured; the run folder is written atomically
(:class:`tfprune.app.reports.RunFolder`).
"""

from __future__ import annotations

import dataclasses
import time

from tfprune import errors
from tfprune.app import pipeline, reports
from tfprune.app.builtin import demo_cnn, mnist5k
from tfprune.compat import keras
from tfprune.masking import api

__all__ = ["run_demo", "DemoOptions", "DemoConfig", "check_out_dir"]


class DemoConfig:
    """Training budget of the demo: defaults (full or quick) overridden by a recipe dict."""

    def __init__(self, quick: bool, recipe: dict | None = None):
        self.dense_epochs = 3 if quick else 6
        self.finetune_epochs = 2 if quick else 3
        self.train_samples = 4000
        self.batch_size = 64
        self.learning_rate = 1e-3
        self.frequency = 25
        self.ramp_fraction = 0.75
        self.latency_runs = 20 if quick else 100
        for key, value in (recipe or {}).items():
            if key not in ("sparsity", "channels", "seed", "scope"):
                setattr(self, key, value)


def check_out_dir(out: str) -> str:
    """Return ``out`` as an absolute path a run folder may be written to (see
    :func:`tfprune.app.reports.check_out`).

    Example:
        >>> import tempfile, os; d = tempfile.mkdtemp()
        >>> check_out_dir(d) == os.path.abspath(d)
        True
    """
    return reports.check_out(out)


def _job(cfg, seed, export_micro=True):
    (xtr, ytr), (xte, yte) = mnist5k(seed)
    return pipeline.Job(
        recipe={}, model=demo_cnn(seed=seed),
        train_data=(xtr[: cfg.train_samples], ytr[: cfg.train_samples]), test_data=(xte, yte),
        train={"epochs": cfg.dense_epochs, "batch_size": cfg.batch_size,
               "learning_rate": cfg.learning_rate, "loss": "sparse_categorical_crossentropy"},
        prune={}, export={"tflite": ["float", "int8"], "micro": export_micro,
                          "latency_runs": cfg.latency_runs}, seed=seed)


def _specs(cfg, sparsity, channels, scope):
    common = {"epochs": cfg.finetune_epochs, "frequency": cfg.frequency,
              "ramp_fraction": cfg.ramp_fraction, "learning_rate": cfg.learning_rate,
              "round_to": 1, "min_channels": 1}
    return {"weights": {**common, "granularity": "weight", "sparsity": sparsity,
                        "schedule": "agp",
                        "scope": scope},
            "channels": {**common, "granularity": "channel", "sparsity": channels,
                         "schedule": "agp",
                         "scope": "layer", "criterion": "l2"}}


def _check(sparsity, channels, scope):
    if scope not in api.SCOPES:
        raise errors.unknown_name("--scope", scope, api.SCOPES)
    for arg, v in (("--sparsity", sparsity), ("--channels", channels)):
        errors.check_sparsity(v, arg)
        if not v > 0:
            raise errors.ConfigError(f"{arg} must be > 0 for the demo (e.g. 0.9 / 0.5).")


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """The options of ``tfprune demo`` (its flags but ``--out`` and ``--config``).

    Attributes:
        sparsity: weight sparsity of the ``weights`` variant, in (0, 1).
        channels: fraction of channels removed in the ``channels`` variant, in (0, 1).
        quick: a short budget (about a minute) instead of the full one.
        quiet: no progress bars.
        seed: data split and initialisation seed.
        scope: ``"global"`` or ``"layer"`` ranking for the ``weights`` variant.

    Example:
        >>> DemoOptions(quick=True).sparsity
        0.9
    """

    sparsity: float = 0.9
    channels: float = 0.5
    quick: bool = False
    quiet: bool = False
    seed: int = 0
    scope: str = "global"


def run_demo(out: str = "demo_out", options: DemoOptions | None = None, *,
             recipe: dict | None = None, say=print) -> dict:
    """Train, prune both ways, export, measure and write the report folder.

    Args:
        out: run folder (replaced atomically when the run completes).
        options: :class:`DemoOptions` (default: ``DemoOptions()``).
        recipe: validated demo recipe (:func:`tfprune.app.recipes.load_demo_recipe`); its
            ``sparsity``/``channels``/``seed``/``scope`` override ``options``.
        say: where stage lines go.

    Returns:
        The report dict (``variants``: dense, weights, channels), also in ``out/report.json``.

    Example:
        >>> run_demo("/dev/null/x", DemoOptions(quick=True))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: --out '/dev/null/x': cannot create the folder '/dev/null' ...
    """
    recipe = dict(recipe or {})
    o = dataclasses.replace(options or DemoOptions(), **{
        k: recipe[k] for k in ("sparsity", "channels", "seed", "scope") if k in recipe})
    sparsity, channels, seed, scope, quick, quiet = (o.sparsity, o.channels, o.seed, o.scope,
                                                     o.quick, o.quiet)
    _check(sparsity, channels, scope)
    folder = reports.RunFolder(out)
    start = time.time()
    cfg = DemoConfig(quick, recipe)
    keras.utils.set_random_seed(seed)
    job = _job(cfg, seed)
    with folder as stage:
        say(f"[1/3] dense training: {cfg.dense_epochs} epochs on {len(job.train_data[0])} digits")
        hist = {"dense": pipeline.train(job, quiet=quiet)}
        variants = {"dense": pipeline.measure(job.model, job, stage, "dense", say=say)}
        for i, (name, spec) in enumerate(_specs(cfg, sparsity, channels, scope).items(), 2):
            say(f"[{i}/3] {name}: {spec['granularity']} at {spec['sparsity']:.0%}, "
                f"{spec['epochs']} fine-tune epochs")
            model, hist[name], info = pipeline.prune_variant(job.model, spec, job, quiet=quiet)
            variants[name] = pipeline.measure(model, job, stage, name, say=say)
            variants[name]["pruning"] = info
        report = {"title": "tfprune demo: weights (size) vs channels (speed)",
                  "description": _description(cfg, sparsity, channels, scope, quick),
                  "config": {"sparsity": sparsity, "channels": channels, "scope": scope,
                             "quick": quick, "seed": seed, **vars(cfg)},
                  "variants": variants, "history": hist, "seconds": None}
        report["seconds"] = round(time.time() - start, 1)
        pipeline.finish(report, stage)
    return report


def _description(cfg, sparsity, channels, scope, quick):
    return (f"Demo CNN (Conv32-Pool-Conv64-Pool-Dense128-Dense10) on MNIST-5k "
            f"({cfg.train_samples} training, 1,000 test digits), {cfg.dense_epochs} dense "
            f"epochs. weights: {sparsity:.0%} of the weights zeroed ({scope} magnitude ranking, "
            f"AGP over {cfg.finetune_epochs} fine-tune epochs). channels: {channels:.0%} of the "
            f"channels of every layer removed (L2 filter norm), shrunk, fine-tuned "
            f"{cfg.finetune_epochs} epochs. {'Quick' if quick else 'Full'} budget.")
