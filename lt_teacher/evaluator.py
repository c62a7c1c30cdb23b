"""DiagnosticsEvaluator: every diagnostic of the paper from one pass over the data, without a Trainer.

The layers: :mod:`lt_teacher.functional` holds every formula, :mod:`lt_teacher.metrics` accumulates its
sufficient statistics, this evaluator reads the data (capped, sharded, cached), computes the pre-activations and
every statistic once per batch (float64, or float32 with float64's decisions: ``precision``), feeds every network's
metrics (or computes a one-batch split on one process directly) and combines the networks of a multi-seed module;
the monitors of :mod:`lt_teacher.callbacks` only adapt Lightning's hooks to it. A plain PyTorch or Fabric loop::

    evaluator = DiagnosticsEvaluator(beta=0.0)
    evaluator.load({"train": (x, y)}, net)      # reads and checks the points once
    for epoch in range(epochs):
        ...                                     # train
        values = evaluator.compute(net)         # {"margin/smoothed": ..., "nar/in_nar": ..., ...}

Under ``torch.distributed`` each process passes its ``rank`` and ``world_size`` to :meth:`load`, evaluates
its own shard, and the torchmetrics states make every value exact and identical on every process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset

from lt_teacher._validation import check_choice, check_int, check_optional_int, check_subset
from lt_teacher._batch import default_batch_to_xy
from lt_teacher._sources import Collate, datasets_from_data
from lt_teacher.evaluation_data import SPLITS, BatchToXY, EvaluationSource, check_loaded_network, check_split_data, make_source, read_split
from lt_teacher.functional._checks import check_beta
from lt_teacher.functional._numerics import row_norms
from lt_teacher.functional.clustering import cluster_radius, radius
from lt_teacher.functional.evaluation import BatchStatistics, evaluate_statistics
from lt_teacher.functional.fast_evaluation import FastInputs, evaluate_fast, fast_inputs
from lt_teacher.functional.margins import MarginStatisticsState, _margin_compute
from lt_teacher.grid import combine_seeds, grid_groups
from lt_teacher.metrics import AgreementStatistics, LinearRegionStatistics, MarginStatistics, PARStatistics, compute_statistics
from lt_teacher.view import TwoLayerView, seed_views, two_layer_view

__all__ = ["DATA_GROUPS", "GROUPS", "NAMESPACES", "PRECISIONS", "DiagnosticsEvaluator", "combine_seeds"]

GROUPS = ("cluster", "linear_region", "agreement", "par", "margin")
NAMESPACES = {"cluster": "cluster", "linear_region": "linear_region", "agreement": "nar", "par": "par", "margin": "margin"}
DATA_GROUPS = frozenset({"linear_region", "agreement", "par", "margin"})
PRECISIONS = ("auto", "float32", "float64")
Head = Callable[[Tensor, TwoLayerView], Tensor]  # raw inputs -> float64 inputs of the analysed head
Decide = Callable[[Exception | None], None]  # makes every process raise alike (a no-op barrier on one process)


def _distributed() -> bool:  # whether torchmetrics would reduce the metric states across processes
    return torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1


def _raise_if(error: Exception | None) -> None:
    if error is not None:
        raise error


def _margin_values(stats: MarginStatisticsState, view: TwoLayerView) -> dict[str, float]:
    summary = _margin_compute(stats, view.param_norm, view.degree, view.group_size, view.alpha, view.v)
    return {f"margin/{name}": value for name, value in summary._asdict().items()}


class DiagnosticsEvaluator:
    """The diagnostics of :class:`~lt_teacher.callbacks.LinearTeacherMonitor` for any training loop.

    Args:
        groups: which diagnostics, a subset of ``("cluster", "linear_region", "agreement", "par", "margin")``.
        splits: splits for the linear region, a subset of ``("train", "val", "test")``.
        beta: the margin of Definitions 6.2/6.3 (>= 0).
        max_samples: evaluate at most this many points per split (a fixed, seeded subset).
        batch_size: evaluation batch size.
        sample_seed: seed of the ``max_samples`` subset.
        batch_to_xy: turns a batch into ``(x, y)``; default: tuples ``(x, y, ...)`` and dicts with x/y keys.
        cache_limit_mb: tensor data are prepared in float64 once and kept up to this size per split.
        precision: how the pre-activations H = X W^T are computed. Every count, fraction and accuracy and the
            normalized margin are the float64 ones in every mode, except where a pre-activation (or a Theorem 5.1
            comparison) is within float64's own rounding of its threshold (|w . x| below about d 2^-53 ||w|| ||x||):
            neither pass is exact there (a dot product in order vs a matrix product) and the two may differ.
            ``"float64"`` (default): H in float64, every value exact to float64 rounding.
            ``"float32"``: H in float32 with a rigorous bound on its error; the entries and points that bound
            cannot settle are computed in float64 (:func:`~lt_teacher.functional.fast_evaluation.evaluate_fast`),
            at about half the cost on a CPU. The loss, log loss and smoothed margin are then float32-accurate,
            |log(n L) - log(n L)_64| <= max_i of the bound of
            :func:`~lt_teacher.functional.fast_evaluation.output_error_bound` (about d 2^-24 ||x|| sum_j ||w_j||
            v), as accurate as a float32 network's own output. Batches where float32 settles too few points
            go through float64 alone.
            ``"auto"``: as the network itself computes, ``"float32"`` for a network whose weights are float32
            (or narrower), ``"float64"`` otherwise.
        owner: the name errors start with.

    The keys :meth:`compute` returns are those of :class:`~lt_teacher.callbacks.LinearTeacherMonitor`'s table.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(2, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1, bias=False))
        >>> with torch.no_grad():
        ...     _ = net[2].weight.copy_(torch.tensor([[1.0, -1.0, 1.0, -1.0]]))
        >>> evaluator = DiagnosticsEvaluator(("margin",))
        >>> _ = evaluator.load({"train": (torch.randn(8, 2), torch.randint(0, 2, (8,)))}, net)
        >>> sorted(evaluator.compute(net))[:3]
        ['margin/above_threshold', 'margin/accuracy', 'margin/assumption_6_1']
    """

    def __init__(
        self,
        groups: Sequence[str] | None = None,
        *,
        splits: Sequence[str] = SPLITS,
        beta: float = 0.0,
        max_samples: int | None = None, batch_size: int = 4096, sample_seed: int = 0,  # which points, how many at a time
        batch_to_xy: BatchToXY | None = None,
        cache_limit_mb: float = 512.0,
        precision: str = "float64",
        owner: str | None = None,
    ) -> None:
        owner = owner or type(self).__name__
        self.owner = owner
        self.groups = check_subset(GROUPS if groups is None else groups, "groups", GROUPS, owner=owner)
        self.splits = check_subset(splits, "splits", SPLITS, owner=owner)
        check_int(batch_size, "batch_size", minimum=1, owner=owner)
        check_optional_int(max_samples, "max_samples", minimum=1, owner=owner)
        check_int(sample_seed, "sample_seed", minimum=0, owner=owner)
        try:
            self.beta = check_beta(beta)
        except (TypeError, ValueError) as err:  # name the owner, as every other argument error does
            raise type(err)(f"{owner}: {err}") from err
        if isinstance(cache_limit_mb, bool) or not isinstance(cache_limit_mb, (int, float)) or cache_limit_mb < 0:
            raise ValueError(f"{owner}: `cache_limit_mb` must be a number >= 0, got {cache_limit_mb!r}.")
        self.precision = check_choice(precision, "precision", PRECISIONS, owner=owner)
        self.max_samples = max_samples
        self.batch_size = batch_size
        self.sample_seed = sample_seed
        self.batch_to_xy = batch_to_xy or default_batch_to_xy
        self.cache_limit_mb = float(cache_limit_mb)
        self.sources: dict[str, EvaluationSource] = {}
        self._head: Head | None = None
        self._prepared: dict[str, list[tuple[Tensor, Tensor, Tensor]]] = {}
        self._raw: dict[str, list[tuple[Tensor, Tensor]]] = {}
        self._float32: dict[int, FastInputs] = {}  # the float32 pass: float32 copies of cached batches, by id
        self._metrics: dict[int, dict[str, Any]] = {}  # per seed: metric states and the group sizes they fit
        self._loaded_for: tuple[int, bool] | None = None  # (input_dim, bias) of the network the data were loaded for

    @property
    def needs_data(self) -> bool:
        """Whether any chosen diagnostic is evaluated on points (all but ``"cluster"``)."""
        return bool(set(self.groups) & DATA_GROUPS)

    def needed_splits(self) -> tuple[str, ...]:
        """The splits the chosen diagnostics read: ``splits`` for the linear region, ``"train"`` for the rest."""
        needed = (set(self.splits) if "linear_region" in self.groups else set()) | ({"train"} if set(self.groups) & {"agreement", "par", "margin"} else set())
        return tuple(s for s in SPLITS if s in needed)

    def reset(self) -> None:
        """Forget the data and the metric states (a new run)."""
        self.clear_data()
        self._metrics = {}

    def clear_data(self, head: Head | None = None) -> None:
        """Forget the sources and the cached batches (new data may come)."""
        self.sources, self._prepared, self._raw, self._head, self._float32, self._loaded_for = {}, {}, {}, head, {}, None

    # ------------------------------------------------------------------ data
    def load(
        self, data: Mapping[str, Any], network: nn.Module, *, rank: int = 0, world_size: int = 1, head: Head | None = None
    ) -> Tensor | None:
        """Read and check ``{split: (x, y) | Dataset | DataLoader}`` for ``network`` (see :meth:`load_datasets`)."""
        check_split_data(data, self.owner)
        datasets = datasets_from_data(data, self.needed_splits(), self.owner)
        return self.load_datasets(datasets, two_layer_view(network), rank=rank, world_size=world_size, head=head)

    def load_datasets(
        self,
        datasets: Mapping[str, tuple[Dataset, Collate | None]],
        view: TwoLayerView,
        *,
        rank: int = 0,
        world_size: int = 1,
        head: Head | None = None,
        skip_empty: bool = False,
        require_train: bool = True,
    ) -> Tensor | None:
        """Take this process's shard of every needed split and read it once, checking every batch.

        Args:
            datasets: ``{split: (dataset, collate_fn)}``; ``"train"`` is required by every diagnostic but the
                cluster radius and the linear region.
            view: the analysed network (its input width and bias coordinate prepare the inputs).
            rank, world_size: this process's shard (every ``world_size``-th point from ``rank``).
            head: ``head(x, view)`` returns the float64 inputs of the analysed head for raw inputs ``x`` (a
                learned backbone), recomputed at every evaluation; default ``view.prepare_inputs(x)``.
            skip_empty: drop an empty split other than ``"train"`` instead of raising.
            require_train: without training data, raise (default) or leave out the keys computed on it
                (``nar/*``, ``par/*``, ``margin/*``).

        Returns:
            The inputs of this process's first training batch as the data gives them (None without them).
        """
        self.clear_data(head)
        if require_train and "train" in self.needed_splits() and "train" not in datasets:
            raise ValueError(f"{self.owner}: found no training data to evaluate; pass `data={{'train': (x, y)}}`.")
        for split, (dataset, collate) in datasets.items():
            self.sources[split] = make_source(
                split, dataset, collate, max_samples=self.max_samples, sample_seed=self.sample_seed,
                batch_size=self.batch_size, rank=rank, world_size=world_size, owner=self.owner,
            )
        sample: Tensor | None = None
        for split, source in list(self.sources.items()):
            if source.total == 0:
                if split == "train" or not skip_empty:
                    raise ValueError(f"{self.owner}: the {split} data is empty.")
                del self.sources[split]  # a run's empty val/test split (e.g. n_test=0) is a missing split
                continue
            first = self._read(source, view)[2]  # reads and checks every batch of the shard
            if split == "train":
                sample = first
        self._loaded_for = (view.input_dim, view.bias)
        return sample

    def _read(
        self, source: EvaluationSource, view: TwoLayerView, check_head: bool = True
    ) -> tuple[list[tuple[Tensor, Tensor]], list[tuple[Tensor, Tensor, Tensor]], Tensor | None]:
        """:func:`~lt_teacher.evaluation_data.read_split`, keeping tensor data (which cannot change) in a cache."""
        raw, prepared, first = read_split(source, self.batch_to_xy, view.prepare_inputs if self._head is None else None, self.owner)
        kept: list[Any] = prepared if self._head is None else raw
        size_mb = sum(batch[0].numel() * batch[0].element_size() for batch in kept) / 2**20
        if isinstance(source.dataset, TensorDataset) and size_mb <= self.cache_limit_mb:
            if self._head is None:
                self._prepared[source.split] = prepared
            else:
                self._raw[source.split] = raw
        if self._head is not None and check_head:  # the head's inputs: width and finiteness on every batch
            for x, _ in raw:
                self._head(x, view)
        return raw, prepared, first

    def _prepared_batches(self, source: EvaluationSource, view: TwoLayerView) -> list[tuple[Tensor, Tensor, Tensor]]:
        """This process's points of a split as (float64 head inputs, labels +-1, norms) batches."""
        if self._head is None and source.split in self._prepared:
            return self._prepared[source.split]
        raw = self._raw.get(source.split)
        if raw is None:
            raw, prepared, _ = self._read(source, view, check_head=False)
            if self._head is None:
                return prepared
        batches = []
        for x, labels in raw:
            x64 = self._head(x, view)  # type: ignore[misc]  # raw batches exist only with a head
            batches.append((x64, labels.to(x64.device), row_norms(x64)))
        return batches

    # ------------------------------------------------------------- evaluation
    @torch.no_grad()
    def compute(self, network: nn.Module, *, decide: Decide | None = None) -> dict[str, float]:
        """One evaluation of ``network``: every chosen diagnostic as a float64 Python float.

        With S > 1 seeds (``LeakyReLUTeacherNet(num_seeds=S)``) each key ``k`` is returned per seed as ``k/seed_<s>``,
        with their mean as ``k`` and sample standard deviation as ``k/std`` (``k/grid_<g>``: :func:`combine_seeds`); a
        network training has broken (:class:`~lt_teacher.view.NetworkStateError`) is NaN, with a warning.

        Args:
            network: the module that is or holds the analysed two-layer network (:func:`lt_teacher.two_layer_view`).
            decide: called on every process with the error of reading a split (or None) before any collective,
                so that a problem on one process stops all of them alike; default: raise it.

        Raises:
            RuntimeError: a diagnostic on data is chosen but no data is loaded (:meth:`load`).
            ValueError: ``network`` has another input width or bias than the loaded one; NetworkStateError: no network
                can be analysed.
        """
        every = seed_views(network)  # None for a network training has broken (NaN): its keys are NaN
        views = [view for view in every if view is not None]
        if self.needs_data:
            chosen = [g for g in self.groups if g in DATA_GROUPS]
            check_loaded_network(self._loaded_for, (views[0].input_dim, views[0].bias), chosen, self.owner)
        per_seed: list[dict[str, float]] = [{} for _ in views]
        radii: list[Tensor] = []
        if "cluster" in self.groups:
            for values, view in zip(per_seed, views):
                c = cluster_radius(view.w, view.u)
                values.update({f"cluster/{name}": float(getattr(c, name)) for name in c._fields})
                radii.append(c.radius)
        if self.needs_data:
            radii = radii or [radius(view.w, view.u) for view in views]
            self._evaluate_data(views, per_seed, decide or _raise_if, radii)
        rows, broken = iter(per_seed), dict.fromkeys(per_seed[0], math.nan)
        return combine_seeds([next(rows) if view else dict(broken) for view in every], grid_groups(network))

    def _evaluate_data(
        self, views: list[TwoLayerView], per_seed: list[dict[str, float]], decide: Decide, radii: list[Tensor]
    ) -> None:
        neurons = [view.neurons for view in views]
        for split, source in self.sources.items():
            error: Exception | None = None
            try:  # every process reads its points before any collective: a problem stops every rank alike
                batches = self._prepared_batches(source, views[0])
            except (TypeError, ValueError) as err:
                error, batches = err, []
            decide(error)
            if len(batches) == 1 and batches[0][1].shape[0] > 0 and not _distributed():  # no metric state needed
                x64, labels, x_norm = batches[0]
                for values, view, r, stacked in zip(per_seed, views, radii, neurons):
                    wanted = self._split_groups(split)
                    statistics = self._batch_statistics(x64, labels, x_norm, stacked, view, r, wanted)
                    values.update(self._values(split, compute_statistics(statistics, self.beta), view))
                continue
            metrics = [self._split_metrics(split, s, view) for s, view in enumerate(views)]
            for x64, labels, x_norm in batches:
                for view, seed_metrics, r, stacked in zip(views, metrics, radii, neurons):
                    statistics = self._batch_statistics(x64, labels, x_norm, stacked, view, r, seed_metrics)
                    for name, metric in seed_metrics.items():
                        metric.update(getattr(statistics, name))
            for values, view, seed_metrics in zip(per_seed, views, metrics):
                values.update(self._values(split, {name: m.compute() for name, m in seed_metrics.items()}, view))

    def _batch_statistics(
        self, x64: Tensor, labels: Tensor, x_norm: Tensor, neurons: Tensor, view: TwoLayerView, r: Tensor,
        metrics: Collection[str],
    ) -> BatchStatistics:
        """The statistics of one batch for ``metrics``: from float64 pre-activations, or float32 ones with
        float64's decisions (:meth:`uses_float32`)."""
        k_w = view.w.shape[0]
        radius = r if "linear_region" in metrics else None
        parts = {name: name in metrics for name in ("agreement", "par", "margin")}
        if not self.uses_float32(view):
            return evaluate_statistics(x64, labels, x_norm, neurons, k_w, view.alpha, view.v, radius=radius, beta=self.beta, **parts)[0]
        prepared = self._float32.get(id(x64))
        if prepared is None:
            prepared = fast_inputs(x64)
            if any(x64 is batch[0] for batches in self._prepared.values() for batch in batches):
                self._float32[id(x64)] = prepared  # a cached batch: the same tensor at every evaluation
        return evaluate_fast(
            x64, prepared, labels, x_norm, neurons, k_w, view.alpha, view.v, radius=radius, beta=self.beta, **parts
        ).statistics

    def uses_float32(self, view: TwoLayerView) -> bool:
        """Whether the pre-activations of ``view``'s network are computed in float32 (see ``precision``)."""
        if self.precision == "auto":
            return view.dtype.itemsize <= 4
        return self.precision == "float32"

    def seed_metrics(self, seed: int, view: TwoLayerView) -> dict[str, Any]:
        """The metric states of one seed, (re)built when its group sizes change.

        They accumulate a split read in several batches, or on several processes; a split in one batch on
        one process is computed without them (:func:`~lt_teacher.metrics.compute_statistics`), so after
        :meth:`compute` they hold the last such split's states only in those cases.

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

    def _split_groups(self, split: str) -> tuple[str, ...]:
        """The diagnostics evaluated on ``split``: the linear region on every chosen split, the rest on train."""
        region = ("linear_region",) if "linear_region" in self.groups and split in self.splits else ()
        others = tuple(g for g in ("agreement", "par", "margin") if g in self.groups) if split == "train" else ()
        return region + others

    def _split_metrics(self, split: str, seed: int, view: TwoLayerView) -> dict[str, Any]:
        states = self.seed_metrics(seed, view)
        metrics: dict[str, Any] = {}
        for group in self._split_groups(split):
            metrics[group] = states["linear_region"][split] if group == "linear_region" else states[group]
        for metric in metrics.values():
            metric.reset()
            if metric.device != view.w.device:
                metric.to(view.w.device)
        return metrics

    @staticmethod
    def _values(split: str, computed: dict[str, Any], view: TwoLayerView) -> dict[str, float]:
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
            values.update(_margin_values(computed["margin"], view))
        return values
