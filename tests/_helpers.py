"""Helpers shared by the tests: small linearly separable data sets, the real-data policy."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def separable_gaussians(n: int = 40, d: int = 2, seed: int = 0, gap: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian clusters at +-gap along a random teacher; labels +-1 by the teacher's side."""
    g = torch.Generator().manual_seed(seed)
    teacher = torch.randn(d, generator=g)
    teacher = teacher / teacher.norm()
    y = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0)
    x = 0.5 * torch.randn(n, d, generator=g) + gap * y[:, None] * teacher
    x = x[(y * (x @ teacher)) > 0.2]
    y = torch.sign(x @ teacher)
    return x, y


def require_real_data() -> bool:
    """CI sets LT_TEACHER_REQUIRE_REAL_DATA=1: a missing real data set then fails instead of skipping."""
    return os.environ.get("LT_TEACHER_REQUIRE_REAL_DATA") == "1"


def run_in_own_session(command: list[str], *, timeout: float, **kwargs: object) -> "subprocess.CompletedProcess[str]":
    """Run a command (e.g. a DDP launcher and the ranks it starts) and, if it hangs, kill its whole session."""
    import signal

    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
