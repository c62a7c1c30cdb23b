"""Issue 5 under DDP: the seeds of a fused-engine module are divided among 2 processes and end equal to 1 process."""

import os
import socket
import sys

import pytest
import torch

from _helpers import REPO_ROOT, run_in_own_session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.ddp
@pytest.mark.timeout(300)
@pytest.mark.parametrize("seeds", [1, 3, "grid"], ids=["one-seed-a-rank-without-seeds", "three-seeds", "grid-of-three"])
def test_seeds_divided_among_processes_match_one_process(tmp_path, seeds):
    runs = {}
    for devices in (1, 2):
        out = tmp_path / f"devices{devices}.pt"
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "OMP_NUM_THREADS": "1"}
        command = [sys.executable, str(REPO_ROOT / "tests" / "_ddp_seeds_run.py"), "--devices", str(devices),
                   "--out", str(out), *(["--grid"] if seeds == "grid" else ["--seeds", str(seeds)])]
        result = run_in_own_session(command, timeout=240, cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[devices] = torch.load(out)
    one, two = runs[1], runs[2]
    # rank r trains seeds r, r + 2, ...; each seed does the same per-example SGD either way
    assert torch.equal(one["weight"], two["weight"])
    assert one["logged"]["train/loss"] == pytest.approx(two["logged"]["train/loss"], rel=1e-6)
    # the model's own validation means: every point once on either count of processes (no padded repeat)
    for key in ("val/loss", "val/acc"):
        assert one["logged"][key] == pytest.approx(two["logged"][key], rel=1e-6), key
    assert one["logged"]["val/acc"] * 13 == pytest.approx(round(one["logged"]["val/acc"] * 13), abs=1e-5)
    assert len(one["history"]) == len(two["history"]) == 3
    for row_one, row_two in zip(one["history"], two["history"]):
        assert row_one.keys() == row_two.keys()
        for key, value in row_one.items():
            assert row_two[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
