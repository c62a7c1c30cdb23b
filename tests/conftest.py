"""Shared fixtures."""

from __future__ import annotations

import pytest
import torch

from _helpers import separable_gaussians


@pytest.fixture
def gaussians() -> tuple[torch.Tensor, torch.Tensor]:
    return separable_gaussians()
