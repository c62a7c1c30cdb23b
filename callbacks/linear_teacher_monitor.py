"""LinearTeacherMonitor: every diagnostic of the paper from one pass over the data per evaluation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor, nn
from torch.utils.data import TensorDataset
from typing_extensions import override

from lt_teacher._batch import default_batch_to_xy
from lt_teacher.functional._checks import check_beta, signed_labels
from lt_teacher.functional.clustering import cluster_radius, radius
from lt_teacher.functional.evaluation import evaluate_prepared
from lt_teacher.functional.margins import MarginStatisticsState, _margin_compute
from lt_teacher.grid import grid_groups
from lt_teacher.metrics import AgreementStatistics, LinearRegionStatistics, MarginStatistics, PARStatistics
from lt_teacher.view import TwoLayerView, num_seeds, two_layer_view

from ._checks import check_callable, check_int, check_subset
from ._data import SPLITS, BatchToXY, EvaluationSource, make_source, resolve_datasets
from ._history import EvaluationCallback
from ._verify import Features, OutputFn, decide_jointly, head_inputs, verify_network
from ._wandb import define_epoch_axis

GROUPS = ("cluster", "linear_region", "agreement", "par", "margin")
_NAMESPACES = {"cluster": "cluster", "linear_region": "linear_region", "agreement": "nar", "par": "par", "margin": "margin"}
_DATA_GROUPS = {"linear_region", "agreement", "par", "margin"}


def _combine_seeds(per_seed: list[dict[str, float]], groups: Sequence[Sequence[int]] = ()) -> dict[str, float]:
    """One seed: its values. Several: the mean under each key, ``/std`` the spread, ``/seed_<s>`` each seed.

    ``groups``: the replicates of each setting of a grid module (:func:`lt_teacher.grid.grid_groups`); when a
    setting has several networks, ``/grid_<g>`` and ``/grid_<g>/std`` are the mean and spread of group g.
    """
    if len(per_seed) == 1:
        return per_seed[0]
    combined: dict[str, float] = {}
    replicated = any(len(group) > 1 for group in groups)
    for key in per_seed[0]:
        column = torch.tensor([values[key] for values in per_seed], dtype=torch.float64)
        combined[key] = float(column.mean())
        combined[f"{key}/std"] = _spread(column)
        combined.update({f"{key}/seed_{s}": float(v) for s, v in enumerate(column)})
        if replicated:
            for g, group in enumerate(groups):
                part = column[list(group)]
                combined[f"{key}/grid_{g}"] = float(part.mean())
                combined[f"{key}/grid_{g}/std"] = _spread(part)
    return combined


def _spread(column: Tensor) -> float:
    """Sample standard deviation (ddof 1) of the finite entries; 0 for fewer than two."""
    finite = column[torch.isfinite(column)]
    return float(finite.std()) if finite.numel() > 1 else 0.0


class LinearTeacherMonitor(EvaluationCallback):
    r"""Logs the paper's diagnostics of a two-layer Leaky-ReLU network, epoch by epoch.

    Every quantity derives from the pre-activations H = X W^T and the labels, computed once per batch
    under ``torch.no_grad()`` in float64; torchmetrics states make every value exact under DDP (each
    process evaluates its own shard of the points, with no padding). The network is found with
    :func:`lt_teacher.two_layer_view` (or ``network_fn``), so any ``Linear -> LeakyReLU -> Linear``
    network works, with a fixed or a learned output layer.

    Logged metrics (``pl_module.log``, once per evaluation, against the epoch):

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

    Verification: before the first training step, on up to 256 training inputs per process, the
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
        network_fn: Callable[[LightningModule], nn.Module] | None = None,
        batch_size: int = 4096,
        sample_seed: int = 0,
        cache_limit_mb: float = 512.0,
        features: Features | None = None,
        output_fn: OutputFn | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        chosen = check_subset(GROUPS if groups is None else groups, "groups", GROUPS, owner)
        splits = check_subset(splits, "splits", SPLITS, owner)
        check_int(every_n_epochs, "every_n_epochs", owner)
        check_int(batch_size, "batch_size", owner)
        check_int(max_samples, "max_samples", owner, optional=True)
        check_int(sample_seed, "sample_seed", owner, minimum=0)
        if data is not None and not isinstance(data, Mapping):
            raise TypeError(f"{owner}: `data` must be a mapping {{split: (x, y)}}, got {type(data).__name__}.")
        if data is not None and (extra := [s for s in data if s not in SPLITS]):
            raise ValueError(f"{owner}: `data` has unknown splits {extra}; expected keys among {SPLITS}.")
        check_callable(batch_to_xy, "batch_to_xy", owner)
        check_callable(network_fn, "network_fn", owner)
        check_callable(features, "features", owner)
        check_callable(output_fn, "output_fn", owner)
        self.features = features
        self.output_fn = output_fn
        self.groups = chosen
        self.splits = splits
        self.every_n_epochs = every_n_epochs
        self.max_samples = max_samples
        try:
            self.beta = check_beta(beta)
        except (TypeError, ValueError) as err:  # name the callback, as every other argument error does
            raise type(err)(f"{owner}: {err}") from err
        self.data = data
        self.batch_to_xy = batch_to_xy or default_batch_to_xy
        self.network_fn = network_fn
        self.batch_size = batch_size
        self.sample_seed = sample_seed
        if isinstance(cache_limit_mb, bool) or not isinstance(cache_limit_mb, (int, float)) or cache_limit_mb < 0:
            raise ValueError(f"{owner}: `cache_limit_mb` must be a number >= 0, got {cache_limit_mb!r}.")
        self.cache_limit_mb = float(cache_limit_mb)
        self._prepared: dict[str, list[tuple[Tensor, Tensor, Tensor]]] = {}
        self._raw: dict[str, list[tuple[Tensor, Tensor]]] = {}
        self._sources: dict[str, EvaluationSource] = {}
        self._metrics: dict[int, dict[str, Any]] = {}  # per seed: metric states and the group sizes they fit

    @property
    @override
    def state_key(self) -> str:
        return self._generate_state_key(groups=self.groups, splits=self.splits, beta=self.beta)

    # ------------------------------------------------------------------ setup
    def _network(self, pl_module: LightningModule) -> nn.Module:
        return self.network_fn(pl_module) if self.network_fn is not None else pl_module

    def view(self, pl_module: LightningModule, seed: int = 0) -> TwoLayerView:
        """The analysed network (one seed of it) in the form of Eq. (1)."""
        return two_layer_view(self._network(pl_module), seed)

    def views(self, pl_module: LightningModule) -> list[TwoLayerView]:
        """One view per seed of a module that trains several networks (``num_seeds``)."""
        network = self._network(pl_module)
        return [two_layer_view(network, s) for s in range(num_seeds(network))]

    def _logged_families(self) -> set[str]:
        """The key families this monitor logs: a namespace, or ``linear_region/*/<split>``."""
        families = {f"{_NAMESPACES[g]}/*" for g in self.groups if g != "linear_region"}
        if "linear_region" in self.groups:
            families |= {f"linear_region/*/{split}" for split in self.splits}
        return families

    def _check_no_shared_keys(self, trainer: Trainer) -> None:
        """Two monitors logging one key would be silently averaged by Lightning: refuse that."""
        for other in trainer.callbacks:
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
        self._metrics = {}
        self._seed_metrics(0, view)
        define_epoch_axis(trainer, sorted({_NAMESPACES[g] for g in self.groups}))

    def _seed_metrics(self, seed: int, view: TwoLayerView) -> dict[str, Any]:
        """The metric states of one seed, (re)built when its group sizes change.

        With a learned output layer, a neuron whose output weight changes sign moves from one group to
        the other during training, so k_w and k_u are only known at evaluation time.
        """
        sizes = (view.w.shape[0], view.u.shape[0])
        entry = self._metrics.get(seed)
        if entry is None:
            entry = {"linear_region": {split: LinearRegionStatistics() for split in self.splits}}
            entry["margin"] = MarginStatistics()
            self._metrics[seed] = entry
        if entry.get("sizes") != sizes:
            entry["agreement"] = AgreementStatistics(*sizes, self.beta)
            entry["par"] = PARStatistics(*sizes, self.beta)
            entry["sizes"] = sizes
        return entry

    def _needed_splits(self) -> tuple[str, ...]:
        needed = set(self.splits) if "linear_region" in self.groups else set()
        if self.groups and set(self.groups) & {"agreement", "par", "margin"}:
            needed.add("train")
        return tuple(s for s in SPLITS if s in needed)

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._prepared, self._raw = {}, {}  # a new fit may bring new data
        self._sources = {}
        owner = type(self).__name__
        views = self.views(pl_module)
        error: Exception | None = None
        sample: Tensor | None = None
        try:
            if set(self.groups) & _DATA_GROUPS:
                self._sources = self._make_sources(trainer, self._needed_splits())
            else:  # a data-free monitor still verifies the network on a few training inputs
                sample = self._training_sample(trainer)
            for split, source in list(self._sources.items()):
                if source.total == 0:
                    if split == "train" or self.data is not None:
                        raise ValueError(f"{owner}: the {split} data is empty.")
                    del self._sources[split]  # the run's empty val/test split (e.g. n_test=0) is a missing split
                    continue
                first = self._read(source, pl_module, views[0])[2]  # reads and checks every batch of the shard
                if split == "train":
                    sample = first
            if sample is None and "train" not in self._sources:
                sample = self._training_sample(trainer)
        except (TypeError, ValueError) as err:
            error = err
        decide_jointly(trainer, error)
        verify_network(
            trainer, pl_module, self._network(pl_module), views, sample, features=self.features,
            output_fn=self.output_fn, owner=owner,
        )

    def _make_sources(self, trainer: Trainer, splits: tuple[str, ...], max_samples: int | None = -1) -> dict[str, EvaluationSource]:
        owner = type(self).__name__
        datasets = resolve_datasets(trainer, self.data, splits, owner)
        if "train" in splits and "train" not in datasets:
            raise ValueError(f"{owner}: found no training data to evaluate; pass `data={{'train': (x, y)}}`.")
        return {
            split: make_source(
                split, dataset, collate, max_samples=self.max_samples if max_samples == -1 else max_samples,
                sample_seed=self.sample_seed, batch_size=self.batch_size, rank=trainer.global_rank,
                world_size=trainer.world_size, owner=owner,
            )
            for split, (dataset, collate) in datasets.items()
        }

    def _training_sample(self, trainer: Trainer) -> Tensor | None:
        """A few training inputs of this process, to verify the network; None where none can be read."""
        try:
            source = self._make_sources(trainer, ("train",), max_samples=None)["train"]
            source.batch_size = min(source.batch_size, 256)
            batch = next(iter(source.batches()), None)
            return None if batch is None else self.batch_to_xy(batch)[0]
        except (TypeError, ValueError):
            return None

    def _read(
        self, source: EvaluationSource, pl_module: LightningModule, view: TwoLayerView, check_features: bool = True
    ) -> tuple[list[tuple[Tensor, Tensor]], list[tuple[Tensor, Tensor, Tensor]], Tensor | None]:
        """This process's batches of a split, every batch checked: with ``features`` (inputs as given, labels
        +-1), without it the prepared (float64 inputs, labels, norms); tensor data are cached. Also the
        inputs of the first batch as the loader gives them (for the network check)."""
        owner = type(self).__name__
        raw: list[tuple[Tensor, Tensor]] = []
        prepared: list[tuple[Tensor, Tensor, Tensor]] = []
        first: Tensor | None = None
        for batch in source.batches():
            try:
                x, y = self.batch_to_xy(batch)
                labels = signed_labels(y, x.shape[0])
                x64 = view.prepare_inputs(x) if self.features is None else x
            except (TypeError, ValueError) as err:
                raise type(err)(f"{owner}: the {source.split} data does not fit: {err}") from err
            first = x if first is None else first
            if x64.is_floating_point() and not bool(torch.isfinite(x64).all()):
                raise ValueError(f"{owner}: the {source.split} data contains NaN or Inf inputs; expected finite values.")
            if self.features is None:
                prepared.append((x64, labels.to(x64.device), x64.norm(dim=1)))
            else:
                raw.append((x, labels))
        kept = prepared if self.features is None else raw
        size_mb = sum(batch[0].numel() * batch[0].element_size() for batch in kept) / 2**20
        if isinstance(source.dataset, TensorDataset) and size_mb <= self.cache_limit_mb:
            if self.features is None:
                self._prepared[source.split] = prepared
            else:
                self._raw[source.split] = raw
        if self.features is not None and check_features:  # the head's inputs: width and finiteness on every batch
            for x, _ in raw:
                head_inputs(pl_module, self.features, x, view, owner)
        return raw, prepared, first

    # ------------------------------------------------------------- evaluation

    @torch.no_grad()
    def compute(self, pl_module: LightningModule) -> dict[str, float]:
        """One evaluation: every selected diagnostic as a float64 Python float, identical on every process.

        One pass over the data: each batch is prepared once and every seed's pre-activations feed that
        seed's statistics. With S > 1 seeds (``LeakyReLUTeacherNet(num_seeds=S)``) each key ``k`` is
        logged per seed as ``k/seed_<s>``, with the mean over seeds as ``k`` and the sample standard
        deviation (ddof 1) as ``k/std``. For a grid with replicates (:func:`lt_teacher.hyperparameter_grid`
        with ``seeds`` > 1), ``k/grid_<g>`` and ``k/grid_<g>/std`` are the mean and spread over the networks
        of setting g (:func:`lt_teacher.grid.grid_groups`); ``k`` then pools different settings.
        """
        views = self.views(pl_module)
        per_seed: list[dict[str, float]] = [{} for _ in views]
        if "cluster" in self.groups:
            for values, view in zip(per_seed, views):
                c = cluster_radius(view.w, view.u)
                values.update({f"cluster/{name}": float(getattr(c, name)) for name in c._fields})
        if set(self.groups) & _DATA_GROUPS:
            self._evaluate_data(pl_module, views, per_seed)
        return _combine_seeds(per_seed, grid_groups(self._network(pl_module)))

    def _evaluate_data(self, pl_module: LightningModule, views: list[TwoLayerView], per_seed: list[dict[str, float]]) -> None:
        radii = [radius(view.w, view.u) for view in views]
        norms = [(view.w.norm(dim=1), view.u.norm(dim=1)) for view in views]
        neurons = [torch.cat([view.w, view.u]) for view in views]
        for split, source in self._sources.items():
            error: Exception | None = None
            try:  # every process reads its points before any collective: a problem stops every rank alike
                batches = self._prepared_batches(source, pl_module, views[0])
            except (TypeError, ValueError) as err:
                error, batches = err, []
            decide_jointly(pl_module.trainer, error)
            metrics = [self._split_metrics(split, s, view) for s, view in enumerate(views)]
            for x64, labels, x_norm in batches:
                for view, seed_metrics, r, (w_norms, u_norms), stacked in zip(views, metrics, radii, norms, neurons):
                    evaluated = evaluate_prepared(x64, labels, x_norm, stacked, view.w.shape[0], view.alpha, view.v)
                    for name, metric in seed_metrics.items():
                        if name == "linear_region":
                            metric.update(evaluated, r, view.alpha)
                        elif name == "margin":
                            metric.update(evaluated)
                        else:
                            metric.update(evaluated, w_norms, u_norms)
            for values, view, seed_metrics in zip(per_seed, views, metrics):
                values.update(self._values(split, {name: m.compute() for name, m in seed_metrics.items()}, view))

    def _prepared_batches(
        self, source: EvaluationSource, pl_module: LightningModule, view: TwoLayerView
    ) -> list[tuple[Tensor, Tensor, Tensor]]:
        """This process's points of a split as (float64 head inputs, labels +-1, norms) batches.

        Tensor data cannot change between epochs, so their prepared batches are kept after the first
        evaluation (up to ``cache_limit_mb``); other datasets (which may transform at random) are read anew.
        With ``features`` the head's inputs are recomputed at every evaluation (the backbone learns).
        """
        if self.features is None and source.split in self._prepared:
            return self._prepared[source.split]
        raw = self._raw.get(source.split)
        if raw is None:
            raw, prepared, _ = self._read(source, pl_module, view, check_features=False)
            if self.features is None:
                return prepared
        batches = []
        for x, labels in raw:
            x64 = head_inputs(pl_module, self.features, x, view, type(self).__name__)
            batches.append((x64, labels.to(x64.device), x64.norm(dim=1)))
        return batches

    def _split_metrics(self, split: str, seed: int, view: TwoLayerView) -> dict[str, Any]:
        states = self._seed_metrics(seed, view)
        metrics: dict[str, Any] = {}
        if "linear_region" in self.groups and split in self.splits:
            metrics["linear_region"] = states["linear_region"][split]
        if split == "train":
            metrics.update({g: states[g] for g in ("agreement", "par", "margin") if g in self.groups})
        for metric in metrics.values():
            metric.reset()
            metric.to(view.w.device)
        return metrics

    def _values(self, split: str, computed: dict[str, Any], view: TwoLayerView) -> dict[str, float]:
        values: dict[str, float] = {}
        if "linear_region" in computed:
            outside, disagreement = computed["linear_region"]
            values[f"linear_region/outside_fraction/{split}"] = float(outside)
            values[f"linear_region/disagreement/{split}"] = float(disagreement)
        if "agreement" in computed:
            a = computed["agreement"]
            values.update({f"nar/{name}": float(getattr(a, name)) for name in a._fields})
        if "par" in computed:
            p = computed["par"]
            values.update({"par/fraction_w": float(p.fraction_w), "par/fraction_u": float(p.fraction_u)})
        if "margin" in computed:
            values.update(self._margin_values(computed["margin"], view))
        return values

    @staticmethod
    def _margin_values(stats: MarginStatisticsState, view: TwoLayerView) -> dict[str, float]:
        summary = _margin_compute(stats, view.param_norm, view.degree, view.group_size, view.alpha, view.v)
        return {f"margin/{name}": value for name, value in summary._asdict().items()}
