"""REPORT.md of a reproduction: the setting, the choices the paper leaves open, the claims table.

Every number in a report is formatted from a float the runs produced (the monitors' histories or a
measure of the final networks), through :func:`fmt`; ``results.json`` next to it holds the same
values unformatted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERDICTS = ("holds", "does not hold")


def fmt(value: float) -> str:
    """The one number format of the reports: 4 significant digits, exact integers and 0 plain."""
    if isinstance(value, bool):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def fmt_list(values: Sequence[float]) -> str:
    return "[" + ", ".join(fmt(v) for v in values) + "]"


@dataclass
class Claim:
    """One row of the claims table.

    Attributes:
        claim: what the paper says, in one line.
        setting: the run(s) the number comes from.
        measured: the measured value(s) as text (built with :func:`fmt`).
        criterion: the threshold that decides the verdict, stated in numbers.
        holds: whether the criterion is met at ``setting``.
        values: the raw numbers behind ``measured`` (written to results.json).
        found_at: when the claim fails at the paper's setting but holds at another tried one: that setting.
        tried: every setting tried for this claim, with its measured text and verdict.
    """

    claim: str
    setting: str
    measured: str
    criterion: str
    holds: bool
    values: dict[str, Any] = field(default_factory=dict)
    found_at: str | None = None
    tried: list[tuple[str, str, bool]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.holds:
            return "holds"
        if self.found_at is not None:
            return f"holds at {self.found_at}"
        return "does not hold"


@dataclass
class Report:
    """Everything REPORT.md shows for one reproduction."""

    name: str
    title: str
    paper: str  # what the paper shows and where
    command: str
    config_source: str
    scale: str
    stated: list[tuple[str, str]]  # (setting, value) the paper states
    choices: list[tuple[str, str, str]]  # (setting, value, note) the paper leaves open
    claims: list[Claim] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (file name, caption)
    runs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # more raw numbers for results.json
    premise: list[str] = field(default_factory=list)  # markdown lines: is the training data separable (section 3)
    causes: list[str] = field(default_factory=list)  # one measured paragraph per claim that does not hold
    fit_configs: dict[str, str] = field(default_factory=dict)  # runs/<file>.yaml -> the run's `lt-teacher fit` config
    run_key: str = ""  # :func:`~lt_teacher.reproduce.config.run_key` of the config that made it (``--resume`` compares it)

    def conclusion(self) -> str:
        """Which claims hold, where, and where the measured causes of the others are: built from the claims."""
        held = [c for c in self.claims if c.holds]
        elsewhere = [c for c in self.claims if not c.holds and c.found_at is not None]
        failed = [c for c in self.claims if not c.holds and c.found_at is None]
        total = len(self.claims)
        parts = [f"{len(held)} of {total} claim{'s' if total != 1 else ''} {'holds' if len(held) == 1 else 'hold'} at the config's setting."]
        if elsewhere:
            parts.append(
                f"{len(elsewhere)} hold only at another setting: "
                + "; ".join(f"{_short(c.claim)} at {c.found_at}" for c in elsewhere) + "."
            )
        if failed:
            parts.append(
                f"{len(failed)} {'does' if len(failed) == 1 else 'do'} not hold at any setting tried: " + "; ".join(_short(c.claim) for c in failed) + "."
            )
        if elsewhere or failed:
            explained = sorted({int(m.group(1)) for m in (re.match(r"Claim (\d+):", c) for c in self.causes) if m})
            if explained:
                parts.append(f"Measured causes for claim{'s' if len(explained) > 1 else ''} "
                             f"{', '.join(map(str, explained))}: see 'Why claims do not hold'.")
            else:
                parts.append("No cause was measured for them in this run.")
        return " ".join(parts)

    def markdown(self) -> str:
        lines = [f"# {self.name}: {self.title}", ""]
        lines += [f"Paper: {self.paper}", ""]
        lines += [
            f"Made by `{self.command}` (scale `{self.scale}`) from the config `{self.config_source}`; "
            f"print it with `lt-teacher reproduce --dump {self.name}`, copy and edit it, and run "
            "`lt-teacher reproduce --config my.yaml`.",
            "",
        ]
        lines += ["## Claims", "", "| # | claim (paper) | setting | measured | criterion | verdict |", "|---|---|---|---|---|---|"]
        for i, c in enumerate(self.claims, 1):
            lines.append(f"| {i} | {_cell(c.claim)} | {_cell(c.setting)} | {_cell(c.measured)} | {_cell(c.criterion)} | **{c.verdict}** |")
        tried = [(i, c) for i, c in enumerate(self.claims, 1) if len(c.tried) > 1]
        if tried:
            lines += ["", "Settings tried for claims that fail at the config's setting (in order, until one meets the criterion):", ""]
            lines += ["| # | setting | measured | meets the criterion |", "|---|---|---|---|"]
            for i, c in tried:
                for setting, measured, ok in c.tried:
                    lines.append(f"| {i} | {_cell(setting)} | {_cell(measured)} | {'yes' if ok else 'no'} |")
        if self.premise:
            lines += ["", "## Premise: linearly separable training data", ""] + list(self.premise)
        if self.causes:
            lines += ["", "## Why claims do not hold (measured)", ""]
            for paragraph in self.causes:
                lines += [paragraph, ""]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {note}" for note in self.notes]
        if self.figures:
            lines += ["", "## Figures", ""]
            for file_name, caption in self.figures:
                lines += [f"![{caption}]({file_name})", "", f"*{caption}*", ""]
        lines += ["## Setting", "", "Stated in the paper (as used here):", "", "| setting | value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in self.stated]
        lines += ["", "Left open by the paper, chosen here:", "", "| setting | value | note |", "|---|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(v)} | {_cell(n)} |" for k, v, n in self.choices]
        if self.runs:
            lines += ["", "## Runs", ""]
            if self.fit_configs:
                lines += ["Each trained run can be re-run alone with `lt-teacher fit --config <this folder>/<fit config>`.", ""]
            lines += ["| run | seeds | epochs | training points | SGD steps (all seeds) | wall time (s) | W&B run | fit config |",
                      "|---|---|---|---|---|---|---|---|"]
            for run in self.runs:
                lines.append(
                    f"| {_cell(run['label'])} | {run['seeds']} | {run['epochs']} | {run['n_train']} | {run['sgd_steps']} | "
                    f"{run['seconds']:.1f} | {_cell(run['wandb'] or 'not logged')} | {_cell(run.get('fit_config') or '—')} |"
                )
        if self.claims:
            lines += ["", "## Conclusion", "", self.conclusion()]
        return "\n".join(lines).rstrip() + "\n"

    def results(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scale": self.scale,
            "config": self.config_source,
            **({"run_key": self.run_key} if self.run_key else {}),
            "claims": [
                {"claim": c.claim, "setting": c.setting, "measured": c.measured, "criterion": c.criterion, "holds": c.holds, "verdict": c.verdict,
                 "found_at": c.found_at, "values": c.values, "tried": [list(t) for t in c.tried]}
                for c in self.claims
            ],
            "runs": self.runs,
            "conclusion": self.conclusion(),
            **({"extra": self.extra} if self.extra else {}),
        }

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(json.dumps(self.results(), indent=1, default=_json_default) + "\n", encoding="utf-8")
        for name, text in self.fit_configs.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")
        path = folder / "REPORT.md"
        path.write_text(self.markdown(), encoding="utf-8")
        return path


def finished_report(folder: Path, run_key: str) -> Report | None:
    """The report in ``folder`` if a config of the same :func:`~lt_teacher.reproduce.config.run_key` wrote it, else None.

    Rebuilt from its ``results.json`` with what the summary table shows (name, scale, claims); a folder without
    both ``REPORT.md`` and a readable ``results.json`` of that key (a report of another config, scale or version,
    a skipped reproduction's note, a damaged file) is not finished.
    """
    try:
        results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        if not (folder / "REPORT.md").is_file() or results.get("run_key") != run_key:
            return None
        claims = [
            Claim(c["claim"], c["setting"], c["measured"], c["criterion"], bool(c["holds"]), c.get("values") or {}, c.get("found_at"),
                  [(str(t[0]), str(t[1]), bool(t[2])) for t in c.get("tried") or []])
            for c in results["claims"]
        ]
        return Report(str(results["name"]), "", "", "", str(results.get("config", "")), str(results.get("scale", "")), [], [],
                      claims=claims, runs=list(results.get("runs") or []), run_key=run_key)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _short(claim: str) -> str:
    """A claim's text cut to 90 characters, for the conclusion."""
    return claim if len(claim) <= 90 else claim[:87].rstrip(" .,;") + "..."


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(reports: Sequence[Report], *, command: str, wall_seconds: float, scale: str, notes: Sequence[str] = ()) -> str:
    """reports/README.md: every claim of every reproduction in one table, and the wall time."""
    lines = ["# Reproduction of the paper's claims", ""]
    lines += [f"`{command}` (scale `{scale}`) took {wall_seconds:.0f} s of wall time on this machine ({_machine()}).", ""]
    lines += list(notes) + ([""] if notes else [])
    lines += ["| reproduction | claim (paper) | setting | measured | criterion | verdict |", "|---|---|---|---|---|---|"]
    for report in reports:
        for c in report.claims:
            lines.append(f"| [{report.name}]({report.name}/REPORT.md) | {_cell(c.claim)} | {_cell(c.setting)} | {_cell(c.measured)} | {_cell(c.criterion)} | **{c.verdict}** |")
    return "\n".join(lines) + "\n"


def _machine() -> str:
    import os
    import platform

    import torch

    return f"{os.cpu_count()} CPU cores, {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} torch threads"
