"""A claim checked at the config's setting and, when it fails there, at the config's fallback settings in turn.

:func:`with_fallbacks` trains the runs (identical runs are shared through :class:`~.runner.Context`),
evaluates a :data:`ClaimEvaluator` on each and returns the :class:`ClaimAttempts`, which become one
row of the report's claims table (:meth:`ClaimAttempts.as_claim`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .report import Claim
from .run_spec import RunSpec
from .runner import Context, RunResult, train
from .settings import flatten

#: measures a claim on a run: (measured text, whether the criterion is met, the raw values).
ClaimEvaluator = Callable[[RunResult], tuple[str, bool, dict[str, Any]]]


def describe_override(override: Mapping[str, Any]) -> str:
    """``{"model": {"init_std": 1e-4}}`` -> ``model.init_std=0.0001``; ``data: {init_args: {dim: 10}}`` -> ``data.dim=10`` (as ``--data.dim``)."""
    return ", ".join(f"{key}={value}" for key, value in flatten("", override))


@dataclass
class ClaimAttempts:
    """A claim evaluated at the config's setting and, if it failed there, at the fallback settings in turn."""

    config_run: RunResult  # the run at the config's setting
    measured: str
    holds: bool
    values: dict[str, Any]
    found_at: str | None  # the fallback setting where it holds (and its measured text), if any
    tried: list[tuple[str, str, bool]]  # (setting, measured, holds) of every setting tried, in order
    runs: list[RunResult]  # every run trained for it

    def as_claim(self, claim: str, setting: str, criterion: str) -> Claim:
        """The claims-table row of these attempts: ``claim`` (the paper's words), its setting and criterion."""
        return Claim(claim=claim, setting=setting, measured=self.measured, criterion=criterion, holds=self.holds,
                     values=self.values, found_at=self.found_at, tried=self.tried)


def with_fallbacks(ctx: Context, spec: RunSpec, evaluate: ClaimEvaluator, fallbacks: Sequence[Mapping[str, Any]]) -> ClaimAttempts:
    """Evaluate a claim on ``spec``; if it fails, on each fallback in turn until it holds."""
    first = train(spec, ctx)
    measured, holds, values = evaluate(first)
    attempts = ClaimAttempts(first, measured, holds, values, None, [("the config's setting", measured, holds)], [first])
    if holds:
        return attempts
    for override in fallbacks:
        text = describe_override(override)
        alt = train(spec.with_overrides(dict(override), label=f"{spec.label} [{text}]"), ctx)
        attempts.runs.append(alt)
        alt_measured, alt_holds, _ = evaluate(alt)
        attempts.tried.append((text, alt_measured, alt_holds))
        if alt_holds:
            attempts.found_at = f"{text} ({alt_measured})"
            break
    return attempts


def seeds_text(result: RunResult) -> str:
    """"5 seeds, epoch 100": which networks a claim's number comes from."""
    return f"{result.num_seeds} seed{'s' if result.num_seeds > 1 else ''}, epoch {int(result.last['epoch'])}"
