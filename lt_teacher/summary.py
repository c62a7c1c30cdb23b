"""The end-of-run table: the final diagnostics of a run with the paper's reading of each.

:func:`summary_table` turns the values of :class:`~lt_teacher.callbacks.LinearTeacherMonitor` (its
last evaluation: ``monitor.latest``) into a few lines of text. With several networks
(``num_seeds`` = S > 1) every value is shown as mean ± sample standard deviation over the networks
and every yes/no reading counts the networks ("3/5").

>>> print(summary_table({"linear_region/outside_fraction/test": 0.0, "cluster/radius": 0.01}, title="after 5 epochs"))  # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

__all__ = ["summary_table", "num_networks"]

_SEED_KEY = re.compile(r"/seed_(\d+)$")


def num_networks(values: Mapping[str, float]) -> int:
    """How many networks the values describe: 1, or S when the monitor logged ``<key>/seed_<s>`` columns."""
    seeds = {int(m.group(1)) for key in values if (m := _SEED_KEY.search(key))}
    return max(seeds) + 1 if seeds else 1


def _per_network(values: Mapping[str, float], key: str, n: int) -> list[float] | None:
    if key not in values:
        return None
    if n == 1:
        return [float(values[key])]
    column = [float(values[f"{key}/seed_{s}"]) for s in range(n) if f"{key}/seed_{s}" in values]
    return column if len(column) == n else [float(values[key])]


def _number(x: float, percent: bool) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if percent:
        return f"{100 * x:.1f} %"
    return f"{x:.4g}"


def _show(column: list[float], percent: bool = False) -> str:
    """One value, or mean ± sample std (ddof 1) over the networks."""
    if len(column) == 1:
        return _number(column[0], percent)
    finite = [v for v in column if math.isfinite(v)]
    mean = sum(column) / len(column)
    spread = math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1)) if len(finite) > 1 else 0.0
    return f"{_number(mean, percent)} ± {_number(spread, percent)}"


def _count(flags: list[bool]) -> str:
    if len(flags) == 1:
        return "yes" if flags[0] else "no"
    return f"{sum(flags)}/{len(flags)} networks"


def _rows(values: Mapping[str, float], n: int) -> list[tuple[str, str, str]]:
    def get(key: str) -> list[float] | None:
        return _per_network(values, key, n)

    rows: list[tuple[str, str, str]] = []
    for split in ("train", "val", "test"):
        outside = get(f"linear_region/outside_fraction/{split}")
        if outside is None:
            continue
        inside = [1.0 - v for v in outside]
        rows.append(
            (f"{split} points outside the linear region", _show(outside, percent=True),
             f"certified linear on {_show(inside, percent=True)} of {split} points (Theorem 5.1)")
        )
    radius, ratio = get("cluster/radius"), get("cluster/radius_ratio")
    if radius is not None:
        rows.append(("cluster radius r", _show(radius), "largest distance of a neuron from its group mean (sec. 5)"))
    if ratio is not None:
        rows.append(("r / ||w_bar - u_bar||", _show(ratio), "falls as the neurons gather in two clusters (Figure 7a)"))
    in_nar = get("nar/in_nar")
    if in_nar is not None:
        rows.append(("in an NAR (Definition 6.2)", _count([v > 0.5 for v in in_nar]), "both groups agree on every training point"))
    par_w, par_u = get("par/fraction_w"), get("par/fraction_u")
    if par_w is not None and par_u is not None:
        both = [w >= 1.0 and u >= 1.0 for w, u in zip(par_w, par_u)]
        rows.append(
            ("neurons in the PAR (Definition 6.3)", f"w {_show(par_w, percent=True)}, u {_show(par_u, percent=True)}",
             f"in a PAR: {_count(both)}")
        )
    loss, accuracy = get("margin/loss"), get("margin/accuracy")
    if loss is not None and accuracy is not None:
        rows.append(("training loss / accuracy", f"{_show(loss)} / {_show(accuracy, percent=True)}", "Eq. (2)"))
    smoothed, threshold, above = get("margin/smoothed"), get("margin/theorem_6_2_threshold"), get("margin/above_threshold")
    if smoothed is not None and threshold is not None and above is not None:
        rows.append(
            ("smoothed margin / Thm 6.2 threshold", f"{_show(smoothed)} / {_show(threshold)}",
             f"above the Theorem 6.2 threshold: {_count([v > 0.5 for v in above])}")
        )
    return rows


def summary_table(values: Mapping[str, float], *, title: str = "") -> str:
    """The final diagnostics as an aligned text table (quantity, value, the paper's reading).

    Args:
        values: a monitor's evaluation, ``{key: value}`` with the keys of ``LinearTeacherMonitor``
            (missing groups are left out; ``<key>/seed_<s>`` columns give the per-network values).
        title: what the values are, e.g. ``"after epoch 50"``.

    Returns:
        The table, or an empty string when ``values`` holds none of the known keys.
    """
    n = num_networks(values)
    rows = _rows(values, n)
    if not rows:
        return ""
    networks = "1 network" if n == 1 else f"{n} networks, mean ± std"
    head = f"lt-teacher: final diagnostics{(' ' + title) if title else ''} ({networks})"
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [head]
    lines += [f"  {q:<{width[0]}}  {v:<{width[1]}}  {r}" for q, v, r in rows]
    return "\n".join(lines)
