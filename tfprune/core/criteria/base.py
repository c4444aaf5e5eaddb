"""The Criterion contract, its registry, and the weight-only criteria."""

from __future__ import annotations

import copy
import zlib

import tensorflow as tf

from tfprune import errors
from tfprune.compat import keras
from tfprune.core.criteria.granularity import GRANULARITIES, parse

__all__ = ["STAT_NAMES", "DATA_STATS", "GRANULARITIES", "Criterion", "Magnitude", "Random",
           "get", "available", "register_criterion", "checked_scores", "weight_key", "serialize", "resolve_granularity",
           "check_granularity"]


#: Statistics a criterion may declare in ``needs``; the wrapper/pruner gathers them
#: (see :mod:`tfprune.masking.stats`). Gradient: ``grad`` (mean g), ``grad_sq`` (mean g^2),
#: ``abs_grad_weight`` (mean |g*w|), ``movement`` (mean -w*g); activation, per output
#: channel: ``act_zero`` (fraction <= 0), ``act_mean`` (mean |a|), ``act_rank`` (mean
#: feature-map rank); input: ``hessian`` (X^T X / rows); model: ``bn_gamma`` (gamma of
#: the BatchNormalization that follows).
STAT_NAMES = frozenset({"grad", "grad_sq", "abs_grad_weight", "movement", "act_zero",
                        "act_mean", "act_rank", "hessian", "bn_gamma"})
#: Statistics that only data can give (one_shot needs ``data=`` for them).
DATA_STATS = STAT_NAMES - {"bn_gamma"}

_REGISTRY: dict[str, type] = {}


def register_criterion(name: str, *, override: bool = False):
    """Class decorator: make a Criterion usable by ``name`` and serialisable.

    A name already registered (a built-in such as ``"magnitude"``, or another class) is
    refused unless ``override=True``: replacing it changes that name for the whole
    process. Registering the same class again (a re-run notebook cell) is allowed.

    Raises:
        ConfigError: not a Criterion subclass, or ``name`` taken and ``override`` not set.

    Example:
        >>> @register_criterion("abs_cubed")
        ... class AbsCubed(Criterion):
        ...     def score(self, weight, stats):
        ...         return tf.abs(weight) ** 3
        >>> isinstance(get("abs_cubed"), AbsCubed)
        True
    """

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, Criterion)):
            raise errors.ConfigError(f"register_criterion({name!r}) expects a Criterion subclass.")
        old = _REGISTRY.get(name)
        same = old is not None and (old.__module__, old.__qualname__) == (
            cls.__module__, cls.__qualname__)
        if old is not None and not same and not override:
            raise errors.ConfigError(
                f"criterion name {name!r} is already registered ({old.__module__}."
                f"{old.__qualname__}); registering {cls.__qualname__} would replace it for "
                f"the whole process. Choose another name, or pass "
                f"register_criterion({name!r}, override=True) to replace it on purpose.")
        _REGISTRY[name] = cls
        cls.name = name
        return keras.utils.register_keras_serializable(package="tfprune")(cls)

    return deco


def weight_key(layer_name: str, index: int) -> int:
    """``stats["key"]``: a stable int naming prunable weight ``index`` of a layer (seeded
    criteria such as ``random`` draw from it), the same for a wrapper and a plain layer.

    Example:
        >>> weight_key("fc", 0) == weight_key("fc", 0) != weight_key("fc", 1)
        True
    """
    return zlib.crc32(f"{layer_name}/{index}".encode()) & 0x7FFFFFFF


def checked_scores(criterion, weight, stats, *, where: str = "") -> tf.Tensor:
    """``criterion.score(weight, stats)`` as float32, checked: THE call of a criterion's
    ``score`` (wrappers, plans and analysis use it).

    The shape must be the weight's (one score per weight) or, for a ``per_channel``
    criterion, one score per channel (rank 1). Eagerly a NaN/inf score raises
    ConfigError naming the criterion; in a traced step (``fit``) the same words come
    from ``tf.debugging.assert_all_finite``.

    Raises:
        ConfigError: another shape (both are named), or non-finite scores.

    Example:
        >>> checked_scores(Magnitude(), tf.constant([-1., 2.]), {}).numpy()
        array([1., 2.], dtype=float32)
        >>> class Bad(Criterion):
        ...     def score(self, weight, stats):
        ...         return weight * float("nan")
        >>> checked_scores(Bad(), tf.ones([2]), {})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: criterion 'criterion' (Bad) returned 2 NaN/inf scores: ...
    """
    crit = get(criterion)
    weight = tf.convert_to_tensor(weight)
    scores = tf.cast(tf.convert_to_tensor(crit.score(weight, stats)), tf.float32)
    who = f"criterion {crit.name!r} ({type(crit).__name__})"
    of = f" for {where}" if where else ""
    ok = (scores.shape.rank == 1 if crit.per_channel
          else scores.shape.as_list() == weight.shape.as_list())
    if not ok:
        raise errors.ConfigError(
            f"{who} returned scores of shape {scores.shape.as_list()}{of}; expected "
            f"{weight.shape.as_list()}" + (" or one per channel." if crit.per_channel else "."))
    msg = (f"{who} returned NaN/inf scores{of}: the pruning order would be arbitrary. Make "
           "score() return finite values (e.g. add an epsilon before a division or log).")
    if not tf.executing_eagerly():
        return tf.debugging.assert_all_finite(scores, msg)
    bad = int(tf.size(scores)) - int(tf.math.count_nonzero(tf.math.is_finite(scores)))
    if bad:
        raise errors.ConfigError(msg.replace("returned NaN/inf", f"returned {bad} NaN/inf"))
    return scores


class Criterion:
    """Base class: scores a weight tensor; larger score = more important.

    Subclasses implement ``score(weight, stats)`` as a pure tensor function and
    list the statistics they need in ``needs``. The config is the ``__init__``
    arguments.

    Example:
        >>> Magnitude().score(tf.constant([[-2., 0.5]]), {}).numpy()
        array([[2. , 0.5]], dtype=float32)
    """

    name = "criterion"
    needs: frozenset = frozenset()
    #: True: ``score()`` returns one score per output channel of the layer (activation
    #: criteria, FPGM), not one per weight.
    per_channel = False
    #: The granularities this criterion supports; the first is its default. ``"head"``
    #: (MultiHeadAttention heads) sums per-weight scores over a head's kernel slices, so
    #: per-weight criteria support it; per-channel ones (activations, FPGM) cannot see heads.
    granularities: tuple = ("weight", "n:m", "block", "channel", "head")
    #: At ``granularity="channel"``: the group members whose weights are scored
    #: (``out``: producer kernels, ``dw``: depthwise kernels, ``in``: consumer kernels,
    #: ``affine``: BatchNormalization gamma).
    score_roles: tuple = ("out", "dw")
    #: ``p`` when ``score(c * w) == |c| ** p * score(w)`` (a pure weight-magnitude
    #: score): ``scope="global"`` then ranks the BatchNormalization-folded weight
    #: (:mod:`tfprune.masking.bnfold`); None for every other criterion.
    weight_power: float | None = None

    # -- optional hooks: declared here with their defaults, so callers read them directly
    #: True: scores come from a model-level measurement on calibration data (the pruner
    #: measures ``stats["loss_delta"]`` before it chooses masks), not from the wrapper.
    measured: bool = False
    #: Calibration data carried by the criterion itself (``Sensitivity(data=(x, y))``),
    #: for ``prune``, which has no ``data=`` argument; None: none carried.
    data = None
    #: The loss a measured criterion measures (None: the model's compiled loss).
    loss = None
    #: Calibration samples a measured criterion uses (None: no limit of its own).
    max_samples: int | None = None
    #: ``one_shot`` (layer scope) calibrates and compensates layer after layer.
    sequential: bool = False
    #: During ``fit``, activation statistics are taken on the first ``train_samples``
    #: samples (None: all) of every ``train_every``-th step.
    train_samples: int | None = None
    train_every: int = 1

    @property
    def compensates(self) -> bool:
        """True when the criterion updates the kept weights after masking (overrides
        :meth:`compensate`, as OBS does)."""
        return type(self).compensate is not Criterion.compensate

    def compensate(self, weight, mask, stats):
        """The kept weights after masking (default: ``weight`` unchanged).

        Example:
            >>> Magnitude().compensate([1.0, 2.0], [1, 0], {}), Magnitude().compensates
            ([1.0, 2.0], False)
        """
        del mask, stats
        return weight

    @property
    def needs_data(self) -> bool:
        """True when the statistics must come from data (``one_shot(data=...)``)."""
        return bool(set(self.needs) & DATA_STATS)

    @property
    def needs_labels(self) -> bool:
        """True when gradients (hence labels and a loss) are needed."""
        return bool(set(self.needs) & {"grad", "grad_sq", "abs_grad_weight", "movement"})

    def score(self, weight: tf.Tensor, stats: dict) -> tf.Tensor:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must implement score(weight, stats).")

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**copy.deepcopy(config))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))


@register_criterion("magnitude")
class Magnitude(Criterion):
    """Weight magnitude ``|w|`` (Han et al. 2015; TF-MOT's criterion).

    With ``scope="global"`` a kernel whose only consumer is BatchNormalization is ranked
    by its folded magnitude ``|w| * |gamma| / sqrt(var + eps)`` (BN makes the raw scale
    arbitrary; :mod:`tfprune.masking.bnfold`).

    References:
        Han, Pool, Tran, Dally. Learning both Weights and Connections for
        Efficient Neural Networks. NeurIPS 2015.

    Example:
        >>> Magnitude().score(tf.constant([-1., 2.]), {}).numpy()
        array([1., 2.], dtype=float32)
    """

    weight_power = 1

    def score(self, weight, stats):
        return tf.abs(tf.cast(weight, tf.float32))


@register_criterion("random")
class Random(Criterion):
    """Seeded uniform random scores: a baseline.

    The scores are a fixed function of ``(seed, key)`` where ``key`` identifies the
    weight (``stats["key"]``, set by the wrapper), so repeated mask updates give
    nested masks and runs are reproducible. Already-pruned weights (exact zeros)
    score lowest, so gradual random pruning only ever removes more.

    Example:
        >>> a = Random(seed=3).score(tf.ones([4]), {"key": 7})
        >>> b = Random(seed=3).score(tf.ones([4]), {"key": 7})
        >>> bool(tf.reduce_all(a == b))
        True
    """

    def __init__(self, seed: int = 0):
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise errors.ConfigError(f"Random: seed must be an int, got seed={seed!r}.")
        self.seed = seed

    def score(self, weight, stats):
        key = int(stats.get("key", 0)) % (2**31 - 1)
        noise = tf.random.stateless_uniform(tf.shape(weight), seed=[self.seed, key],
                                            minval=0.5, maxval=1.0)
        alive = tf.cast(tf.not_equal(weight, 0), tf.float32)
        return noise * alive

    def get_config(self):
        return {"seed": self.seed}


def resolve_granularity(granularity, criterion=None) -> str:
    """The granularity name to use: ``None`` gives the criterion's default.

    Any spelling :func:`tfprune.core.criteria.granularity.parse` reads is accepted
    (``"1:4"`` is ``"n:m"``, ``"block:8x1"`` is ``"block"``); deprecated spellings
    (``"unstructured"`` for ``"weight"``) are translated there, through
    :mod:`tfprune.deprecations`.

    Example:
        >>> resolve_granularity(None, get("apoz")), resolve_granularity("weight")
        ('channel', 'weight')
        >>> resolve_granularity("1:4")
        'n:m'
    """
    default = get(criterion).granularities[0] if criterion is not None else "weight"
    return parse(granularity, default).name


def check_granularity(criterion, granularity: str) -> None:
    """Refuse a criterion at a granularity it does not support, naming those it does.

    Example:
        >>> check_granularity(get("apoz"), "weight")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: criterion 'apoz' scores whole channels ...
    """
    crit = get(criterion)
    if granularity not in crit.granularities:
        what = ("scores whole channels (one score per output channel)" if crit.per_channel
                else f"does not support granularity={granularity!r}")
        raise errors.ConfigError(
            f"criterion {crit.name!r} {what}; it supports granularity in "
            f"{list(crit.granularities)}. Pass one of those, or choose another criterion.")


def available() -> list[str]:
    """Names of the registered criteria.

    Example:
        >>> {"magnitude", "random"} <= set(available())
        True
    """
    return sorted(_REGISTRY)


def get(criterion) -> Criterion:
    """Resolve a name, a config dict or an instance to a Criterion instance.

    Raises:
        ConfigError: unknown name (the valid names and the closest are listed).

    Example:
        >>> get("random")
        Random(seed=0)
    """
    if isinstance(criterion, Criterion):
        return criterion
    if isinstance(criterion, str):
        if criterion not in _REGISTRY:
            raise errors.unknown_name("criterion", criterion, _REGISTRY)
        return _REGISTRY[criterion]()
    if isinstance(criterion, dict) and "class_name" in criterion:
        obj = keras.utils.deserialize_keras_object(criterion)
        if not isinstance(obj, Criterion):
            raise errors.ConfigError(f"criterion config does not describe a Criterion: {criterion!r}")
        return obj
    raise errors.ConfigError(
        f"criterion must be a name ({', '.join(available())}) or a tfprune Criterion instance, "
        f"got {type(criterion).__name__}."
    )


def serialize(criterion: Criterion) -> dict:
    """Config envelope ``{"class_name": "tfprune>Name", "config": {...}}``.

    Example:
        >>> serialize(Random(seed=1))["class_name"]
        'tfprune>Random'
    """
    return {"class_name": keras.utils.get_registered_name(type(criterion)),
            "config": criterion.get_config()}
