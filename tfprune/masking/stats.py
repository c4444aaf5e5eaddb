"""Statistics the data-driven criteria need, gathered inside the wrapper's call.

Three kinds, each a running sum held in variables the wrapper creates in ``build``
(``synchronization=ON_READ, aggregation=SUM``: no per-step communication, and a
cross-replica read, as TF-MOT's mask update does, returns the sum over replicas):

* gradient statistics of each prunable weight, from a *gradient tap*: the inner
  layer's call runs inside a ``tf.custom_gradient`` whose forward records a nested
  ``GradientTape``; its backward takes the weight gradients from that tape and adds
  to the statistics. No layer attribute is touched, so it works in graph and eager
  ``fit``, custom loops with or without ``tf.function`` and ``MirroredStrategy``;
* activation statistics per output channel of the layer's output;
* the input second moment ``H = sum X^T X`` of each prunable weight (OBS, SparseGPT, Wanda;
  Dense, Conv, DepthwiseConv and MultiHeadAttention: :mod:`tfprune.masking.hessians`).

:class:`StatisticsMixin` is the wrapper's side: it makes the variables, adds to them in the
call and reads them back as the criterion's statistics.

Under ``MirroredStrategy`` with ``R`` replicas each replica sees only its share
``g_r`` of the gradient (``g = sum_r g_r``). Linear statistics (``grad``,
``movement``) add ``g_r`` and sum exactly. Non-linear ones (``grad_sq``,
``abs_grad_weight``) would give ``sum_r f(g_r) != f(g)``; here they are CORRECTED:
the tap all-reduces ``g`` first (one extra all-reduce per step, only with R > 1)
and each replica adds ``f(g) / R``, so the summed statistic equals the
single-device one. The step counter adds ``1/R`` per replica for the same reason.

Example:
    >>> import tensorflow as tf
    >>> d = gradient_deltas({"grad", "grad_sq"}, tf.constant([2.]), tf.constant([1., -3.]))
    >>> d["grad_sq"].numpy(), float(d["steps"])
    (array([1., 9.], dtype=float32), 1.0)
"""

from __future__ import annotations

import tensorflow as tf

from tfprune.masking.hessians import gram_sums, hessian_shapes, patches
from tfprune.masking.validate import channel_axis

__all__ = ["StatisticsMixin", "GRAD_STATS", "ACT_STATS", "INPUT_STATS", "gradient_deltas", "activation_sums",
           "gradient_tap", "patches"]

#: gradient statistics (per prunable weight, same shape as the weight)
GRAD_STATS = frozenset({"grad", "grad_sq", "abs_grad_weight", "movement"})
#: activation statistics (per output channel of the layer)
ACT_STATS = frozenset({"act_zero", "act_mean", "act_rank"})
#: statistics of the layer's input (per layer)
INPUT_STATS = frozenset({"hessian"})
_NONLINEAR = frozenset({"grad_sq", "abs_grad_weight"})


def gradient_deltas(names, weight, grad, replica_context=None) -> dict:
    """Per-step increments of the gradient statistics ``names`` (plus ``steps``).

    ``grad``: ``g``; ``grad_sq``: ``g^2``; ``abs_grad_weight``: ``|g * w|``;
    ``movement``: ``-w * g``. With a replica context of ``R > 1`` replicas, see the
    module docstring: the result summed over replicas equals the single-device one.

    Args:
        names: statistic names (subset of ``GRAD_STATS``).
        weight: the weight value ``w`` used in the forward pass.
        grad: this replica's gradient ``g`` of the loss w.r.t. ``w``.
        replica_context: ``tf.distribute`` replica context, or None.

    Returns:
        dict name -> tensor of ``weight``'s shape, and ``"steps"`` -> scalar.

    Example:
        >>> gradient_deltas({"movement"}, tf.constant([2.]), tf.constant([3.]))["movement"].numpy()
        array([-6.], dtype=float32)
    """
    w = tf.cast(weight, tf.float32)
    g = tf.cast(grad, tf.float32)
    replicas = replica_context.num_replicas_in_sync if replica_context is not None else 1
    g_full = g
    if replicas > 1 and set(names) & _NONLINEAR:
        g_full = replica_context.all_reduce(tf.distribute.ReduceOp.SUM, g)
    inv = 1.0 / replicas
    out = {"steps": tf.constant(inv, tf.float32)}
    if "grad" in names:
        out["grad"] = g
    if "movement" in names:
        out["movement"] = -w * g
    if "grad_sq" in names:
        out["grad_sq"] = tf.square(g_full) * inv
    if "abs_grad_weight" in names:
        out["abs_grad_weight"] = tf.abs(g_full * w) * inv
    return out


def activation_sums(names, output, rank_samples: int | None = None) -> dict:
    """Per-channel sums over one batch of a layer's output (channels last).

    ``act_zero``: count of entries ``<= 0`` (zeros after a ReLU); ``act_mean``: sum of
    ``|a|``; both with ``count`` = entries per channel. ``act_rank``: sum over samples
    of the rank of each channel's 2-D feature map (rank-4 output; for a vector or 1-D
    sequence the rank is 1 unless the channel is all zero), with ``samples``; only the
    first ``rank_samples`` samples of the batch when given (the SVDs are the cost).

    Example:
        >>> s = activation_sums({"act_zero", "act_mean"}, tf.constant([[0., 2.], [1., 0.]]))
        >>> s["act_zero"].numpy(), s["act_mean"].numpy(), float(s["count"])
        (array([1., 1.], dtype=float32), array([1., 2.], dtype=float32), 2.0)
    """
    a = tf.cast(output, tf.float32)
    channels = a.shape[-1]
    flat = tf.reshape(a, [-1, channels])
    out = {"count": tf.cast(tf.shape(flat)[0], tf.float32),
           "samples": tf.cast(tf.shape(a)[0], tf.float32)}
    if "act_zero" in names:
        out["act_zero"] = tf.reduce_sum(tf.cast(flat <= 0, tf.float32), axis=0)
    if "act_mean" in names:
        out["act_mean"] = tf.reduce_sum(tf.abs(flat), axis=0)
    if "act_rank" in names:
        if rank_samples:
            a = a[:rank_samples]
            out["samples"] = tf.cast(tf.shape(a)[0], tf.float32)
        if a.shape.rank == 4:
            maps = tf.transpose(a, [0, 3, 1, 2])  # [B, C, H, W]
            ranks = tf.cast(tf.linalg.matrix_rank(maps), tf.float32)
        else:  # a vector (or a 1-D sequence) per channel: rank 1 unless all zero
            nonzero = tf.reshape(tf.abs(a) > 0, [tf.shape(a)[0], -1, channels])
            ranks = tf.cast(tf.reduce_any(nonzero, axis=1), tf.float32)
        out["act_rank"] = tf.reduce_sum(ranks, axis=0)
    return out


def _same_variable(a, b) -> bool:
    if a is b:
        return True
    try:
        return a.handle is b.handle
    except (AttributeError, ValueError):
        return False


def gradient_tap(fn, inputs, weights, on_gradients):
    """Call ``fn(inputs)`` so that the backward pass hands the weights' gradients to a hook.

    Args:
        fn: the inner layer's call, ``fn(inputs) -> outputs`` (nests of tensors).
        inputs: a nest; its float tensors are differentiated through.
        weights: the variables whose gradients are wanted.
        on_gradients: ``on_gradients(list of grads, one per weight) -> list of ops``,
            run in the backward pass (e.g. ``assign_add`` of statistics).

    Returns:
        ``fn(inputs)``, numerically and for every gradient the same as without the tap.

    Example:
        >>> v = tf.Variable([2.0]); seen = []
        >>> with tf.GradientTape() as t:
        ...     y = gradient_tap(lambda x: x * v, tf.constant([3.0]), [v],
        ...                      lambda gs: seen.append(gs[0].numpy()) or [])
        >>> t.gradient(y, v).numpy(), seen
        (array([3.], dtype=float32), [array([3.], dtype=float32)])
    """
    flat = tf.nest.flatten(inputs)
    slots = [i for i, x in enumerate(flat)
             if tf.is_tensor(x) and (x.dtype.is_floating or x.dtype.is_complex)]
    structure = {}

    @tf.custom_gradient
    def tapped(*tensors):
        rebuilt = list(flat)
        for i, t in zip(slots, tensors, strict=True):
            rebuilt[i] = t
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            for w in weights:
                tape.watch(w)
            out = fn(tf.nest.pack_sequence_as(inputs, rebuilt))
        structure["out"] = out
        out_flat = tf.nest.flatten(out)

        def grad(*dys, variables=None):
            variables = list(variables or [])
            extra = [w for w in weights if not any(_same_variable(w, v) for v in variables)]
            grads = tape.gradient(out_flat, list(tensors) + variables + extra,
                                  output_gradients=list(dys),
                                  unconnected_gradients=tf.UnconnectedGradients.ZERO)
            n_in, n_var = len(tensors), len(variables)
            var_grads = grads[n_in:n_in + n_var]
            pool = (list(zip(variables, var_grads, strict=True))
                    + list(zip(extra, grads[n_in + n_var:], strict=True)))
            wanted = [next(g for v, g in pool if _same_variable(w, v)) for w in weights]
            ops = on_gradients(wanted) or []
            with tf.control_dependencies(ops):
                in_grads = [tf.identity(g) for g in grads[:n_in]]
                var_grads = [tf.identity(g) for g in var_grads]
            return in_grads, var_grads

        return out_flat, grad

    out_flat = tapped(*[flat[i] for i in slots])
    return tf.nest.pack_sequence_as(structure["out"], out_flat)


class StatisticsMixin:
    """The statistic variables of a :class:`tfprune.masking.wrapper.PruningWrapper`: made in
    ``build`` (:meth:`build_stats`), added to in the call (:meth:`on_gradients`,
    :meth:`record_forward`) and read as the criterion's statistics (:meth:`statistics`).
    Needs the wrapper's ``criterion``, ``scored``, ``layer``, ``prunable_weights``,
    ``weight_keys`` and ``observe``."""

    #: statistics measured on the whole model, ``{index: {"loss_delta": ...}}`` (criterion
    #: "sensitivity"; set by :func:`tfprune.masking.channels.measure`, not saved)
    measured_stats = None

    @property
    def gathers_gradients(self) -> bool:
        """True when the criterion needs gradient statistics here (a gradient tap)."""
        return bool(self._grad_names)

    def _stat_weight(self, name, shape):
        return self.add_weight(
            name, shape=shape, initializer="zeros", dtype=tf.float32, trainable=False,
            synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.SUM)

    def build_stats(self, input_shape) -> None:
        """Create the statistic variables the criterion needs (``build``)."""
        needs = set(self.criterion.needs) if self.scored else set()
        grad = sorted(needs & GRAD_STATS)
        self._grad_names = grad
        self._grad_vars = [{n: self._stat_weight(f"stat_{n}_{i}", w.shape) for n in grad}
                           for i, w in enumerate(self.prunable_weights)]
        self._grad_steps = self._stat_weight("stat_steps", []) if grad else None
        act = sorted(needs & ACT_STATS)
        self._act_names = act
        self._act_vars = {}
        if act:
            channels = int(self.layer.compute_output_shape(input_shape)[-1])
            self._act_vars = {n: self._stat_weight(f"stat_{n}", [channels]) for n in act}
            self._act_vars["count"] = self._stat_weight("stat_act_count", [])
            self._act_vars["samples"] = self._stat_weight("stat_act_samples", [])
        self._input_vars = {}
        if "hessian" in needs:  # one X^T X per weight ("hessian", "hessian_1", ...)
            for i, shape in enumerate(hessian_shapes(self.layer, self.prunable_weights)):
                sfx = "" if i == 0 else f"_{i}"
                self._input_vars["hessian" + sfx] = self._stat_weight("stat_hessian" + sfx, shape)
                self._input_vars["rows" + sfx] = self._stat_weight("stat_hessian_rows" + sfx, [])

    def stat_variables(self) -> list:
        """Every statistic variable of this wrapper."""
        out = [v for d in self._grad_vars for v in d.values()]
        out += [self._grad_steps] if self._grad_steps is not None else []
        return out + list(self._act_vars.values()) + list(self._input_vars.values())

    def reset_stats(self) -> None:
        """Set every statistic to zero (e.g. before one-shot calibration)."""
        for v in self.stat_variables():
            v.assign(tf.zeros(v.shape, v.dtype))

    def on_gradients(self, grads) -> list:
        """Add one step's weight gradients to the gradient statistics (the tap's backward)."""
        ctx = tf.distribute.get_replica_context()
        ops = []
        for i, (weight, g) in enumerate(zip(self.prunable_weights, grads, strict=True)):
            deltas = gradient_deltas(self._grad_names, tf.convert_to_tensor(weight), g, ctx)
            for name, var in self._grad_vars[i].items():
                ops.append(var.assign_add(deltas[name]))
            if i == 0:
                ops.append(self._grad_steps.assign_add(deltas["steps"]))
        return ops

    def record_forward(self, inputs, out, args=(), kwargs=None) -> list:
        """Add one call's activations (and input second moments) to the statistics;
        ``args``/``kwargs``: the call's other arguments (MultiHeadAttention's value, key, mask)."""
        ops = []
        if self._act_vars:
            sums = activation_sums(self._act_names, out,
                                   None if self.observe else self.criterion.train_samples)
            ops += [var.assign_add(sums[name]) for name, var in self._act_vars.items()]
        if self._input_vars:
            for i, (gram, rows) in enumerate(gram_sums(self.layer, inputs, args, kwargs)):
                sfx = "" if i == 0 else f"_{i}"
                if "hessian" + sfx not in self._input_vars:
                    break
                ops.append(self._input_vars["hessian" + sfx].assign_add(gram))
                ops.append(self._input_vars["rows" + sfx].assign_add(rows))
        return ops

    def statistics(self, index: int = 0) -> dict:
        """The statistics handed to the criterion for prunable weight ``index``.

        Gradient statistics are means over the recorded steps, activation statistics
        means over the observed entries/samples, ``hessian`` is ``X^T X / rows``.
        """
        out = {"key": self.weight_keys[index], "axis": channel_axis(self.layer)}
        if not self.scored:
            return out
        # statistics measured on the whole model (criterion "sensitivity": loss_delta)
        out.update((self.measured_stats or {}).get(index, {}))
        if self._grad_names:
            steps = tf.maximum(tf.convert_to_tensor(self._grad_steps), 1e-12)
            for name, var in self._grad_vars[index].items():
                out[name] = tf.convert_to_tensor(var) / steps
            out["steps"] = tf.convert_to_tensor(self._grad_steps)
        if self._act_vars:
            count = tf.maximum(tf.convert_to_tensor(self._act_vars["count"]), 1.0)
            samples = tf.maximum(tf.convert_to_tensor(self._act_vars["samples"]), 1.0)
            for name in self._act_names:
                denom = samples if name == "act_rank" else count
                out[name] = tf.convert_to_tensor(self._act_vars[name]) / denom
        sfx = "" if index == 0 else f"_{index}"
        if "hessian" + sfx in self._input_vars:
            rows = tf.maximum(tf.convert_to_tensor(self._input_vars["rows" + sfx]), 1.0)
            out["hessian"] = tf.convert_to_tensor(self._input_vars["hessian" + sfx]) / rows
        return out

    def recorded(self):
        """Scalar count of recorded steps/entries, or None when no data statistic is needed."""
        for var in (self._grad_steps, self._act_vars.get("count"), self._input_vars.get("rows")):
            if var is not None:
                return tf.convert_to_tensor(var)
        return None
