"""The paper's network as a LightningModule: two layers, Leaky ReLU, a fixed +-v output layer (Eq. 1)."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from lt_teacher._batch import default_batch_to_xy
from lt_teacher.functional._checks import check_alpha, check_positive, signed_labels
from lt_teacher.functional.network import append_bias_coordinate, leaky_relu, logistic_loss


def _check_int(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"`{name}` must be an int >= {minimum}, got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}, got {value}.")
    return value


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
        bias: learn a first-layer bias exactly as supplementary 8.1: every input is extended by a
            constant 1 and W gets one more column.

    Checkpoints also hold the global torch RNG state, so a run resumed from a checkpoint draws the
    same per-epoch permutations from a shuffling DataLoader as an uninterrupted run.

    Raises:
        TypeError, ValueError: an argument has the wrong type or lies outside its range.

    Example:
        >>> import torch
        >>> net = LeakyReLUTeacherNet(input_dim=2, k=3)
        >>> net(torch.zeros(4, 2)).shape
        torch.Size([4])
    """

    def __init__(
        self,
        input_dim: int,
        k: int = 50,
        alpha: float = 0.1,
        v: float = 1.0,
        init_std: float = 1e-3,
        lr: float = 1e-2,
        bias: bool = False,
    ) -> None:
        super().__init__()
        _check_int(input_dim, "input_dim", 1)
        _check_int(k, "k", 1)
        check_alpha(alpha)
        check_positive(v, "v")
        check_positive(init_std, "init_std")
        check_positive(lr, "lr")
        if not isinstance(bias, bool):
            raise TypeError(f"`bias` must be a bool, got {type(bias).__name__}.")
        self.save_hyperparameters()
        width = input_dim + (1 if bias else 0)
        self.weight = nn.Parameter(torch.randn(2 * k, width) * init_std)  # (2k, d[+1])
        signs = torch.cat([torch.ones(k), -torch.ones(k)])
        self.register_buffer("output_weights", v * signs)  # (2k,), fixed

    @property
    def w(self) -> Tensor:
        """The w-neurons (output weight +v), shape (k, d[+1])."""
        return self.weight[: self.hparams.k]

    @property
    def u(self) -> Tensor:
        """The u-neurons (output weight -v), shape (k, d[+1])."""
        return self.weight[self.hparams.k :]

    def prepare_inputs(self, x: Tensor) -> Tensor:
        """Flatten to (n, input_dim), check the values are finite, append the bias coordinate if any."""
        d = self.hparams.input_dim
        if not isinstance(x, Tensor):
            raise TypeError(f"Inputs must be a torch.Tensor, got {type(x).__name__}.")
        if x.ndim == 1:
            x = x.unsqueeze(0)
        if x.ndim < 2 or x[0].numel() != d:
            raise ValueError(f"Inputs must have input_dim={d} features per example, got shape {tuple(x.shape)}.")
        x = x.reshape(x.shape[0], d).to(self.weight.dtype)
        if not bool(torch.isfinite(x).all()):
            raise ValueError("Inputs contain NaN or Inf values; every feature must be finite.")
        return append_bias_coordinate(x) if self.hparams.bias else x

    def forward(self, x: Tensor) -> Tensor:
        """N(x) for a batch x of shape (n, input_dim) (or images that flatten to it); returns (n,)."""
        h = self.prepare_inputs(x) @ self.weight.T  # (n, 2k)
        return leaky_relu(h, self.hparams.alpha) @ self.output_weights

    def _shared_step(self, batch: Any, stage: str) -> Tensor:
        x, y = default_batch_to_xy(batch)
        out = self(x)
        y_signed = signed_labels(y, out.shape[0]).to(out.dtype)
        q = y_signed * out
        loss = logistic_loss(q).mean()
        accuracy = (q > 0).to(out.dtype).mean()
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=out.shape[0])
        self.log(f"{stage}/acc", accuracy, on_step=False, on_epoch=True, prog_bar=stage != "train", batch_size=out.shape[0])
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._shared_step(batch, "test")

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        x = default_batch_to_xy(batch)[0] if not isinstance(batch, Tensor) else batch
        return torch.sign(self(x))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Store the global torch RNG state: a shuffling DataLoader draws each epoch's order from it."""
        checkpoint["lt_teacher_rng_state"] = torch.get_rng_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore the RNG state so the epochs after a resume visit the examples in the same order."""
        state = checkpoint.get("lt_teacher_rng_state")
        if state is not None:
            torch.set_rng_state(state)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD([self.weight], lr=self.hparams.lr)
