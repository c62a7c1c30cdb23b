"""How a reproduction config is changed from the command line, and the earlier config dialect, read with a notice.

Overrides use jsonargparse's dotted syntax, as ``lt-teacher fit`` does: ``--model.alpha 0.3``,
``--trainer.max_epochs=200``, ``--data.dim 5`` (short for ``--data.init_args.dim``), ``--pairs "[[0, 1]]"``;
the value is parsed as YAML. Internally an override is the text ``model.alpha=0.3``
(:func:`dotted_overrides` turns the flags into that, :func:`apply_override` applies one).

The earlier dialect (``train: {epochs, evaluations, steps_per_epoch, seed}``, ``data: {kind: gaussian, ...}``,
``--set KEY=VALUE``) still works, with a :class:`DeprecationWarning`: :func:`upgrade_legacy_config` and
:func:`legacy_set_override` translate it.
"""

from __future__ import annotations

import copy
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from .errors import ConfigError

#: The datamodules a reproduction trains on, by the kind its run specs name.
DATA_CLASSES = {
    "gaussian": "lt_teacher.datamodules.LinearTeacherDataModule",
    "mnist": "lt_teacher.datamodules.MNISTPairsDataModule",
}
#: Top-level keys an override may add when the config does not have them yet.
ADDABLE_KEYS = ("seed_everything", "model", "data", "trainer", "schedule", "criteria")
#: ``train.<key>`` of the earlier dialect -> its key now.
LEGACY_TRAIN_KEYS = {
    "epochs": ("trainer", "max_epochs"),
    "evaluations": ("schedule", "evaluations"),
    "steps_per_epoch": ("schedule", "steps_per_epoch"),
    "seed": ("seed_everything",),
}


def deprecated(message: str) -> None:
    """A :class:`DeprecationWarning`, and the same line on stderr (Python hides the warning outside ``__main__``)."""
    warnings.warn(message, DeprecationWarning, stacklevel=3)
    print(f"lt-teacher reproduce: deprecated: {message}", file=sys.stderr)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=value"`` as (["a", "b"], parsed YAML value)."""
    if "=" not in text:
        raise ConfigError(f"an override is KEY=VALUE with a dotted key (e.g. --model.alpha 0.2), got {text!r}.")
    key, raw = text.split("=", 1)
    path = [part for part in key.strip().lstrip("-").split(".") if part]
    if not path:
        raise ConfigError(f"an override needs a non-empty key (e.g. --model.alpha 0.2), got {text!r}.")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ConfigError(f"--{key}: cannot parse {raw!r} as a YAML value: {err}") from err
    return path, value


def dotted_overrides(argv: Sequence[str], options: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split ``argv`` into overrides (``--a.b VALUE`` or ``--a.b=VALUE``, returned as ``a.b=VALUE``) and the rest.

    A flag that is not one of the command's own ``options`` is an override, dotted or not
    (``--pairs "[[0, 1]]"``).
    """
    overrides: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg[2:].split("=", 1)[0]
        if arg.startswith("--") and name and f"--{name}" not in options:
            if "=" in arg:
                overrides.append(arg[2:])
            elif i + 1 < len(argv) and not (argv[i + 1].startswith("--") and len(argv[i + 1]) > 2):
                overrides.append(f"{name}={argv[i + 1]}")
                i += 1
            else:
                raise ConfigError(f"{arg} needs a value (e.g. {arg} 0.2 or {arg}=0.2).")
        else:
            rest.append(arg)
        i += 1
    return overrides, rest


def canonical_path(path: list[str]) -> list[str]:
    """``data.dim`` -> ``data.init_args.dim``: a datamodule's argument, as ``--data.dim`` means in ``lt-teacher fit``."""
    if path[0] == "data" and len(path) > 1 and path[1] not in ("class_path", "init_args"):
        return ["data", "init_args", *path[1:]]
    return path


def apply_override(config: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``config[path[0]]...[path[-1]] = value``.

    The top-level key must be in the config (or be one of ``ADDABLE_KEYS``); missing mappings below it are
    created. What the key names is checked afterwards: the run-level keys by ``lt-teacher fit``'s parser,
    the experiment-level ones by the experiment's schema (both name the key and list the valid ones).
    """
    path = canonical_path(path)
    flag = "--" + ".".join(path)
    if path[0] not in config and path[0] not in ADDABLE_KEYS:
        raise ConfigError(f"{flag}: {path[0]!r} is not a top-level key of the config (keys: {', '.join(sorted(config))}).")
    node: Any = config
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{flag}: {'.'.join(path[: depth + 1])!r} is not a mapping in the config (it is {child!r}).")
        node = child
    node[path[-1]] = value


def legacy_set_override(text: str) -> str:
    """A ``--set KEY=VALUE`` of the earlier dialect as an override now (``train.epochs=5`` -> ``trainer.max_epochs=5``)."""
    path, _ = parse_override(text)
    raw = text.split("=", 1)[1]
    if path[0] == "train" and len(path) == 2 and path[1] in LEGACY_TRAIN_KEYS:
        path = list(LEGACY_TRAIN_KEYS[path[1]])
    return ".".join(path) + "=" + raw


def _upgrade_section(section: Mapping[str, Any], *, top: bool) -> tuple[dict[str, Any], bool]:
    out = copy.deepcopy(dict(section))
    changed = False
    train = out.pop("train", None)
    if isinstance(train, Mapping):
        changed = True
        for key, value in train.items():
            target = LEGACY_TRAIN_KEYS.get(key)
            if target is None:
                raise ConfigError(f"`train.{key}` is not a key of the earlier `train` section (valid: {', '.join(LEGACY_TRAIN_KEYS)}).")
            if len(target) == 1:
                out[target[0]] = value
            else:
                out.setdefault(target[0], {})[target[1]] = value
    if "epochs" in out and not top:  # a fallback's {epochs: N}
        out.setdefault("trainer", {})["max_epochs"] = out.pop("epochs")
        changed = True
    data = out.get("data")
    if isinstance(data, Mapping) and "class_path" not in data and "init_args" not in data:
        args = dict(data)
        kind = args.pop("kind", None)
        out["data"] = ({"class_path": DATA_CLASSES.get(str(kind), str(kind))} if kind is not None else {}) | {"init_args": args}
        changed = True
    return out, changed


def upgrade_legacy_config(raw: dict[str, Any], origin: str) -> dict[str, Any]:
    """``raw`` in the current form if it is written in the earlier dialect (with a deprecation notice), else ``raw``."""
    upgraded, changed = _upgrade_section(raw, top=True)
    scales = upgraded.get("scales")
    if isinstance(scales, Mapping):
        upgraded["scales"] = {}
        for name, scale in scales.items():
            upgraded["scales"][name], scale_changed = _upgrade_section(scale, top=False) if isinstance(scale, Mapping) else (scale, False)
            changed |= scale_changed
    fallbacks = upgraded.get("fallback")
    if isinstance(fallbacks, list):
        upgraded["fallback"] = []
        for item in fallbacks:
            new, item_changed = _upgrade_section(item, top=False) if isinstance(item, Mapping) else (item, False)
            upgraded["fallback"].append(new)
            changed |= item_changed
    if isinstance(upgraded.get("notes"), Mapping):
        renamed = {"train.epochs": "trainer.max_epochs", "train.evaluations": "schedule.evaluations",
                   "train.steps_per_epoch": "schedule.steps_per_epoch", "train.seed": "seed_everything"}
        upgraded["notes"] = {renamed.get(k, k): v for k, v in upgraded["notes"].items()}
    if changed:
        deprecated(
            f"{origin} uses the earlier config dialect (`train:` or `data: {{kind: ...}}`); it was read as "
            "seed_everything/trainer.max_epochs/schedule and data.class_path/init_args, the form of `lt-teacher fit` "
            "configs. Update the file (`lt-teacher reproduce --dump NAME` prints the current form)."
        )
    return upgraded
