"""LinearTeacherMonitor: every diagnostic of the paper from one pass over the data per evaluation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from typing_extensions import override

from lt_teacher._batch import batch_xy
from lt_teacher._validation import check_int
from lt_teacher.evaluation_data import SPLITS, BatchToXY, EvaluationSource, check_split_data, make_source
from lt_teacher.evaluator import GROUPS, NAMESPACES, DiagnosticsEvaluator

from ._analysed_network import AnalysedNetwork, NetworkFn
from ._data import resolve_datasets
from ._evaluation_callback import EvaluationCallback
from ._verify import Features, OutputFn, decide_jointly, head_inputs
from ._wandb import define_epoch_axis

__all__ = ["GROUPS", "LinearTeacherMonitor"]


class LinearTeacherMonitor(AnalysedNetwork, EvaluationCallback):
    r"""Logs the paper's diagnostics of a two-layer Leaky-ReLU network, epoch by epoch.

    Every quantity derives from the pre-activations H = X W^T and the labels, computed once per batch
    under ``torch.no_grad()`` in float64; torchmetrics states make every value exact under DDP (each
    process evaluates its own shard of the points, with no padding). The network is found with
    :func:`lt_teacher.two_layer_view` (or ``network_fn``), so any ``Linear -> LeakyReLU -> Linear``
    network works, with a fixed or a learned output layer. The callback only adapts Lightning's hooks: the
    evaluation is :class:`~lt_teacher.evaluator.DiagnosticsEvaluator` (:attr:`evaluator`), which a plain
    PyTorch or Fabric loop calls directly with the same results.

    Logged metrics (once per evaluation, against the epoch: to every logger in one row per epoch, and to
    ``trainer.callback_metrics`` for ``ModelCheckpoint``/``EarlyStopping``):

    ==========================================  ===========================================================
    key                                         meaning
    ==========================================  ===========================================================
    ``cluster/radius``                          r, the largest distance of a neuron from its group mean (sec. 5)
    ``cluster/radius_w``, ``cluster/radius_u``  the same per group
    ``cluster/mean_gap``                        ||w_bar - u_bar||
    ``cluster/radius_ratio``                    r / ||w_bar - u_bar|| (Figure 7a)
    ``cluster/max_angle_w``, ``..._u``          largest angle between two neurons of a group, radians (Fig. 7b)
    ``linear_region/outside_fraction/<split>``  share of points outside Theorem 5.1's region (Figure 2)
    ``linear_region/disagreement/<split>``      share with sign N(x) != sign((w_bar - u_bar) . x)
    ``nar/max_disagreement_w``, ``..._u``       max(n_diff) per group on the training points (Figure 9c)
    ``nar/agreement_fraction``                  share of training points where both groups agree with margin beta
    ``nar/agreement_fraction_w``, ``..._u``     the same per group
    ``nar/in_nar``                              1 if the network is in an NAR(beta) (Definition 6.2), else 0
    ``par/fraction_w``, ``par/fraction_u``      share of each group's neurons in the PAR(beta) (Def. 6.3, Fig. 8)
    ``margin/loss``, ``margin/log_loss``        training loss L (Eq. 2) and log L (finite when L underflows)
    ``margin/accuracy``                         training accuracy
    ``margin/normalized``                       Eq. (4)
    ``margin/smoothed``                         Eq. (5)
    ``margin/assumption_6_1``                   1 if L < 1/n
    ``margin/theorem_6_2_threshold``            sqrt(k) alpha v max ||x|| (Theorem 6.2 is stated for the fixed
                                                output layer; for a learned one it is computed with v = 1)
    ``margin/above_threshold``                  1 if the smoothed margin exceeds that threshold
    ==========================================  ===========================================================

    NAR, PAR and margin quantities use the training split; the linear region uses every split in ``splits``
    that the run has. Lightning logs in float32; :attr:`history` keeps every value in float64 and is
    saved in checkpoints, so a resumed run continues its curves.

    Args:
        groups: which diagnostics to compute, a subset of ``("cluster", "linear_region", "agreement", "par", "margin")``
            (one name or a sequence; ``"agreement"`` logs the ``nar/*`` keys, ``"par"`` the ``par/*`` keys).
        splits: splits for the linear region, a subset of ``("train", "val", "test")``; missing ones are skipped.
        every_n_epochs: evaluate after every n-th training epoch, and after the last one (``max_epochs``).
        max_samples: evaluate at most this many points per split (a fixed, seeded subset).
        beta: the margin of Definitions 6.2/6.3 (>= 0).
        data: optional ``{split: (x, y) | Dataset | DataLoader}`` instead of the trainer's data.
        batch_to_xy: turns a batch into ``(x, y)``; default: tuples ``(x, y, ...)`` and dicts with x/y keys.
        network_fn: returns the two-layer sub-module of the LightningModule to analyse.
        features: ``features(module, x)`` maps a batch of inputs to the inputs of the analysed two-layer
            head, e.g. ``lambda module, x: module.backbone(x)``: the paper's diagnostics of the last two
            layers of a deeper network on its learned features. Computed at every evaluation in eval mode
            without gradients (the features change as the backbone learns).
        output_fn: ``output_fn(module, x)`` returns the module's logit for inputs ``x`` (default
            ``module(x)``); used once, before the first training step, to verify that the analysed
            network (on ``features(module, x)`` if given) computes what the module computes.
        batch_size: evaluation batch size.
        sample_seed: seed of the ``max_samples`` subset.
        cache_limit_mb: tensor data (which cannot change between epochs) are prepared in float64 once and
            kept up to this size per split; other datasets are read at every evaluation.
        precision: the precision of the pre-activations (``DiagnosticsEvaluator``'s ``precision``):
            ``"float64"`` (default, every value exact), ``"float32"`` (about half the evaluation's cost) or
            ``"auto"`` (float32 for a float32 network). Every decision (each count, fraction and accuracy) and
            the normalized margin equal float64's in every mode (but for pre-activations within float64's own rounding
            of 0 or beta, see ``DiagnosticsEvaluator``); with float32 the loss and smoothed margin are
            float32-accurate, as the float32 network's own output is.

    Verification: before the first training step, on up to 256 training inputs per process (validation or
    test inputs in a run without training data; converted as the Trainer's precision converts a batch), the
    analysed network's N(x) must equal the module's output (``forward`` or ``output_fn``), and (without
    ``features``) the module may have no trainable parameter outside the analysed network; every batch
    of every split is checked (finite inputs, labels in {0, 1} or {-1, +1}); under DDP all processes
    decide together, so a problem on one rank stops every rank with the same error.

    Raises:
        ValueError: an argument is out of range (at construction); the network or the data do not fit
            (at ``setup`` / the start of training, with what was found and what is expected); the analysed
            network is not what the module computes (at the start of training); another monitor in the same
            Trainer logs some of the same keys (at ``setup``).

    Example:
        >>> from lightning.pytorch import Trainer
        >>> trainer = Trainer(callbacks=[LinearTeacherMonitor(every_n_epochs=5)], logger=False)  # doctest: +SKIP
    """

    def __init__(
        self,
        groups: Sequence[str] | None = None,
        *,
        splits: Sequence[str] = SPLITS,
        every_n_epochs: int = 1,
        max_samples: int | None = None,
        beta: float = 0.0,
        data: Mapping[str, Any] | None = None,
        batch_to_xy: BatchToXY | None = None,
        network_fn: NetworkFn | None = None,
        batch_size: int = 4096,
        sample_seed: int = 0,
        cache_limit_mb: float = 512.0,
        features: Features | None = None,
        output_fn: OutputFn | None = None,
        precision: str = "float64",
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self.evaluator = DiagnosticsEvaluator(
            groups, splits=splits, beta=beta, max_samples=max_samples, batch_size=batch_size, sample_seed=sample_seed,
            batch_to_xy=batch_to_xy, cache_limit_mb=cache_limit_mb, precision=precision, owner=owner,
        )
        check_int(every_n_epochs, "every_n_epochs", minimum=1, owner=owner)
        check_split_data(data, owner)
        self._set_network_arguments(owner, batch_to_xy=batch_to_xy, network_fn=network_fn, features=features, output_fn=output_fn)
        self.evaluator.batch_to_xy = self.batch_to_xy
        self.every_n_epochs = every_n_epochs
        self.data = data
        self.groups, self.splits, self.beta = self.evaluator.groups, self.evaluator.splits, self.evaluator.beta
        self.max_samples, self.batch_size, self.sample_seed = max_samples, batch_size, sample_seed
        self.cache_limit_mb = self.evaluator.cache_limit_mb
        self._fit_train: Any = None  # the training (dataset, collate) of the last fit, for validate/test without one

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(groups=self.groups, splits=self.splits, beta=self.beta)

    def _logged_families(self) -> set[str]:
        """The key families this monitor logs: a namespace, or ``linear_region/*/<split>``."""
        families = {f"{NAMESPACES[g]}/*" for g in self.groups if g != "linear_region"}
        if "linear_region" in self.groups:
            families |= {f"linear_region/*/{split}" for split in self.splits}
        return families

    def _check_no_shared_keys(self, trainer: Trainer) -> None:
        """Two monitors logging one key would be silently averaged by Lightning: refuse that."""
        for other in trainer.callbacks:  # type: ignore[attr-defined]
            if other is self or not isinstance(other, LinearTeacherMonitor):
                continue
            shared = sorted(self._logged_families() & other._logged_families())
            if shared:
                raise ValueError(
                    f"{type(self).__name__}{self.groups} and {type(other).__name__}{other.groups} both log {shared}; "
                    "Lightning would average the two values into one key. Use one monitor per diagnostic."
                )

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._check_no_shared_keys(trainer)
        view = self.view(pl_module)  # fails now, not after training, if the structure is unsupported
        self.evaluator.reset()
        self.evaluator.seed_metrics(0, view)
        define_epoch_axis(trainer, sorted({NAMESPACES[g] for g in self.groups}))

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        owner = type(self).__name__
        views = self._start_views(trainer, pl_module)
        if views is None:
            return
        head = None if self.features is None else partial(head_inputs, pl_module, self.features, owner=owner)
        self.evaluator.clear_data()  # a new fit may bring new data
        error: Exception | None = None
        sample: Tensor | None = None
        try:
            if self.evaluator.needs_data:
                datasets = self._datasets(trainer)
                sample = self.evaluator.load_datasets(
                    datasets, views[0], rank=trainer.global_rank, world_size=trainer.world_size, head=head,
                    skip_empty=self.data is None, require_train=trainer.state.fn == TrainerFn.FITTING,
                )
            else:  # a data-free monitor still verifies the network on a few training inputs
                sample = self._training_sample(trainer)
            if sample is None and "train" not in self.evaluator.sources:
                sample = self._training_sample(trainer)
        except (TypeError, ValueError) as err:
            error = err
        self._verify(trainer, pl_module, views, sample, error)

    def _datasets(self, trainer: Trainer) -> dict[str, Any]:
        """The splits to evaluate. In ``validate``/``test`` without training data in that call (e.g.
        ``trainer.test(model, dataloaders=...)`` after ``trainer.fit(model, train_loader)``), the training points
        this monitor read in the last fit; with none at all, only what needs no training data is evaluated."""
        owner = type(self).__name__
        datasets = resolve_datasets(trainer, self.data, self.evaluator.needed_splits(), owner)
        if trainer.state.fn == TrainerFn.FITTING:
            self._fit_train = datasets.get("train")
        elif "train" in self.evaluator.needed_splits() and "train" not in datasets:
            if self._fit_train is not None:
                datasets["train"] = self._fit_train
            elif {"agreement", "par", "margin"} & set(self.groups):
                rank_zero_warn(
                    f"{owner}: no training data in {getattr(trainer.state.fn, 'value', 'this run')} (nor from an earlier fit of this monitor): "
                    "the nar/*, par/* and margin/* keys, which are computed on the training points, are left out. Pass "
                    "a datamodule, or the points with `data={'train': (x, y)}`."
                )
        return datasets

    def _training_sample(self, trainer: Trainer) -> Tensor | None:
        """A few inputs of this process to verify the network: training inputs, else those of a split this run
        evaluates (``trainer.validate(model, dataloaders=...)`` on a fresh Trainer); None where none can be read."""
        owner = type(self).__name__
        for split in ("train", "val", "test"):
            try:
                datasets = resolve_datasets(trainer, self.data, (split,), owner)
                if split not in datasets:
                    continue
                dataset, collate = datasets[split]
                source: EvaluationSource = make_source(
                    split, dataset, collate, max_samples=None, sample_seed=self.sample_seed,
                    batch_size=min(self.batch_size, 256), rank=trainer.global_rank, world_size=trainer.world_size, owner=owner,
                )
                batch = next(iter(source.batches()), None)
                if batch is not None:
                    return batch_xy(self.batch_to_xy, batch)[0]
            except (TypeError, ValueError):
                continue
        return None

    @override
    @torch.no_grad()
    def compute(self, pl_module: LightningModule) -> dict[str, float]:
        """One evaluation: every selected diagnostic as a float64 Python float, identical on every process.

        One pass over the data: each batch is prepared once and every seed's pre-activations feed that
        seed's statistics (:class:`~lt_teacher.evaluator.DiagnosticsEvaluator`). With S > 1 seeds
        (``LeakyReLUTeacherNet(num_seeds=S)``) each key ``k`` is logged per seed as ``k/seed_<s>``, with the
        mean over seeds as ``k`` and the sample standard deviation (ddof 1) as ``k/std``. For a grid with
        replicates (:func:`lt_teacher.hyperparameter_grid` with ``seeds`` > 1), ``k/grid_<g>`` and
        ``k/grid_<g>/std`` are the mean and spread over the networks of setting g
        (:func:`lt_teacher.grid.grid_groups`); ``k`` then pools different settings.
        """
        return self.evaluator.compute(self._network(pl_module), decide=partial(decide_jointly, pl_module.trainer))
