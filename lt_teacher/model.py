"""The paper's network as a LightningModule: two layers, Leaky ReLU, a fixed +-v output layer (Eq. 1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn
from torchmetrics import MeanMetric
from typing_extensions import override

from lt_teacher._batch import default_batch_to_xy
from lt_teacher._checkpoints import prepare_checkpoint_load
from lt_teacher._chunk_plan import ChunkPlan, check_per_example_run, make_chunk_plan, resolve_engine, warn_small_chunks
from lt_teacher._epoch_logging import EpochValueLogger
from lt_teacher._validation import all_finite, check_bool, check_int, check_positive, check_slope
from lt_teacher.engines import EpochOrder
from lt_teacher.engines._contract import CheckedEngine, per_network
from lt_teacher.functional._checks import signed_labels
from lt_teacher.functional.network import append_bias_coordinate, leaky_relu, logistic_loss, output_from_activations
from lt_teacher.functional.network import signed_output_weights
from lt_teacher.grid import resolve_num_networks


class LeakyReLUTeacherNet(LightningModule):
    """N(x) = v sum_i sigma(w_i . x) - v sum_i sigma(u_i . x), sigma(z) = max(z, alpha z) (Eq. 1).

    Only the first layer ``weight`` (2k x d, rows 0..k-1 the w-neurons, rows k..2k-1 the u-neurons) is
    trained; the output layer (+v for w-neurons, -v for u-neurons) is a buffer, never a parameter.
    Trained by plain SGD on the logistic loss l(q) = log(1 + exp(-q)), q = y N(x) (Eq. 2), with labels
    in {0, 1} or {-1, +1}.

    Args:
        input_dim: d, the width of the inputs (images are flattened).
        k: neurons per group (2k hidden units).
        alpha: Leaky-ReLU slope, 0 < alpha < 1. Not stated in the paper; 0.1 by default.
        v: the fixed output weight, > 0.
        init_std: standard deviation of the Gaussian initialization of W (the paper's
            "initialization scale": 0.001 small, 30 large in Figure 1).
        lr: SGD learning rate eta.

            ``alpha``, ``v``, ``init_std`` and ``lr`` each take one value (shared by every network) or a
            list with one value per network: a grid of S networks trained side by side in one module
            (see :func:`lt_teacher.hyperparameter_grid`), each exactly as it would train alone with the
            same initialization and visiting order. :meth:`network_hparams` gives network s's values.
        bias: learn a first-layer bias exactly as supplementary 8.1: every input is extended by a
            constant 1 and W gets one more column.

        engine: how training updates W.
            ``"fused"`` (default): the paper's SGD exactly: batch size 1, epochs without replacement, a fresh
            seeded permutation per epoch and seed (:class:`~lt_teacher.engines.EpochOrder`), run by a compiled
            loop (:func:`~lt_teacher.engines.fused_sgd_steps`) over the training set held as tensors. The
            DataLoader only paces the steps: each Lightning step runs the next ceil(n / num_training_batches) updates.
            ``"reference"``: the same algorithm with one autograd forward/backward per example
            (:func:`~lt_teacher.engines.reference_sgd_steps`; slow, the reference the fused loop is tested against).
            ``"lightning"``: Lightning's automatic optimization on the loader's batches (mean loss per
            batch; with a shuffling ``batch_size=1`` loader this is the paper's SGD in the loader's order).
            Its old name ``"autograd"`` still works, with a ``DeprecationWarning``.
        num_seeds: S independent networks trained side by side (own initialization; own permutation
            unless ``shared_order``). ``weight`` then has shape (S, 2k, d). Under DDP with the fused or
            reference engine the seeds are divided among the processes; on one CPU process the fused
            engine spreads them over numba's threads (bit-identical to one thread). Default: the length
            of the hyper-parameters given as lists, else 1.
        shared_order: all seeds visit the examples in the same order.
        order_seed: seed of the per-epoch permutations (fused and reference engines).

    Logged once per epoch: ``train/loss``, the mean loss of the epoch's per-example steps over every seed and
    process (fused, reference) or over the epoch's points (``engine="lightning"``, also ``train/acc``); ``val/loss``,
    ``val/acc``, ``test/*`` (means over every process's points). The per-example engines log ``train/loss`` as
    ``self.log(on_epoch=True, prog_bar=True)`` would, through :class:`lt_teacher._epoch_logging.EpochValueLogger`.

    Checkpoints hold the permutation state and the global torch RNG state: a run resumed from any checkpoint ends
    with the W of an uninterrupted one (``engine="lightning"``: from one at an epoch's end). A Trainer refuses a
    checkpoint of other arguments, one its precision would round, and a mid-epoch one whose loader paces the epoch
    otherwise; ``load_from_checkpoint`` gives the weights back in their saved dtype.

    Raises:
        TypeError, ValueError: an argument has the wrong type or lies outside its range.
    Example:
        >>> import torch
        >>> net = LeakyReLUTeacherNet(input_dim=2, k=3)
        >>> net(torch.zeros(4, 2)).shape
        torch.Size([4])
        >>> LeakyReLUTeacherNet(input_dim=2, k=3, num_seeds=5).weight.shape
        torch.Size([5, 6, 2])
    """

    output_weights: Tensor  # buffer, (2k,) or (S, 2k)

    #: Set on every step (Lightning sets ``_current_fx_name`` ~40 times per epoch), never a parameter, buffer or module.
    _PLAIN_ATTRIBUTES = frozenset({"_current_fx_name", "_epoch_loss_sum", "_epoch_steps", "_order_epoch"})

    def __init__(
        self,
        input_dim: int,
        k: int = 50,
        alpha: float | list[float] = 0.1,
        v: float | list[float] = 1.0,
        init_std: float | list[float] = 1e-3,
        lr: float | list[float] = 1e-2,
        bias: bool = False, engine: str = "fused",
        num_seeds: int | None = None, shared_order: bool = False, order_seed: int = 0,  # the seeds and their orders
    ) -> None:
        super().__init__()
        input_dim, k = check_int(input_dim, "input_dim", minimum=1), check_int(k, "k", minimum=1)
        per_net = {"alpha": alpha, "v": v, "init_std": init_std, "lr": lr}
        num_seeds = resolve_num_networks(per_net, num_seeds)
        checks: dict[str, Callable[[object, str], float]] = {"alpha": check_slope, "v": check_positive}
        self._per_network: dict[str, tuple[float, ...]] = {  # one value per network
            name: per_network(value, name, num_seeds, checks.get(name, check_positive)) for name, value in per_net.items()
        }
        bias, shared_order = check_bool(bias, "bias"), check_bool(shared_order, "shared_order")
        engine = resolve_engine(engine)  # hparams hold the current name
        order_seed = check_int(order_seed, "order_seed", minimum=0)
        self.save_hyperparameters()
        self.hparams.update(num_seeds=num_seeds, engine=engine)  # S, also when left to the lists; the resolved engine (CLI)
        self.automatic_optimization = engine == "lightning"
        width = input_dim + (1 if bias else 0)
        stds = self._per_network["init_std"]
        scale = stds[0] if len(set(stds)) == 1 else torch.tensor(stds).view(-1, 1, 1)
        self.weight = nn.Parameter(torch.randn(num_seeds, 2 * k, width) * scale)  # (S, 2k, d[+1])
        if not all_finite(self.weight.detach()):
            raise ValueError(f"`init_std` {max(stds):g} overflows float32 weights (|w| > 3.4e38); expected init_std below about 1e37.")
        self._set_output_weights()  # fixed: (2k,) when the networks share v, else (S, 2k), one row per network
        self._train_x: Tensor | None = None  # (n, d[+1]) training inputs for the per-example engines
        self._train_y: Tensor | None = None  # (n,) labels +-1
        self._order: EpochOrder | None = None
        self._epoch_order: Tensor | None = None  # (S, n) visiting order of the current epoch
        self._order_epoch = -1  # the epoch _epoch_order belongs to
        self._pending_order_state: dict[str, Any] | None = None
        self._resumed_position: int | None = None  # where in its epoch a resumed fit's checkpoint left the SGD
        self._epoch_loss_sum, self._epoch_steps = 0.0, 0  # sum of the per-step losses this epoch, and their number
        self._plan: ChunkPlan | None = None
        self._engine: CheckedEngine | None = None  # the plan's engine on the training set, checked once per plan
        self._train_loss = EpochValueLogger("train/loss", prog_bar=True)  # the per-example engines' epoch loss
        self._eval_means = nn.ModuleDict({f"{s}_{q}": MeanMetric(nan_strategy="disable").set_dtype(torch.float64) for s in ("val", "test") for q in ("loss", "acc")})

    @override
    def __setattr__(self, name: str, value: Any) -> None:
        """``nn.Module.__setattr__`` ends in ``object.__setattr__`` for these: called directly (1.5 us less per call)."""
        if name in self._PLAIN_ATTRIBUTES and not isinstance(value, (Tensor, nn.Module)):
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def _set_output_weights(self) -> None:
        """The buffer ``output_weights``: the hparams' v built in float64 (which holds every v) and rounded once to the
        buffer's dtype (at first the weights'), never a cast of an earlier rounding (float32's 1.7 is 1.70000005)."""
        vs, current = self._per_network["v"], self._buffers.get("output_weights")
        exact = signed_output_weights(self.hparams["k"], vs[0] if len(set(vs)) == 1 else list(vs), dtype=torch.float64)
        if current is None:
            self.register_buffer("output_weights", exact.to(self.weight.dtype))
        elif current.is_floating_point():
            current.copy_(exact)  # in place, on the buffer's device

    @override
    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> LeakyReLUTeacherNet:
        """``nn.Module._apply`` (``.to``, ``.double()``, ``.half()``, ``.cuda()``...), then the exact output layer."""
        super()._apply(fn, recurse)
        self._set_output_weights()
        return self

    @override
    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        """Load as ``nn.Module`` does, then the exact output layer (a state of another dtype holds a rounded v; one of another v is refused)."""
        saved, _ = state_dict.get(prefix + "output_weights"), super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._set_output_weights()
        if isinstance(saved, Tensor) and saved.shape == self.output_weights.shape and not torch.allclose(saved.to(self.output_weights), self.output_weights, rtol=1e-3, atol=0.0):
            raise ValueError(f"The state's output layer is +-{float(saved.abs().max()):g}, this network's v = {self.hparams['v']}: build it with that v.")

    @property
    def w(self) -> Tensor:
        """The w-neurons (output weight +v) of every seed, shape (S, k, d[+1])."""
        return self.weight[:, : self.hparams["k"]]

    @property
    def u(self) -> Tensor:
        """The u-neurons (output weight -v) of every seed, shape (S, k, d[+1])."""
        return self.weight[:, self.hparams["k"] :]

    def network_hparams(self, network: int) -> dict[str, float]:
        """The hyper-parameters of network ``network`` (0 <= network < S): ``alpha``, ``v``, ``init_std``, ``lr``.

        Example:
            >>> net = LeakyReLUTeacherNet(input_dim=2, k=3, alpha=[0.1, 0.2], lr=0.5)
            >>> net.network_hparams(1)
            {'alpha': 0.2, 'v': 1.0, 'init_std': 0.001, 'lr': 0.5}
        """
        count = self.hparams["num_seeds"]
        if check_int(network, "network", minimum=0) >= count:
            raise ValueError(f"`network` must be an int in [0, {count}) for a module of {count} networks, got {network!r}.")
        return {name: values[network] for name, values in self._per_network.items()}

    @property
    def reads_training_batches(self) -> bool:
        """Whether training reads the loader's batches: only ``engine="lightning"``. The per-example engines read the training
        set once, in their own order (:class:`~lt_teacher.engines.EpochOrder`); the loader only paces their steps."""
        return self.hparams["engine"] == "lightning"

    @property
    def is_grid(self) -> bool:
        """Whether the networks of this module differ in a hyper-parameter (alpha, v, init_std or lr)."""
        return any(len(set(values)) > 1 for values in self._per_network.values())

    def prepare_inputs(self, x: Tensor) -> Tensor:
        """Flatten to (n, input_dim), check the values are finite, append the bias coordinate if any."""
        d = self.hparams["input_dim"]
        if not isinstance(x, Tensor):
            raise TypeError(f"Inputs must be a torch.Tensor, got {type(x).__name__}.")
        x = x.unsqueeze(0) if x.ndim == 1 else x
        if x.ndim < 2 or x[0].numel() != d:
            raise ValueError(f"Inputs must have input_dim={d} features per example, got shape {tuple(x.shape)}.")
        x = x.reshape(x.shape[0], d).to(self.weight.dtype)
        if not all_finite(x):
            raise ValueError("Inputs contain NaN or Inf values; every feature must be finite.")
        return append_bias_coordinate(x) if self.hparams["bias"] else x

    def forward_all_seeds(self, x: Tensor) -> Tensor:
        """N(x) of every seed: (S, n) for a batch of shape (n, input_dim) or images that flatten to it."""
        h = self.prepare_inputs(x) @ self.weight.transpose(1, 2)  # (S, n, 2k)
        alphas = self._per_network["alpha"]
        slope = alphas[0] if len(set(alphas)) == 1 else torch.tensor(alphas, dtype=h.dtype, device=h.device).view(-1, 1, 1)
        return output_from_activations(leaky_relu(h, slope), self.output_weights)  # (S, n), Eq. (1)

    @override
    def forward(self, x: Tensor) -> Tensor:
        """N(x): shape (n,) for one seed, (S, n) for ``num_seeds`` = S > 1."""
        out = self.forward_all_seeds(x)
        return out[0] if self.hparams["num_seeds"] == 1 else out

    def _shared_step(self, batch: Any, stage: str) -> Tensor:
        x, y = default_batch_to_xy(batch)
        out = self.forward_all_seeds(x)  # (S, n)
        y_signed = signed_labels(y, out.shape[1]).to(out.dtype)
        q = y_signed * out
        losses = logistic_loss(q)  # (S, n); the sum over seeds of each seed's mean loss separates their gradients
        for name, value in (("loss", losses.mean(dim=0)), ("acc", (q > 0).to(out.dtype).mean(dim=0))):  # per point
            if stage == "train":
                self.log(f"train/{name}", value.mean(), on_step=False, on_epoch=True, prog_bar=name == "loss", batch_size=out.shape[1])
            else:  # a torchmetrics mean: sums and counts over every process's points, exact under DDP
                (metric := cast(MeanMetric, self._eval_means[f"{stage}_{name}"])).update(value.detach())
                self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True, prog_bar=True)
        return losses.mean(dim=1).sum()

    # ---------------------------------------------------- per-example engines
    @override
    def on_train_start(self) -> None:
        if self.hparams["engine"] == "lightning":
            return
        check_per_example_run(self.hparams["engine"], self.trainer.precision, self.weight.dtype, getattr(self.trainer, "reload_dataloaders_every_n_epochs", 0))
        self._epoch_loss_sum, self._epoch_steps, self._plan, self._engine = 0.0, 0, None, None
        x, y = self._training_tensors()
        self._train_x = self.prepare_inputs(x.to(self.device)).contiguous()
        self._train_y = signed_labels(y, x.shape[0]).to(device=self.device, dtype=self.weight.dtype).contiguous()
        n, hp = self._train_x.shape[0], self.hparams
        warn_small_chunks(hp["engine"], n, float(self.trainer.num_training_batches))
        self._order = EpochOrder(hp["num_seeds"], n, hp["order_seed"], hp["shared_order"])
        if self._pending_order_state is not None:
            self._order.load_state_dict(self._pending_order_state["order"])
            self._epoch_order = self._pending_order_state.get("epoch_order")
            self._order_epoch = int(self._pending_order_state.get("order_epoch", -1))
            loss_sum, steps, processes = self._pending_order_state.get("epoch_loss", (0.0, 0, 1))
            self._resumed_position = self._pending_order_state.get("position")
            if processes == self.trainer.world_size == 1:  # under DDP the sums are each process's: rank 0's alone are saved
                self._epoch_loss_sum, self._epoch_steps = float(loss_sum), int(steps)
            self._pending_order_state = None

    def _training_tensors(self) -> tuple[Tensor, Tensor]:
        """The whole training set as (x, y): from the datamodule's ``train_tensors()`` or the train loader."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and callable(getattr(datamodule, "train_tensors", None)):
            return datamodule.train_tensors()
        from lt_teacher._sources import training_dataset, stack_dataset

        dataset, collate = training_dataset(self.trainer, type(self).__name__)
        return stack_dataset(dataset, collate)

    def _owned_seeds(self) -> list[int]:
        """Seeds this process trains: all of them on one process, every world_size-th under DDP."""
        return list(range(self.global_rank, self.hparams["num_seeds"], self.trainer.world_size))

    def _chunk_plan(self) -> ChunkPlan:
        """This process's way through an epoch, made once per fit (again if the training loader's length changes),
        with its engine on the training set (``_engine``, None without seeds), which checks that set only here."""
        batches = max(1, int(self.trainer.num_training_batches))
        if self._plan is None or self._plan.batches != batches:
            x, y, hp = cast(Tensor, self._train_x), cast(Tensor, self._train_y), self.hparams
            plan = make_chunk_plan(hp["engine"], x.shape[0], batches, self._owned_seeds(), hp["num_seeds"], self._per_network)
            self._engine = plan.checked_engine(plan.seed_weights(self.weight.data), x, y, hp["k"]) if plan.seeds else None
            self._plan = plan
        return self._plan

    def _per_example_training_step(self, batch_idx: int) -> Tensor:
        if self._train_x is None or self._train_y is None or self._order is None:
            raise RuntimeError(
                f"engine={self.hparams['engine']!r} trains inside `Trainer.fit` (it loads the training set at the start of "
                "training); call `trainer.fit`, or use engine='lightning' to run training_step by hand."
            )
        if self._order_epoch != (epoch := self.current_epoch) or self._epoch_order is None:
            self._epoch_order, self._order_epoch = self._order.next_epoch(), epoch
        plan = self._chunk_plan()
        start, stop = plan.bounds(batch_idx)
        if self._resumed_position not in (None, start):  # the first step of a resumed fit: where the checkpoint left off?
            raise ValueError(f"{type(self).__name__}: the checkpoint was saved after {self._resumed_position} of the epoch's {plan.n} SGD steps, but this "
                             f"run's loader ({plan.batches} steps an epoch) resumes at step {start}: resume with the loader batch size of the "
                             "run that saved it, or from a checkpoint saved at the end of an epoch.")
        self._resumed_position = None
        weight = plan.seed_weights(self.weight.data)
        chunk_loss = 0.0  # the sum of this chunk's per-step losses, in float64 as the engines return them
        if stop > start and self._engine is not None:
            losses = self._engine(weight, plan.chunk_order(self._epoch_order, start, stop).to(weight.device))  # (seeds,)
            chunk_loss = losses.item() if losses.numel() == 1 else float(losses.sum())  # one torch op less for one seed
        distributed = self.trainer.world_size > 1
        if not plan.all_seeds or distributed:
            with torch.no_grad():
                if not plan.all_seeds:
                    self.weight.data[plan.seeds] = weight
                if distributed:
                    self._gather_seeds()
        # W was updated in place; stepping the (gradient-free) optimizer is a no-op that keeps
        # Lightning's global_step counting steps (checkpoint names, max_steps, logger steps).
        optimizer = self.optimizers()
        (optimizer[0] if isinstance(optimizer, list) else optimizer).step()
        steps = (stop - start) * len(plan.seeds)
        total, total_steps = self._epoch_loss_sum + chunk_loss, self._epoch_steps + steps  # the epoch's so far
        if batch_idx == plan.batches - 1:
            if self._epoch_steps:  # an epoch of one chunk leaves the (zero) sums as they are
                self._epoch_loss_sum, self._epoch_steps = 0.0, 0
            self._log_epoch_loss(total, total_steps, distributed)
        else:
            self._epoch_loss_sum, self._epoch_steps = total, total_steps
        return torch.tensor(chunk_loss / max(steps, 1), dtype=self.weight.dtype)  # the float64 mean, rounded once

    def _log_epoch_loss(self, total: float, steps: int, distributed: bool) -> None:  # this process's total of steps losses, and the others'
        if distributed:
            totals = torch.tensor([total, steps], dtype=torch.float64, device=self.device)
            total, steps = cast(Tensor, self.all_gather(totals)).reshape(-1, 2).sum(dim=0).tolist()
        if steps > 0:
            self._train_loss.log(self, torch.tensor(total / steps, dtype=self.weight.dtype))  # rounded once, as .to()

    def _gather_seeds(self) -> None:
        """After each chunk under DDP: every process takes each seed's weights from the process that trained it,
        so validation, monitors and checkpoints (saved by rank 0) always see every seed up to date."""
        gathered, world = cast(Tensor, self.all_gather(self.weight.data)), self.trainer.world_size  # (world, S, 2k, d)
        for s in range(self.hparams["num_seeds"]):
            self.weight.data[s] = gathered[s % world, s]

    @override
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        if self.hparams["engine"] == "lightning":
            return self._shared_step(batch, "train")
        return self._per_example_training_step(batch_idx)

    @override
    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "val")

    @override
    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "test")

    @override
    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        return torch.sign(self(batch if isinstance(batch, Tensor) else default_batch_to_xy(batch)[0]))

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the permutation state and the global torch RNG state (a shuffling DataLoader's order)."""
        checkpoint["lt_teacher_rng_state"] = torch.get_rng_state()
        if self._order is not None:
            checkpoint["lt_teacher_order"] = {
                "order": self._order.state_dict(),
                "epoch_order": self._epoch_order,
                "order_epoch": self._order_epoch,  # and the losses of the epoch's steps so far (a mid-epoch checkpoint):
                "epoch_loss": (self._epoch_loss_sum, self._epoch_steps, self.trainer.world_size if self._trainer else 1),
                "position": self._epoch_steps // len(self._plan.seeds) if self._plan is not None and self._plan.seeds else 0,
            }

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore them (a resume visits the examples in the same order), after :func:`~lt_teacher._checkpoints.prepare_checkpoint_load`."""
        prepare_checkpoint_load(self, checkpoint)
        state = checkpoint.get("lt_teacher_rng_state")
        resuming_fit = self._trainer is not None and self.trainer.state.fn == "fit"
        if state is not None and resuming_fit:  # load_from_checkpoint for inference leaves the RNG alone
            torch.set_rng_state(state)
        self._pending_order_state = checkpoint.get("lt_teacher_order")

    @override
    def configure_optimizers(self) -> torch.optim.Optimizer:
        lrs = self._per_network["lr"]  # one per network: SGD with lr 1 on gradients scaled per network (on_before_optimizer_step)
        return torch.optim.SGD([self.weight], lr=lrs[0] if len(set(lrs)) == 1 else 1.0)

    @override
    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        lrs = self._per_network["lr"]
        if self.automatic_optimization and len(set(lrs)) > 1 and self.weight.grad is not None:
            self.weight.grad.mul_(torch.tensor(lrs, dtype=self.weight.dtype, device=self.weight.device).view(-1, 1, 1))
