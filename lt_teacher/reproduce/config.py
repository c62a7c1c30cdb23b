"""Reproduction configs: packaged YAML files, scales and overrides.

A config is one YAML file (``lt_teacher/reproduce/configs/<name>.yaml``, printed by
``lt-teacher reproduce --dump <name>``). Its top-level mapping holds the settings of the ``quick``
scale; ``scales: {tiny: {...}, paper: {...}}`` holds overrides for the other scales, merged into it
(mappings merge key by key, every other value is replaced). Command-line overrides are applied last,
in jsonargparse's dotted syntax (``--model.alpha 0.2``, ``--pairs "[[0, 1]]"``; :mod:`.dialect`).

``seed_everything``, ``model``, ``data`` and ``trainer`` have the form of ``lt-teacher fit`` configs
(:mod:`.fit_configs`); the other keys are the experiment's (:mod:`.schema`, :mod:`.settings`).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .dialect import apply_override, parse_override, upgrade_legacy_config
from .errors import ConfigError

SCALES = ("tiny", "quick", "paper")
DEFAULT_SCALE = "quick"
CONFIG_PACKAGE = "lt_teacher.reproduce"  # the YAML files are package data in its configs/ folder


def _configs_dir() -> Any:
    return resources.files(CONFIG_PACKAGE).joinpath("configs")


def packaged_names() -> list[str]:
    """Names of the packaged configs (the reproducible figures), in the order ``all`` runs them."""
    names = [entry.name[: -len(".yaml")] for entry in _configs_dir().iterdir() if entry.name.endswith(".yaml")]
    order = {name: i for i, name in enumerate(ORDER)}
    return sorted(names, key=lambda n: (order.get(n, len(order)), n))


# The order of ``all``: fig7 after fig2-*, whose runs it shares (identical runs are trained once).
ORDER = ("fig1", "fig2-gaussian", "fig2-mnist", "fig3", "fig7", "fig8", "fig9", "supp-relu", "sweep")


def packaged_path(name: str) -> Path:
    """The file of a packaged config (inside the installed package)."""
    check_name(name)
    return Path(str(_configs_dir().joinpath(f"{name}.yaml")))


def packaged_text(name: str) -> str:
    check_name(name)
    return _configs_dir().joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def check_name(name: str) -> str:
    names = packaged_names()
    if name not in names:
        raise ConfigError(f"unknown reproduction {name!r}; valid names: {', '.join(names)}, all (or --config FILE).")
    return name


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``: mappings merge recursively, other values are replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass(frozen=True)
class LoadedConfig:
    """A config resolved for one scale: its settings and where they came from."""

    name: str
    settings: dict[str, Any]
    source: str  # the packaged path or the user's file
    packaged: bool
    scale: str
    overrides: tuple[str, ...]


def run_key(cfg: LoadedConfig) -> str:
    """A digest of what decides a reproduction's result: its resolved settings, scale, the lt-teacher version and
    the package's code (:func:`code_digest`).

    ``reproduce --resume`` keeps a report whose ``results.json`` holds the same key (its runs would be trained again
    with the same settings and code); a changed value anywhere in the config, another scale, version or a changed
    source file (an editable install after a pull keeps its version number) runs again.
    """
    from lt_teacher._version import __version__

    text = json.dumps({"settings": cfg.settings, "scale": cfg.scale, "lt_teacher": __version__, "code": code_digest()},
                      sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 of every Python file and packaged config of lt-teacher (its callbacks and datamodules included,
    wherever an editable install keeps them), in path order."""
    digest = hashlib.sha256()
    for package in ("lt_teacher", "lt_teacher.callbacks", "lt_teacher.datamodules"):
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec is not None else []:
            for path in sorted(Path(folder).rglob("*")):
                if path.suffix in (".py", ".yaml") and "__pycache__" not in path.parts and path.is_file():
                    digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def read_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{origin}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a reproduction config is a YAML mapping, got {type(data).__name__}.")
    return data


def resolve(raw: dict[str, Any], scale: str, overrides: tuple[str, ...], origin: str) -> dict[str, Any]:
    """The settings of ``raw`` at ``scale`` with the command-line overrides (``model.alpha=0.3``, from ``--model.alpha 0.3``) applied."""
    if scale not in SCALES:
        raise ConfigError(f"unknown scale {scale!r}; valid scales: {', '.join(SCALES)}.")
    for key in ("name", "experiment"):
        if key not in raw:
            raise ConfigError(f"{origin}: the config has no `{key}` (every reproduction config names itself and its experiment).")
    scales = raw.get("scales") or {}
    if not isinstance(scales, dict):
        raise ConfigError(f"{origin}: `scales` must map scale names ({', '.join(SCALES)}) to overrides, got {scales!r}.")
    if unknown := [s for s in scales if s not in SCALES]:
        raise ConfigError(f"{origin}: `scales` has unknown scale names {unknown}; valid scales: {', '.join(SCALES)}.")
    settings = {k: v for k, v in raw.items() if k != "scales"}
    if scale != DEFAULT_SCALE and scales.get(scale):
        settings = deep_merge(settings, scales[scale])
    for text in overrides:
        path, value = parse_override(text)
        apply_override(settings, path, value)
    return settings


def load(name_or_path: str, *, scale: str = DEFAULT_SCALE, overrides: tuple[str, ...] = (), is_path: bool = False) -> LoadedConfig:
    """A packaged config by name, or a user's YAML file (``is_path``), resolved for ``scale``."""
    if is_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(f"--config {name_or_path}: no such file (start from `lt-teacher reproduce --dump NAME > my.yaml`).")
        raw = upgrade_legacy_config(read_yaml(path.read_text(encoding="utf-8"), str(path)), str(path))
        settings = resolve(raw, scale, overrides, str(path))
        return LoadedConfig(str(settings["name"]), settings, str(path), False, scale, overrides)
    check_name(name_or_path)
    origin = str(packaged_path(name_or_path))
    raw = read_yaml(packaged_text(name_or_path), origin)
    settings = resolve(raw, scale, overrides, origin)
    return LoadedConfig(name_or_path, settings, origin, True, scale, overrides)


def require_keys(settings: Mapping[str, Any], allowed: Mapping[str, Any], where: str) -> None:
    """Reject keys of ``settings`` that are not in ``allowed`` (a typo is an error, never ignored)."""
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid keys: {', '.join(sorted(allowed))}.")
