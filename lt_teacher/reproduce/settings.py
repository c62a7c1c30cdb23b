"""The experiment-level settings every reproduction config shares, validated: :class:`ExperimentSettings`.

A config's sections (``data``, ``model``, ``train``, ``criteria``, ``fallback``) are read here once,
unknown keys are rejected with the list of valid ones, and :meth:`ExperimentSettings.spec` turns them
into the :class:`~.run_spec.RunSpec` of a run. :func:`setting_tables` builds the report's two setting
tables (the values the paper states, and the choices it leaves open).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .config import ConfigError, LoadedConfig, require_keys, section
from .run_spec import RunSpec

COMMON_KEYS = ("name", "experiment", "title", "paper", "notes", "data", "model", "train", "criteria")
TRAIN_DEFAULTS = {"epochs": 100, "evaluations": 20, "steps_per_epoch": 4, "seed": 0}


class ExperimentSettings:
    """The sections of a resolved config that every experiment uses, validated.

    Attributes:
        cfg: the loaded config (name, source, scale, overrides).
        name: the reproduction's name.
        where: "config NAME (SOURCE)", the prefix of every error message about it.
        train: ``train`` merged over ``TRAIN_DEFAULTS`` (epochs, evaluations, steps_per_epoch, seed).
        criteria: ``criteria`` merged over the experiment's thresholds.
        model: the :class:`~lt_teacher.LeakyReLUTeacherNet` arguments of ``model``.
        data: the datamodule arguments of ``data`` (with ``kind``).
        resolved: the whole resolved mapping (experiment-specific keys such as ``init`` or ``pairs``).
    """

    def __init__(self, cfg: LoadedConfig, extra_keys: Sequence[str], criteria_defaults: Mapping[str, float]) -> None:
        s = cfg.settings
        self.cfg = cfg
        self.name = cfg.name
        where = f"config {cfg.name!r} ({cfg.source})"
        require_keys(s, {k: None for k in (*COMMON_KEYS, *extra_keys)}, where)
        self.where = where
        self.train = section(s, "train", TRAIN_DEFAULTS, where)
        self.criteria = section(s, "criteria", criteria_defaults, where)
        self.model = dict(s.get("model") or {})
        self.data = dict(s.get("data") or {})
        self.resolved = s

    def spec(self, label: str, data: Mapping[str, Any], model: Mapping[str, Any], **flags: Any) -> RunSpec:
        data = dict(data)
        kind = data.pop("kind", "gaussian")
        return RunSpec(
            experiment=self.name, label=label, data_kind=kind, data=data, model=dict(model),
            epochs=int(self.train["epochs"]), evaluations=int(self.train["evaluations"]),
            steps_per_epoch=int(self.train["steps_per_epoch"]), seed=int(self.train["seed"]), **flags,
        )

    def fallbacks(self) -> list[dict[str, Any]]:
        value = self.resolved.get("fallback") or []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ConfigError(f"{self.where}: `fallback` must be a list of overrides like {{model: {{init_std: 1.0e-4}}}}, got {value!r}.")
        return value



def flatten(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += flatten(f"{prefix}.{k}" if prefix else str(k), v)
        return out
    return [(prefix, value)]


def setting_tables(settings: Mapping[str, Any], sections: Sequence[str]) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(stated, choices): the paper's stated values against the ones used, and every other setting with its note."""
    paper = settings.get("paper") or {}
    states = dict(paper.get("states") or {}) if isinstance(paper, Mapping) else {}
    notes = dict(settings.get("notes") or {})
    used = dict(item for name in sections if name in settings for item in flatten(name, settings[name]))
    stated: list[tuple[str, str]] = []
    for key, paper_value in states.items():
        value = used.get(key, paper_value)
        same = str(value) == str(paper_value)
        stated.append((key, f"{value}" if same else f"{value} (paper: {paper_value}; changed in this config)"))
    choices = [(k, f"{v}", str(notes.get(k, ""))) for k, v in used.items() if k not in states]
    return stated, choices
