"""The monitors under DDP on CPU: two gloo processes, uneven shards, the same values as one process.

Lightning's ``strategy="ddp"`` re-runs the launching script for the second rank, which is fragile from
inside pytest; so each run is a subprocess of ``_ddp_run.py`` (next to this file) that evaluates a
fixed network (learning rate 0) and writes every rank's history and logged values to JSON.
"""

from __future__ import annotations

import json
import os
import socket
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from _helpers import REPO_ROOT

SCRIPT = Path(__file__).with_name("_ddp_run.py")
# Values that are counts, or fractions of counts, must agree exactly; sums of reals to rounding.
EXACT_PREFIXES = ("nar/", "par/", "linear_region/", "margin/accuracy", "margin/assumption_6_1", "margin/above_threshold")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(devices: int, layout: str, out: Path) -> subprocess.Popen:
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "OMP_NUM_THREADS": "1"}
    for name in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "RANK"):  # never inherit a rank from outside
        env.pop(name, None)
    command = [sys.executable, str(SCRIPT), "--devices", str(devices), "--out", str(out), "--layout", layout]
    return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def results(process: subprocess.Popen, devices: int, out: Path) -> list[dict[str, Any]]:
    try:
        _, stderr = process.communicate(timeout=240)
    finally:  # a hung run must not outlive the test: kill its whole session (the launcher and every rank)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, f"{process.args} failed:\n{stderr[-4000:]}"
    return [json.loads((out / f"devices{devices}-rank{rank}.json").read_text()) for rank in range(devices)]


def assert_same(found: dict[str, float], expected: dict[str, float], what: str) -> None:
    assert set(found) == set(expected), what
    for key, value in expected.items():
        if key.startswith(EXACT_PREFIXES):
            assert found[key] == value, f"{what}: {key} = {found[key]}, one process gives {value}"
        else:
            assert found[key] == pytest.approx(value, rel=1e-6, abs=1e-9), f"{what}: {key}"


@pytest.mark.ddp
@pytest.mark.timeout(300)
@pytest.mark.parametrize("layout", ["tensor", "dict"], ids=["tensor-dataset", "dict-batches"])
def test_two_processes_log_what_one_process_logs(layout, tmp_path):
    one, two = start(1, layout, tmp_path), start(2, layout, tmp_path)  # side by side: most of the time is imports
    (single,), ranks = results(one, 1, tmp_path), results(two, 2, tmp_path)

    assert [r["world_size"] for r in ranks] == [2, 2] and [r["rank"] for r in ranks] == [0, 1]
    assert {r["weights_sha256"] for r in ranks} == {single["weights_sha256"]}  # the network is the same
    assert single["shard_sizes"] == {"train": 37, "val": 11, "test": 9}
    assert [r["shard_sizes"] for r in ranks] == [{"train": 19, "val": 6, "test": 5}, {"train": 18, "val": 5, "test": 4}]

    expected = single["history"][-1]
    for key in ("linear_region/outside_fraction/train", "nar/agreement_fraction", "par/fraction_u", "margin/loss"):
        assert 0 < expected[key] < 1, key  # the values under test are not trivial
    assert expected["nar/max_disagreement_u"] > 0
    logged = {k: v for k, v in single["logged"].items() if "/" in k and not k.startswith(("train/", "val/"))}
    assert set(logged) == set(expected) - {"epoch"}
    for r in ranks:
        assert [row["epoch"] for row in r["history"]] == [1.0, 2.0]
        for row, reference in zip(r["history"], single["history"]):
            assert_same(row, reference, f"rank {r['rank']} history at epoch {reference['epoch']}")
        assert_same({k: r["logged"][k] for k in logged}, logged, f"rank {r['rank']} logged values")
