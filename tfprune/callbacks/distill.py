"""Knowledge distillation while pruning: the dense model teaches the pruned one.

``tfprune.distill(student, teacher, temperature=T, alpha=a)`` returns a :class:`Distiller`,
a tf_keras ``Model`` around the (pruned, wrapped) student. Compile it like the student
(optimizer, the task loss, metrics) and ``fit`` it with ``PruningCallback``; each training
step minimises

    loss = alpha * L_distill(teacher(x), student(x)) + (1 - alpha) * L_task(y, student(x))

* classification: ``L_distill = T^2 * KL(softmax(z_t / T) || softmax(z_s / T))`` (Hinton
  et al. 2015; ``T^2`` keeps the gradient scale independent of ``T``); outputs ending in
  softmax are turned back into logits with ``log``;
* regression: ``L_distill = mean((teacher(x) - student(x))^2)`` (output matching).

The teacher runs in inference mode (``training=False``), is not trained and not changed
(its variables are never handed to the optimizer) and is not one of the Distiller's
layers, so ``PruningCallback`` only sees the student's wrappers. Evaluation and
``predict`` use the student alone. After ``fit``, strip the student as usual:
``tfprune.strip(distiller.student)``.

Example:
    >>> import numpy as np, tfprune
    >>> from tfprune.compat import keras
    >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> d = tfprune.distill(tfprune.prune(teacher, sparsity=0.5), teacher, temperature=2.0)
    >>> d.compile("adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> h = d.fit(np.ones((8, 4)), np.zeros(8), epochs=1, verbose=0,
    ...           callbacks=[tfprune.callbacks.PruningCallback()])
    >>> sorted(h.history)[:3]
    ['distill_loss', 'loss', 'sparsity']
"""

from __future__ import annotations

import numbers

import tensorflow as tf

from tfprune import errors
from tfprune.compat import check_tf_keras_model, keras

__all__ = ["distill", "Distiller", "TASKS"]

#: what the student imitates: soft targets (classification) or the outputs (regression)
TASKS = ("classification", "regression")


class _Frozen:
    """Holds the teacher outside Keras' layer tracking (not a layer of the Distiller)."""

    def __init__(self, model):
        self.model = model


def _ends_in_softmax(model) -> bool:
    layer = model.layers[-1] if model.layers else None
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", "") == "softmax" or type(layer).__name__ == "Softmax"


def kd_loss(teacher_out, student_out, *, task: str, temperature: float,
            teacher_probs: bool = False, student_probs: bool = False) -> tf.Tensor:
    """The distillation term for one output (see the module docstring); a scalar.

    Example:
        >>> z = tf.constant([[2., 0., -1.]])
        >>> float(kd_loss(z, z, task="classification", temperature=4.0))
        0.0
        >>> float(kd_loss(tf.ones([2, 1]), tf.zeros([2, 1]), task="regression", temperature=1.0))
        1.0
    """
    t = tf.cast(teacher_out, tf.float32)
    s = tf.cast(student_out, tf.float32)
    if task == "regression":
        return tf.reduce_mean(tf.square(t - s))
    if teacher_probs:
        t = tf.math.log(tf.clip_by_value(t, 1e-8, 1.0))
    if student_probs:
        s = tf.math.log(tf.clip_by_value(s, 1e-8, 1.0))
    p_t = tf.nn.softmax(t / temperature, axis=-1)
    log_p_s = tf.nn.log_softmax(s / temperature, axis=-1)
    log_p_t = tf.nn.log_softmax(t / temperature, axis=-1)
    kl = tf.reduce_sum(p_t * (log_p_t - log_p_s), axis=-1)
    return tf.reduce_mean(kl) * temperature ** 2


class Distiller(keras.Model):
    """A tf_keras Model that trains ``student`` with ``teacher``'s outputs as extra targets.

    Made by :func:`distill`; see the module docstring for the loss. ``student`` is the
    model being trained (``distiller.student``); ``call`` is the student's.
    """

    def __init__(self, student, teacher, *, temperature: float = 4.0, alpha: float = 0.9,
                 task: str = "classification", **kwargs):
        super().__init__(**kwargs)
        self.student = student
        self._teacher = _Frozen(teacher)
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self.task = task
        self._probs = (_ends_in_softmax(teacher), _ends_in_softmax(student))

    @property
    def teacher(self):
        """The teacher model (never trained or changed)."""
        return self._teacher.model

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _distill_term(self, t_out, s_out):
        terms = [kd_loss(t, s, task=self.task, temperature=self.temperature,
                         teacher_probs=self._probs[0], student_probs=self._probs[1])
                 for t, s in zip(tf.nest.flatten(t_out), tf.nest.flatten(s_out), strict=True)]
        return tf.add_n(terms)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        t_out = tf.stop_gradient(self.teacher(x, training=False))
        with tf.GradientTape() as tape:
            s_out = self.student(x, training=True)
            soft = self._distill_term(t_out, s_out)
            if y is None:
                hard = tf.add_n([tf.constant(0.0)] + [tf.cast(v, tf.float32)
                                                      for v in self.student.losses])
                loss = soft + hard
            else:
                hard = self.compiled_loss(y, s_out, sample_weight,
                                          regularization_losses=self.student.losses)
                loss = self.alpha * soft + (1.0 - self.alpha) * hard
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        if y is not None:
            self.compiled_metrics.update_state(y, s_out, sample_weight)
        logs = {m.name: m.result() for m in self.metrics if m.name != "loss"}
        logs.update(loss=loss, distill_loss=soft, student_loss=hard)
        return logs


def distill(student, teacher, *, temperature: float = 4.0, alpha: float = 0.9,
            task: str = "classification") -> Distiller:
    """Wrap ``student`` so that ``fit`` also matches ``teacher``'s outputs.

    Args:
        student: the model to train, typically ``tfprune.prune(...)`` or
            ``tfprune.one_shot(...)`` of the teacher (any granularity); fit it with
            ``PruningCallback`` as usual.
        teacher: the dense model (tf_keras), same inputs and output structure; frozen.
        temperature: ``T > 0`` softening both distributions (classification).
        alpha: weight in [0, 1] of the distillation term; ``1 - alpha`` weighs the task
            loss given to ``compile`` (fit without labels: the distillation term alone).
        task: ``"classification"`` (soft targets, KL at ``T`` times ``T^2``) or
            ``"regression"`` (mean squared difference of the outputs).

    Returns:
        A :class:`Distiller` to ``compile`` and ``fit``; the trained model is
        ``distiller.student`` (``tfprune.strip(distiller.student)`` after fit).

    Raises:
        ConfigError: an unknown task, ``temperature <= 0``, ``alpha`` outside [0, 1], the
            same model as student and teacher, or output shapes that differ.
        KerasVersionError, ModelTypeError: a model that is not a tf_keras model.

    References:
        Hinton, Vinyals, Dean. Distilling the Knowledge in a Neural Network. 2015.

    Example:
        >>> from tfprune.compat import keras
        >>> t = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> distill(t.__class__.from_config(t.get_config()), t, task="regression").task
        'regression'
    """
    check_tf_keras_model(student, "student")
    check_tf_keras_model(teacher, "teacher")
    if task not in TASKS:
        raise errors.unknown_name("task", task, TASKS)
    for arg, value, ok, want in (("temperature", temperature, lambda v: v > 0, "> 0"),
                                 ("alpha", alpha, lambda v: 0 <= v <= 1, "in [0, 1]")):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not ok(value):
            raise errors.ConfigError(f"distill: {arg} must be a number {want}, got "
                                     f"{arg}={value!r}.")
    if student is teacher:
        raise errors.ConfigError(
            "distill: student and teacher are the same model; pass the dense model as "
            "teacher and a pruned copy (tfprune.prune(teacher, ...)) as student.")
    s_shapes = [tuple(s.shape[1:]) for s in tf.nest.flatten(student.outputs)]
    t_shapes = [tuple(t.shape[1:]) for t in tf.nest.flatten(teacher.outputs)]
    if s_shapes != t_shapes:
        raise errors.ConfigError(
            f"distill: the student's outputs {s_shapes} and the teacher's {t_shapes} differ; "
            "the student must predict what the teacher predicts.")
    return Distiller(student, teacher, temperature=float(temperature), alpha=float(alpha),
                     task=task, name=f"distill_{student.name}")
