"""The premise of a reproduction: is the exact training set linearly separable, and at what scale?

Every claim of the paper assumes data labelled by a linear teacher through the origin (section 3).
A report states, for each data set its runs trained on, whether that holds for the very training set
used (:func:`lt_teacher.functional.linear_separability`: an LP with a certificate either way), the
teacher margin (the largest geometric margin of a separator through the origin) and max ||x||, the
data scale against which an init std is "small" or "large".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lt_teacher.functional import linear_separability

from .report import Report, fmt
from .runner import RunResult


@dataclass(frozen=True)
class DataPremise:
    """Separability and scale of one training set (float values from the data, never typed in)."""

    data: str  # the data set's name in the report
    n: int
    d: int
    separable: bool
    separable_with_bias: bool | None  # asked only when not separable through the origin
    teacher_margin: float | None  # max over unit w of min_i y_i w . x_i (through the origin)
    max_norm: float  # max_i ||x_i||

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def data_name(result: RunResult) -> str:
    """A readable name of a run's training data, built from its spec (the same for every init)."""
    data = result.spec.data
    if result.spec.data_kind == "mnist":
        a, b = data.get("digits", ("?", "?"))
        return f"MNIST {a} vs {b} ({data.get('normalize', 'unit_interval')})"
    parts = [f"Gaussian d={data.get('dim', 2)}"]
    if data.get("antipodal"):
        parts.append("antipodal")
    if data.get("outliers"):
        parts.append(f"{data['outliers']} outlier(s)")
    if "cluster_std" in data:
        parts.append(f"cluster std {data['cluster_std']}")
    return ", ".join(parts)


def premise_of(result: RunResult) -> DataPremise:
    """Measure the premise on ``result``'s training split."""
    x, y = result.splits["train"]
    x64 = x.flatten(1).double()
    through_origin = linear_separability(x64, y)
    with_bias = None if through_origin.separable else linear_separability(x64, y, bias=True).separable
    return DataPremise(
        data=data_name(result),
        n=int(x64.shape[0]),
        d=int(x64.shape[1]),
        separable=through_origin.separable,
        separable_with_bias=with_bias,
        teacher_margin=through_origin.teacher_margin,
        max_norm=float(x64.norm(dim=1).max()),
    )


def data_key(result: RunResult) -> str:
    """Identity of a run's training data: runs with equal keys train on the same points."""
    return json.dumps({"kind": result.spec.data_kind, **result.spec.data}, sort_keys=True, default=str)


def add_premises(report: Report, results: Sequence[RunResult]) -> None:
    """Measure the premise of every training set of ``results`` not yet in ``report`` and redo its table.

    The measured values go to ``results.json`` (``extra.premise``) and the table to REPORT.md.
    """
    measured: list[dict[str, Any]] = report.extra.setdefault("premise", [])
    known = {row["key"] for row in measured}
    for result in results:
        key = data_key(result)
        if key not in known:
            measured.append({"key": key, **premise_of(result).as_dict()})
            known.add(key)
    report.premise = premise_markdown([DataPremise(**{k: v for k, v in row.items() if k != "key"}) for row in measured])


def premise_markdown(premises: Sequence[DataPremise]) -> list[str]:
    """The report's premise table, and one sentence for any training set that breaks the premise."""
    lines = [
        "The paper assumes training data labelled by a linear teacher through the origin (section 3). "
        "Checked on the exact training sets of these runs with an LP (a separator, or a certificate that "
        "none exists):",
        "",
        "| training set | n | d | separable through the origin | teacher margin γ | max ‖x‖ | γ / max ‖x‖ |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in premises:
        if p.separable:
            verdict = "yes"
        elif p.separable_with_bias:
            verdict = "no (only with a bias)"
        else:
            verdict = "no"
        gamma = fmt(p.teacher_margin) if p.teacher_margin is not None else "—"
        ratio = fmt(p.teacher_margin / p.max_norm) if p.teacher_margin is not None and p.max_norm > 0 else "—"
        lines.append(f"| {p.data} | {p.n} | {p.d} | {verdict} | {gamma} | {fmt(p.max_norm)} | {ratio} |")
    broken = [p.data for p in premises if not p.separable]
    lines.append("")
    if broken:
        lines.append(
            f"The premise fails for {', '.join(broken)}: no w classifies every training point correctly, so the "
            "paper's results do not apply there as stated."
        )
    else:
        lines.append(
            "Every training set meets the premise. max ‖x‖ sets the scale of the init: an init std is small "
            "relative to it and to γ."
        )
    return lines
