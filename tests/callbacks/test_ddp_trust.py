"""Joint decisions under DDP (issue 13, findings 5 and 8): two gloo processes on CPU.

A bad value on one rank must give the same clear error on every rank before any training step,
never a hang; after ``strategy="ddp_spawn"`` the launching process holds the final history.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

from _helpers import REPO_ROOT, run_in_own_session

SCRIPT = Path(__file__).with_name("_ddp_trust_run.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(case: str, out: Path):
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "OMP_NUM_THREADS": "1"}
    for name in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "RANK"):
        env.pop(name, None)
    return run_in_own_session([sys.executable, str(SCRIPT), "--case", case, "--out", str(out)], timeout=200, cwd=REPO_ROOT, env=env)


@pytest.mark.ddp
@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", ["nan", "backbone"])
def test_a_bad_value_on_one_rank_is_the_same_error_on_every_rank(case, tmp_path):
    result = run(case, tmp_path)
    files = sorted(tmp_path.glob(f"{case}-rank*.json"))
    assert len(files) == 2, f"a rank did not finish (returncode {result.returncode}):\n{result.stderr[-4000:]}"
    outcomes = [json.loads(f.read_text()) for f in files]
    errors = {o["error"] for o in outcomes}
    assert len(errors) == 1 and None not in errors, errors
    (error,) = errors
    expected = "train data contains NaN or Inf" if case == "nan" else "temperature"
    assert error.startswith("ValueError") and expected in error
    assert all(o["steps"] == 0 for o in outcomes)


@pytest.mark.ddp
@pytest.mark.timeout(300)
def test_ddp_spawn_leaves_the_history_in_the_launching_process(tmp_path):
    result = run("spawn", tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    outcome = json.loads((tmp_path / "spawn-launcher.json").read_text())
    assert outcome["error"] is None
    assert [row["epoch"] for row in outcome["history"]] == [1.0, 2.0]
    assert 0.0 <= outcome["history"][-1]["linear_region/outside_fraction/test"] <= 1.0
