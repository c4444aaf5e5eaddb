"""``PruningTuner``: keras-tuner sweeps over pruning settings, on keras-tuner's own engine.

keras-tuner's ``Tuner`` refuses tf_keras models (keras-tuner #1039), so this is a
``BaseTuner``: keras-tuner's oracles choose the settings, keep the state that makes a
killed sweep resume, and serve distributed workers over gRPC; each trial runs the
tfprune path (:mod:`tfprune.tuning.trial`), reports every measure
(:mod:`tfprune.tuning.measure`) and saves the plain pruned model.
"""

from __future__ import annotations

import glob
import os

import tensorflow as tf
from keras_tuner.src.engine import base_tuner
from keras_tuner.src.engine import trial as trial_module

from tfprune import data as data_lib
from tfprune import errors, export
from tfprune import task as task_lib
from tfprune.compat import keras
from tfprune.tuning import hparams as hparams_lib
from tfprune.tuning import measure as measure_lib
from tfprune.tuning import pareto as pareto_lib
from tfprune.tuning import progress as progress_lib
from tfprune.tuning import space as space_lib
from tfprune.tuning import sweep
from tfprune.tuning import trial as trial_lib

__all__ = ["PruningTuner"]

class PruningTuner(base_tuner.BaseTuner):
    """Search pruning settings of a trained tf_keras model; keep every trial's measures.

    Each trial prunes a copy of ``model`` with one point of ``space`` (sparsity or
    ``mac_fraction``, criterion, granularity ``"weight"``/``"channel"``, scope, schedule
    ``"one_shot"``/``"agp"``, fine-tune epochs, learning rate, ``distill`` with its
    ``temperature``/``alpha``), fine-tunes it with :class:`tfprune.PruningCallback` (with
    ``distill=True``, as :func:`tfprune.distill`'s student of the dense model: soft targets
    when every output is class scores, output matching otherwise), strips it (and shrinks
    it for channels), then measures it (:mod:`tfprune.tuning.measure`). The objective is
    any measure, a ``keras_tuner.Objective`` or a list of them; :meth:`pareto` gives the
    trade-offs, :meth:`trials` every trial with its status.

    Args:
        model: a trained Sequential/Functional tf_keras model, or a function returning one.
            It is never modified.
        space: ``None`` (:func:`tfprune.tuning.space.default_space`), a dict
            ``{setting: value or [choices]}`` or a keras-tuner function ``hp -> dict|None``.
        oracle: ``"random"``, ``"bayesian"``, ``"hyperband"``, ``"grid"`` or a keras-tuner
            ``Oracle`` instance (its objective is then used).
        objective: a measure name, ``keras_tuner.Objective`` or a list of them; default
            the first metric's ``val_<metric>`` (``val_loss`` without metrics).
        max_trials: trials to run (not used by Hyperband, which budgets epochs).
        directory, project_name: the sweep lives in ``directory/project_name``; the same
            directory resumes the sweep; a different sweep there is refused.
        options: :class:`tfprune.tuning.SweepOptions` (training, measures, ``overwrite``).
        **deprecated: ``overwrite=`` (tfprune 0.2, until 0.4, with a DeprecationWarning):
            use ``options=SweepOptions(overwrite=...)``. Any other keyword is refused.

    Raises:
        ConfigError, KerasVersionError, ModelTypeError: before any trial.

    Example:
        >>> import tempfile, tfprune
        >>> from tfprune.app.data import digits
        >>> (x, y), val = digits()
        >>> m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
        ...                       keras.layers.Dense(16, activation="relu"),
        ...                       keras.layers.Dense(10, activation="softmax")])
        >>> t = PruningTuner(m, {"sparsity": [0.5, 0.8]}, max_trials=2,
        ...                  directory=tempfile.mkdtemp(),
        ...                  options=tfprune.tuning.SweepOptions(
        ...                      loss="sparse_categorical_crossentropy"))
        >>> t.search(x, y, validation_data=val, verbose=0)
        >>> len(t.results()), sorted(t.results()[0])[:3]
        (2, ['alpha', 'criterion', 'distill'])
        >>> [r["status"] for r in t.trials()].count("failed")
        0
    """

    def __init__(self, model, space=None, *, oracle="random", objective=None,
                 max_trials: int = 10, directory=".", project_name: str = "tfprune_sweep",
                 options: sweep.SweepOptions | None = None, **deprecated):
        options = sweep.checked_options(options, deprecated)
        self.options = options
        self.model = sweep.resolve_model(model)
        self.space_fn = sweep.space_function(space)
        probe = sweep.probe_space(self.space_fn)
        self.loss = options.loss if options.loss is not None else getattr(self.model, "loss", None)
        if self.loss is None:
            raise errors.ConfigError("Trials fine-tune the model: pass SweepOptions(loss=...) "
                                     "(e.g. 'sparse_categorical_crossentropy') or compile the model.")
        self.metrics, self.distill_task = _resolve_metrics(self.model, self.loss, options.metrics)
        self.loss_weights = options.loss_weights if options.loss_weights is not None else \
            getattr(getattr(self.model, "compiled_loss", None), "_user_loss_weights", None)
        self.optional = measure_lib.check_optional(options.measure)
        self.measure_names = measure_lib.names(self.metrics, self.optional)
        self.quality = measure_lib.quality(self.metrics)
        objective = self.quality if objective is None else objective
        if options.tensorboard:
            hparams_lib.require()
        oracle = sweep.make_oracle(oracle, objective, max_trials, options, self.measure_names)
        fingerprint = sweep.fingerprint(self.model, probe, oracle, self.loss, self.measure_names)
        worker = sweep.is_worker()
        if not worker:
            sweep.check_directory(os.path.join(str(directory), project_name), fingerprint,
                                  options.overwrite)
        self._calibration, self._measures = None, {}
        self._progress = progress_lib.TrialProgress(None, (), quiet=True)
        super().__init__(oracle, hypermodel=sweep.SpaceModel(self.space_fn),
                         directory=directory, project_name=project_name,
                         overwrite=options.overwrite and not worker)
        if not worker:
            space_lib.check_space(self.space_fn, self.oracle.get_space())
            sweep.write_json(os.path.join(self.project_dir, sweep.SWEEP_FILE), fingerprint)
            if options.tensorboard:
                hparams_lib.write_config(self.tensorboard_dir, self.oracle.get_space(),
                                         self.measure_names)

    # -- keras-tuner hooks ---------------------------------------------------------------
    def _populate_initial_space(self):
        super()._populate_initial_space()
        space_lib.check_space(self.space_fn, self.oracle.get_space())

    @property
    def tensorboard_dir(self) -> str:
        """Root of the TensorBoard logs (one run directory per trial)."""
        return os.path.join(self.project_dir, "tensorboard")

    def search(self, x, y=None, *, validation_data=None, batch_size=None, verbose=1):
        """Run trials until the oracle stops; raise if every trial failed.

        Args:
            x, y: fine-tuning data (arrays); the first 256 samples calibrate data-driven
                criteria and int8 export.
            validation_data: ``(x_val, y_val)``: every measure of quality is taken on it.
            batch_size: default ``options.batch_size``.
            verbose: 0: quiet; 1: one line per finished trial (``trial k/N``, its
                hyperparameters, its objective values or its error, its time; a bar names
                the running trial) and, at the end, :meth:`trials` as a table; 2: also
                keras-tuner's own display and one Keras log line per fine-tuning epoch.

        A trial that raises is recorded as failed (a row of :meth:`trials` with its error)
        and the sweep goes on; keras-tuner stops it after 3 failures in a row.

        Raises:
            ConfigError: missing or inconsistent data, before any trial.
            SweepError: every trial failed (the first trial's error is quoted), or 3 failed
                in a row.
        """
        self._check_data(x, y, validation_data)
        self._calibration = data_lib.head(x, trial_lib.CALIBRATION_SAMPLES)
        batch_size = batch_size or self.options.batch_size
        self._progress = progress_lib.TrialProgress(self._planned_trials(), self._objective_names(),
                                                    bar=verbose == 1, quiet=not verbose)
        try:
            super().search(x, y, validation_data=validation_data, batch_size=batch_size,
                           verbose=verbose if verbose >= 2 else 0)
        except RuntimeError as e:
            if "consecutive failures" in str(e):
                raise sweep.SweepError(f"The sweep stopped: {e}") from e
            raise
        finally:
            self._progress.close()
            if verbose and not sweep.is_worker():
                print(self._summary())
        self._check_failures()

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._progress.begin(trial.trial_id, self._shown_values(trial.hyperparameters))

    def on_trial_end(self, trial):
        ok = trial.status == trial_module.TrialStatus.COMPLETED
        reason = None if ok else sweep.failure_reason(trial.message)
        self._progress.end(trial.trial_id, self._shown_values(trial.hyperparameters),
                           self._measures.pop(trial.trial_id, {}), reason=reason)
        super().on_trial_end(trial)

    def run_trial(self, trial, x, y=None, validation_data=None, batch_size=32, verbose=0):
        hp = trial.hyperparameters
        settings = space_lib.settings_from(self.space_fn, hp.copy())
        if "tuner/epochs" in hp.values:  # Hyperband's budget; each trial fine-tunes from scratch
            settings["epochs"] = int(hp.values["tuner/epochs"])
        tid = trial.trial_id
        keras.utils.set_random_seed(self.options.seed + (int(tid) if str(tid).isdigit() else 0))
        trial_dir = self.get_trial_dir(tid)
        log_dir = os.path.join(self.tensorboard_dir, f"trial_{tid}") if self.options.tensorboard \
            else None
        plain, info = trial_lib.run(self.model, settings, x=x, y=y, options=trial_lib.TrialOptions(
            loss=self.loss, metrics=self.metrics, batch_size=batch_size, log_dir=log_dir,
            verbose=verbose, distill_task=self.distill_task, loss_weights=self.loss_weights))
        out = measure_lib.measure(plain, validation_data=validation_data, loss=self.loss,
                                  options=measure_lib.MeasureOptions(
                                      metrics=self.metrics, batch_size=batch_size,
                                      optional=self.optional, latency_runs=self.options.latency_runs,
                                      loss_weights=self.loss_weights),
                                  trial_dir=trial_dir, calibration=data_lib.head(x, trial_lib.CALIBRATION_SAMPLES))
        out.update(info)
        self.save_model(tid, plain)
        sweep.write_json(os.path.join(trial_dir, sweep.MEASURES_FILE),
                         {"trial_id": tid, "tuner_id": self.tuner_id, "settings": settings,
                          "measures": out})
        if log_dir:
            hparams_lib.write_trial(log_dir, tid, hp.values, out)
        self._measures[tid] = out
        obj = self.oracle.objective
        if getattr(obj, "name_to_direction", None) and obj.name not in out:
            # keras-tuner checks that a list objective's own key ("multi_objective") is there
            out = {**out, obj.name: obj.get_value(out)}
        return out

    def save_model(self, trial_id, model, step=0):
        """Save a trial's plain model to ``trial_<id>/model.keras`` (atomically)."""
        path = os.path.join(self.get_trial_dir(trial_id), sweep.MODEL_FILE)
        tmp = path[: -len(".keras")] + f".tmp{os.getpid()}.keras"
        model.save(tmp)
        os.replace(tmp, path)

    def load_model(self, trial):
        """The plain pruned model of a trial (a ``Trial`` or its id), uncompiled."""
        tid = getattr(trial, "trial_id", trial)
        path = os.path.join(self.project_dir, f"trial_{tid}", sweep.MODEL_FILE)
        if not os.path.exists(path):
            raise errors.ConfigError(f"Trial {tid!r} has no saved model ({path}); it did not "
                                     "complete.")
        return keras.models.load_model(path, compile=False)

    # -- results ---------------------------------------------------------------------------
    def results(self) -> pareto_lib.Table:
        """Every completed trial: settings and measures (a :class:`Table` of dicts)."""
        return sweep.load_results(self.project_dir)

    def trials(self) -> pareto_lib.Table:
        """Every trial, completed or failed: ``trial_id``, its searched hyperparameters, each
        objective measure (the objective's, the sweep's :attr:`quality`, and ``macs`` when
        the objective names no cost) and ``status``: ``pareto`` (on the front of
        :attr:`quality` against the objective's costs, else ``macs``), ``ok`` or
        ``failed: <the error's last line>``. :meth:`search` prints it at the end.
        """
        axes = self._front_axes()
        front = {r["trial_id"] for r in self.pareto(axes[0], axes[1:])}
        return progress_lib.table(sweep.load_trials(self.project_dir), axes, front)

    def _front_axes(self) -> list:
        names = self._objective_names()
        if self.quality in names:
            names.remove(self.quality)
        return [self.quality, *(names or ["macs"])]

    def _objective_names(self) -> list:
        obj = self.oracle.objective
        return list(getattr(obj, "name_to_direction", None) or [obj.name])

    def _summary(self) -> str:
        rows = self.trials()
        return f"{progress_lib.heading(rows, self._front_axes())}\n{rows}"

    def _planned_trials(self):
        """``max_trials`` (fewer when a grid has fewer points); None for Hyperband."""
        planned = getattr(self.oracle, "max_trials", None)
        if type(self.oracle).__name__ == "GridSearchOracle":
            size = space_lib.grid_size(self.oracle.get_space())
            planned = min(planned, size) if planned and size else planned or size
        return planned

    def _shown_values(self, hp) -> dict:
        """The searched hyperparameters as the trial uses them (e.g. no temperature without
        distillation; Hyperband's epochs)."""
        values = {k: v for k, v in hp.values.items() if not k.startswith("tuner/")}
        try:
            settings = space_lib.settings_from(self.space_fn, hp.copy())
        except errors.ConfigError:
            settings = {}
        values = {k: settings.get(k, v) for k, v in values.items()}
        if "tuner/epochs" in hp.values:
            values["epochs"] = hp.values["tuner/epochs"]
        return values

    def _axes(self, quality, cost):
        quality = self.quality if quality is None else quality
        costs = [cost] if isinstance(cost, str) or not isinstance(cost, (list, tuple)) else cost
        axes = []
        for item in [quality, *costs]:
            name = getattr(item, "name", item)
            if name not in self.measure_names:
                raise errors.unknown_name("measure", name, self.measure_names)
            axes.append((name, getattr(item, "direction", None) or measure_lib.direction(name)))
        return axes

    def pareto(self, quality=None, cost="macs") -> pareto_lib.Table:
        """Non-dominated completed trials for ``quality`` against one or more ``cost`` measures.

        ``quality`` defaults to the sweep's quality measure (:attr:`quality`: the first
        metric's ``val_<metric>``, e.g. ``val_accuracy`` or ``val_mae``). Directions are
        inferred (losses, errors, sizes, MACs, times: lower is better) or taken from
        ``keras_tuner.Objective`` arguments. Rows are sorted by the first cost.
        """
        return pareto_lib.front(self.results(), self._axes(quality, cost))

    def plot_pareto(self, path, quality=None, cost="macs") -> str:
        """Write a PNG of every trial and the Pareto front (matplotlib, Agg). Returns the path."""
        q, c = self._axes(quality, cost)[:2]
        return pareto_lib.plot(self.results(), path, quality=q, cost=c)

    def best_models(self, quality=None, cost="macs") -> list:
        """``[(trial_id, model)]`` for the Pareto-front trials, in :meth:`pareto` order."""
        return [(r["trial_id"], self.load_model(r["trial_id"]))
                for r in self.pareto(quality, cost)]

    def export_best(self, directory, *, quality=None, cost="macs", quantize="int8",
                    representative_data=None, overwrite=False) -> list:
        """Export each Pareto-front model to ``directory/trial_<id>.tflite`` (verified in LiteRT).

        ``representative_data`` defaults to the first samples given to :meth:`search`.
        Returns the :class:`tfprune.export.ExportRecord` list.
        """
        data = representative_data if representative_data is not None else self._calibration
        os.makedirs(directory, exist_ok=True)
        return [export.tflite(model, os.path.join(directory, f"trial_{tid}.tflite"),
                              quantize=quantize, representative_data=data, overwrite=overwrite)
                for tid, model in self.best_models(quality, cost)]

    # -- checks ----------------------------------------------------------------------------
    def _check_data(self, x, y, validation_data):
        """Arrays (lists/dicts of arrays for several inputs or outputs), ``y`` and
        ``validation_data`` of matching lengths, inputs that fit the model; before any trial."""
        if not (isinstance(validation_data, (tuple, list)) and len(validation_data) == 2):
            raise errors.ConfigError("Pass validation_data=(x_val, y_val): every trial measures "
                                     "its quality on it.")
        for name, (xs, ys) in (("x", (x, y)), ("validation_data", validation_data)):
            arrays = tf.nest.flatten(xs) if isinstance(xs, (list, tuple, dict)) else [xs]
            if not arrays or not all(data_lib.is_array(a) for a in arrays):
                raise errors.ConfigError(
                    f"`{name}` must be numpy arrays (a list or dict of them for several "
                    f"inputs), got {type(xs).__name__}; tf.data pipelines are not supported by "
                    "sweeps yet.")
            data_lib.check_lengths(xs, ys, name, error=errors.ConfigError)
            try:
                self.model(data_lib.head(xs, 1))
            except Exception as e:  # noqa: BLE001  (any shape/dtype error from Keras)
                raise errors.ConfigError(f"The data does not fit the model input "
                                         f"{self.model.input_shape}: {e}") from e

    def _check_failures(self):
        if sweep.is_worker():
            return
        trials = []
        for path in sorted(glob.glob(os.path.join(self.project_dir, "trial_*", "trial.json"))):
            trials.append(trial_module.Trial.load(path))
        done = [t for t in trials if t.status == trial_module.TrialStatus.COMPLETED]
        if trials and not done:
            first = sorted(trials, key=lambda t: t.trial_id)[0]
            raise sweep.SweepError(
                f"All {len(trials)} trials failed. Trial {first.trial_id} failed with:\n"
                f"{first.message}")


def _resolve_metrics(model, loss, metrics):
    """What every trial compiles and measures: ``metrics`` if given, else the model's
    compiled metrics, else what fits each output's task (accuracy for class scores and
    binary outputs, ``mae`` for regression). A metric that cannot apply to an output is
    refused here, before any trial. Also what a distilling trial imitates: soft targets
    (``"classification"``) when every output is class scores, else the outputs
    (``"regression"``)."""
    tasks = task_lib.resolve(model, loss=loss, metrics=metrics)
    if metrics is None:
        metrics = task_lib.compiled_metrics(model) or None
    if metrics is None:
        if len(tasks) == 1:
            metrics = task_lib.default_metrics(tasks[0].kind)
        else:
            metrics = {t.output: list(task_lib.default_metrics(t.kind)) for t in tasks}
    per = metrics if isinstance(metrics, dict) else {t.output: metrics for t in tasks}
    for t in tasks:
        ms = per.get(t.output) or ()
        for m in [ms] if isinstance(ms, str) or not isinstance(ms, (list, tuple)) else ms:
            try:
                task_lib.check_metric(t, m)
            except errors.ConfigError as e:
                raise errors.ConfigError(
                    f"{e} For a sweep: SweepOptions(metrics=(...)) or compile the model with "
                    "the metrics to measure.") from None
    kind = "classification" if all(t.class_scores for t in tasks) else "regression"
    return (metrics if isinstance(metrics, dict) else tuple(metrics)), kind

