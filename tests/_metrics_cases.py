"""The data and the metric runs shared by tests/test_metrics.py and its two-process script."""

from __future__ import annotations

import torch

from lt_teacher.functional import evaluate_batch, radius
from lt_teacher.metrics import AgreementStatistics, LinearRegionStatistics, MarginStatistics, PARStatistics

ALPHA, BETA, V = 0.2, 0.05, 0.7
BATCH = 5


def case() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """37 points in 3-D with labels +-1, a w-group of 3 neurons and a u-group of 4 (one of norm 0)."""
    g = torch.Generator().manual_seed(11)
    x = torch.randn(37, 3, generator=g, dtype=torch.float64)
    y = torch.where(x[:, 0] + 0.3 * x[:, 1] > 0, 1.0, -1.0).to(torch.float64)
    w = torch.randn(3, 3, generator=g, dtype=torch.float64) + torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    u = torch.randn(4, 3, generator=g, dtype=torch.float64) - torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    u[2] = 0.0
    return x, y, w, u


def make_metrics() -> dict[str, object]:
    return {
        "linear_region": LinearRegionStatistics(),
        "agreement": AgreementStatistics(3, 4, BETA),
        "par": PARStatistics(3, 4, BETA),
        "margin": MarginStatistics(),
    }


def update_all(metrics: dict[str, object], batch_indices: list[int]) -> None:
    x, y, w, u = case()
    r = radius(w, u)
    for b in batch_indices:
        sl = slice(b * BATCH, (b + 1) * BATCH)
        batch = evaluate_batch(x[sl], y[sl], w, u, ALPHA, V)
        metrics["linear_region"].update(batch, r, ALPHA)  # type: ignore[attr-defined]
        metrics["agreement"].update(batch, w.norm(dim=1), u.norm(dim=1))  # type: ignore[attr-defined]
        metrics["par"].update(batch, w.norm(dim=1), u.norm(dim=1))  # type: ignore[attr-defined]
        metrics["margin"].update(batch)  # type: ignore[attr-defined]


def num_batches() -> int:
    return -(-case()[0].shape[0] // BATCH)


def computed_values(metrics: dict[str, object]) -> dict[str, float]:
    values: dict[str, float] = {}
    for name, metric in metrics.items():
        result = metric.compute()  # type: ignore[attr-defined]
        values.update({f"{name}/{field}": float(value) for field, value in result._asdict().items()})
    return values


def all_metric_values(rank: int = 0, world_size: int = 1) -> dict[str, float]:
    """Process ``rank`` of ``world_size`` updates with batches rank, rank + world_size, ...; the reduced values."""
    metrics = make_metrics()
    update_all(metrics, list(range(rank, num_batches(), world_size)))
    return computed_values(metrics)
