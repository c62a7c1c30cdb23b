"""What the ``lt-teacher`` command line adds around LightningCLI: short error messages with a
suggestion for a mistyped option, one flag style for ``--model.*`` and ``--data.*``, the
silencing of messages the package causes (not of real warnings), whether W&B can log online,
the help text and run names, and the refusal of flags that cannot work (an optimizer the engine
never steps, hardware the machine lacks).

It imports nothing of the package, so both :mod:`lt_teacher.cli` and :mod:`lt_teacher.reproduce`
build on it without importing each other.
"""

from __future__ import annotations

import difflib
import logging
import netrc
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from typing_extensions import override

TRACEBACK_ENV = "LT_TEACHER_TRACEBACK"
TRACEBACK_FLAG = "--traceback"

# Errors that describe a wrong input (an argument, a config value, a missing file): one message, no traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, FileNotFoundError, NotADirectoryError)


def wandb_credentials_present() -> bool:
    """True when W&B can log online: an API key in the environment or a login in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    if os.environ.get("WANDB_MODE", "").lower() in {"offline", "disabled", "dryrun"}:
        return False
    try:
        hosts = netrc.netrc().hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


def traceback_requested(argv: list[str]) -> tuple[bool, list[str]]:
    """Whether the full traceback is wanted (``--traceback`` or ``LT_TEACHER_TRACEBACK=1``), and argv without the flag."""
    wanted = os.environ.get(TRACEBACK_ENV, "").strip().lower() not in {"", "0", "false", "no"}
    if TRACEBACK_FLAG in argv:
        wanted = True
        argv = [a for a in argv if a != TRACEBACK_FLAG]
    return wanted, argv


def normalize_flags(argv: Sequence[str]) -> list[str]:
    """``--model.init_args.x`` -> ``--model.x`` (the model is not selected by class, so both spellings mean one thing).

    ``--data.x`` already works for the selected datamodule's argument ``x`` (and ``--data.init_args.x``
    keeps working), so both groups accept the same short style.
    """
    out = []
    for arg in argv:
        if arg.startswith("--model.init_args."):
            arg = "--model." + arg[len("--model.init_args."):]
        out.append(arg)
    return out


class _DropTips(logging.Filter):
    @override
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "💡 Tip" not in message and not message.startswith("Trainer already configured with model summary")


def silence_package_noise() -> None:
    """Drop what the package causes and can not fix at the source; real warnings stay.

    * Lightning's advertising tips (litlogger, litmodels), and its note that our model summary replaces its own;
    * ``isinstance(treespec, LeafSpec)`` is deprecated: raised inside Lightning with newer torch, on every run;
    * W&B's banner lines (``WANDB_QUIET``; W&B warnings are still shown), unless the user set it.
    """
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_DropTips())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    os.environ.setdefault("WANDB_QUIET", "true")


# ------------------------------------------------------------------------------- help, version, run name
HELP = """usage: lt-teacher {fit,validate,test,reproduce} [options]   (lt-teacher COMMAND --help for its options)

Train the two-layer Leaky-ReLU network of Sarussi, Brutzkus & Globerson (ICML 2021) on a linear teacher
and log every diagnostic of the paper (PyTorch Lightning + W&B).

commands:
  fit         train; the diagnostics, neuron snapshots and curves go to runs/ (CSV, W&B, PNG)
  validate    evaluate the diagnostics of a network (--ckpt_path FILE, or last: the newest last.ckpt) on the validation split
  test        the same on the test split
  reproduce   re-run the paper's experiments and write a claims report (lt-teacher reproduce --help)

options:
  -h, --help  this message
  --version   the installed version
  --traceback show the full traceback of an error (or set LT_TEACHER_TRACEBACK=1)

Examples: lt-teacher fit;  lt-teacher fit --model.alpha 0.2 --trainer.max_epochs 20;
          lt-teacher fit --config configs/mnist-pair.yaml --data.digits [3,5]
The README (README.md of the project) describes every option, the logged keys and the reproduction."""


def package_version() -> str:
    from lt_teacher._version import __version__

    return __version__


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def run_name(config: Any) -> str:
    """A readable W&B run name: data set, alpha, init scale (e.g. ``LinearTeacher-2d-alpha0.1-init0.001``)."""
    data = config.get("data") or {}
    init = data.get("init_args") or {}
    name = str(data.get("class_path", "data")).rsplit(".", 1)[-1].replace("DataModule", "")
    pair = init.get("digits") or init.get("classes")
    if pair:
        name += "-" + "v".join(str(c) for c in pair)
    elif "dim" in init:
        name += f"-{init['dim']}d"
    model = config.get("model") or {}
    return f"{name}-alpha{_short(model.get('alpha'))}-init{_short(model.get('init_std'))}"


# ------------------------------------------------------------------------------- flags that cannot work
def _class_name(value: Any) -> str:
    path = value.get("class_path", value) if hasattr(value, "get") else value
    return str(path).rsplit(".", 1)[-1]


def optimizer_flag_error(engine: str, optimizer: Any, lr_scheduler: Any) -> str | None:
    """Why ``--optimizer``/``--lr_scheduler`` cannot apply with the model's ``engine`` (None when they do).

    The per-example engines (fused, reference) run their own SGD with ``--model.lr``; the optimizer
    Lightning steps there updates nothing, so any other optimizer or a scheduler would be silently
    ignored. LightningCLI attaches a scheduler only to the optimizer it builds from ``--optimizer``.
    """
    given = [(flag, _class_name(value)) for flag, value in (("--optimizer", optimizer), ("--lr_scheduler", lr_scheduler)) if value]
    if not given:
        return None
    flag, name = given[0]
    if engine != "lightning":
        return (f"{flag} {name}: --model.engine {engine} runs its own per-example SGD with the learning rate --model.lr and "
                f"steps no optimizer, so {flag} would be ignored; set --model.lr, or pass --model.engine lightning to train "
                f"with {flag} {name}")
    if not optimizer:
        return (f"--lr_scheduler {name} needs --optimizer: LightningCLI attaches a scheduler to the optimizer it builds "
                "(e.g. --optimizer SGD --optimizer.lr 0.01)")
    return None


def accelerator_flag_error(accelerator: Any) -> str | None:
    """Why ``--trainer.accelerator`` names hardware this machine lacks (None when it has it or chose none)."""
    if not isinstance(accelerator, str) or accelerator.lower() not in ("gpu", "cuda", "mps", "tpu"):
        return None
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator, XLAAccelerator

    name = accelerator.lower()
    found = {"cuda": CUDAAccelerator.is_available(), "mps": MPSAccelerator.is_available(), "tpu": XLAAccelerator.is_available()}
    wanted = {"gpu": ("cuda", "mps"), "cuda": ("cuda",), "mps": ("mps",), "tpu": ("tpu",)}[name]
    if any(found[w] for w in wanted):
        return None
    what = {"gpu": "GPU", "cuda": "CUDA device", "mps": "Apple MPS device", "tpu": "TPU"}[name]
    why = {"gpu": " (torch.cuda.is_available() is False, and no Apple MPS)", "cuda": " (torch.cuda.is_available() is False)"}.get(name, "")
    return f"--trainer.accelerator {accelerator}: this machine has no usable {what}{why}; use --trainer.accelerator cpu, or auto (a GPU when there is one)"


# --------------------------------------------------------------------------------------------- errors
def _option_names(parser: object) -> list[str]:
    names: list[str] = []
    for action in getattr(parser, "_actions", []):
        names.extend(s for s in getattr(action, "option_strings", []) if s.startswith("--"))
        sub = getattr(action, "_name_parser_map", None)
        if sub:
            for sub_parser in sub.values():
                names.extend(_option_names(sub_parser))
    return names


def _data_class_options(message: str) -> list[str]:
    """``--data.<arg>`` for every argument of the datamodule named in a jsonargparse message."""
    match = re.search(r"class_path '([\w.]+)'", message)
    if not match:
        return []
    module_name, _, class_name = match.group(1).rpartition(".")
    try:
        import importlib
        import inspect

        cls = getattr(importlib.import_module(module_name), class_name)
        names: list[str] = []
        for klass in cls.__mro__:
            if klass.__module__.startswith("lightning"):
                break
            params = inspect.signature(klass.__init__).parameters
            names += [f"--data.{p}" for p in params if p not in {"self", "args", "kwargs"}]
        return names
    except Exception:  # a suggestion is a courtesy: never fail the error message for it
        return []


def suggest(unknown: str, candidates: Iterable[str]) -> str | None:
    """The valid option closest to ``unknown`` (difflib), or None."""
    close = difflib.get_close_matches(unknown, sorted(set(candidates)), n=1, cutoff=0.6)
    return close[0] if close else None


def condense(message: str) -> str:
    """jsonargparse's message without the Union/subtype noise: the reasons under "Errors:", one per line; a value of
    the wrong type is one line, ``--model.alpha: expected float or list, got '0.2x'``."""
    lines = [line.rstrip() for line in message.strip().splitlines() if line.strip()]
    if not any("Does not validate against any of the Union subtypes" in line for line in lines):
        return _wrong_type(lines) or "\n".join(lines)
    reasons = _union_reasons(lines)
    return _wrong_type(reasons) or "\n".join(reasons)


def _wrong_type(lines: list[str]) -> str | None:
    """``--KEY: expected T or U, got 'V'`` for jsonargparse's "Parser key ...: Expected a <class 'T'> ... Got value: V"
    (keys of a class_path argument joined: data.n_train); None for any other message."""
    text = " ".join(line.strip() for line in lines)
    keys = re.findall(r'Parser key "([\w.]+)"', text)
    types = [t for t in dict.fromkeys(re.findall(r"Expected a <class '(\w+)'>", text)) if t != "NoneType"]
    got = re.search(r"Got value: (.*?)(?: Parser key|$)", text)
    leftover = re.sub(r'Parser key "[\w.]+":|Problem with given class_path \'[\w.]+\':|Expected a <class \'\w+\'>\.?|Got value: .*', "", text)
    if not keys or not types or got is None or leftover.strip():
        return None
    key = ".".join(dict.fromkeys(keys))
    return f"--{key}: expected {' or '.join(types)}, got {got.group(1).strip()!r}"


def _union_reasons(lines: list[str]) -> list[str]:
    """The reasons of a "Does not validate against any of the Union subtypes" message, one per line."""
    kept = [lines[0].strip()] if lines[0].strip().startswith("Parser key") else []
    inside = False
    for line in lines:
        text = line.strip()
        if text.startswith("Errors:"):
            inside = True
        elif text.startswith("Given value"):
            inside = False
            value = text.partition(":")[2].strip()
            if text.startswith("Given value:") and len(value) < 80 and "(" not in value:
                kept.append(f"  Got value: {value}")
        elif inside and not text.startswith("- Expected a <class 'NoneType'>"):
            kept.append("  " + (text[2:] if text.startswith("- ") else text))
    return kept


def argument_error_text(message: str, parser: object, subcommand: str | None) -> str:
    """One short block: what is wrong, the closest valid option for an unknown one, how to get help."""
    text = condense(message)
    hints: list[str] = []
    unknown = re.findall(r"(--[\w.\-]+)", message) if "unrecognized arguments" in message else []
    for match in re.finditer(r"Option '([\w]+)' is not accepted", message):
        unknown.append(f"--data.{match.group(1)}")
    candidates = _option_names(parser) + _data_class_options(message)
    for option in unknown:
        close = suggest(option, candidates)
        if close and close != option:
            hints.append(f"did you mean {close}?")
    command = f"lt-teacher {subcommand}" if subcommand else "lt-teacher"
    if "is not accepted" in message:
        hints.append("a datamodule's arguments depend on its class: choose it first, e.g. --data MNISTPairsDataModule --data.digits [3,5]")
    hints.append(f"accepted options: {command} --help (a datamodule's: {command} --data.help CLASS)")
    return text + "\n" + "\n".join(f"  hint: {h}" for h in hints)


SIGINT_EXIT, SIGTERM_EXIT = 130, 143  # 128 + the signal's number, as a shell reports a process a signal stopped


def signal_exit_code(err: BaseException) -> int | None:
    """The exit status of a command a signal stopped (130 Ctrl-C, 143 SIGTERM); None for any other exception.

    Lightning ends a run stopped by SIGTERM with ``SIGTERMException``, a ``SystemExit`` without a code (status 0,
    which ``timeout``, schedulers and CI read as success), and one stopped by Ctrl-C with ``sys.exit(1)`` raised
    while it handles the ``KeyboardInterrupt``.
    """
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    if isinstance(err, SIGTERMException):
        return SIGTERM_EXIT
    if isinstance(err, KeyboardInterrupt) or (isinstance(err, SystemExit) and isinstance(err.__context__, KeyboardInterrupt)):
        return SIGINT_EXIT
    return None


def stopped_by_signal(err: BaseException, command: str, *, resumable: bool) -> int:
    """Say that a signal stopped ``command`` and return its exit status (:func:`signal_exit_code`); ``err`` is
    raised again when no signal stopped it. ``resumable``: a fit, whose finished epochs are in checkpoints."""
    code = signal_exit_code(err)
    if code is None:
        raise err
    resume = "; every finished epoch is in a checkpoint: resume with --ckpt_path last" if resumable else ""
    print(f"{command}: stopped by {'SIGTERM' if code == SIGTERM_EXIT else 'Ctrl-C'}{resume}", file=sys.stderr)
    return code


def report_error(err: BaseException, command: str, *, full_traceback: bool) -> int:
    """Print ``err`` for a user; return the exit code (2)."""
    if full_traceback:
        traceback.print_exception(err)
        return 2
    frames = traceback.extract_tb(err.__traceback__)
    where = f" (raised at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    message = str(err).strip() or type(err).__name__
    print(f"{command}: error: {message}", file=sys.stderr)
    hint = getattr(err, "lt_teacher_hint", None)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    print(f"  ({type(err).__name__}{where}; set {TRACEBACK_ENV}=1 or pass {TRACEBACK_FLAG} for the full traceback)", file=sys.stderr)
    return 2
