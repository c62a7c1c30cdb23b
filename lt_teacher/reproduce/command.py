"""``lt-teacher reproduce``: run the paper's experiments from their configs and write the reports."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lt_teacher._cli_support import condense, signal_exit_code

from .config import DEFAULT_SCALE, SCALES, ConfigError, LoadedConfig, load, packaged_names, packaged_path, packaged_text, run_key
from .report import Report, finished_report, summary_markdown
from .data import DataNotFound
from .dialect import deprecated, dotted_overrides, legacy_set_override
from .fit_configs import check_run_sections
from .report_folders import publish, staging_folder
from .runner import Context, RunResult
from .wandb_runs import WANDB_MODES

USAGE_EXAMPLES = """\
examples:
  lt-teacher reproduce all                       every figure at the quick scale (< 20 min on 2 CPU cores)
  lt-teacher reproduce fig1 fig8 --scale paper   two figures at the paper's sizes
  lt-teacher reproduce fig2-gaussian --model.alpha 0.3 --trainer.max_epochs 200
  lt-teacher reproduce --dump fig9 > my.yaml     copy a config, edit it, then:
  lt-teacher reproduce --config my.yaml
"""


OVERRIDES_HELP = """\
overrides (repeatable, jsonargparse's dotted syntax as in `lt-teacher fit`; the value is YAML):
  --model.alpha 0.2            a LeakyReLUTeacherNet argument        --data.dim 5   a datamodule argument
  --trainer.max_epochs 200     the epochs of every run               --seed_everything 1
  --init.small 1e-4  --pairs "[[0, 1]]"  --criteria.zero_at_most 0.02  --schedule.evaluations 40 ...
  (the experiment's keys: see the config, `lt-teacher reproduce --dump NAME`)"""


@dataclass
class Outcome:
    """What one invocation produced."""

    reports: list[Report] = field(default_factory=list)
    report_paths: list[Path] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)  # reproductions that failed or were interrupted
    runs: list[RunResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # reproductions whose finished report --resume kept
    wall_seconds: float = 0.0


def parser() -> argparse.ArgumentParser:
    names = packaged_names()
    p = argparse.ArgumentParser(
        prog="lt-teacher reproduce",
        description=(
            "Reproduce the paper's figures: train with the fused engine and the monitors, log every run to W&B "
            "(offline without credentials) and write reports/<name>/ with PNG figures and REPORT.md (the setting, "
            "the choices the paper leaves open, and each claim with its measured value and verdict)."
        ),
        epilog=f"names: {', '.join(names)}, all\n\n{OVERRIDES_HELP}\n\n{USAGE_EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="*", metavar="NAME", help=f"reproductions to run: {', '.join(names)}, or all")
    p.add_argument("--config", action="append", default=[], metavar="FILE", help="run a (copied, edited) config file; repeatable")
    p.add_argument("--scale", default=DEFAULT_SCALE, choices=SCALES, help="tiny: seconds (tests); quick: the paper's network, data sizes and 5 seeds, all in < 20 min on 2 cores (default); paper: the same with 10x longer training and more MNIST pairs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides", help="deprecated: use --KEY VALUE (e.g. --model.alpha 0.2)")
    p.add_argument("--reports-dir", default="reports", help="where reports/<name>/ are written (default: reports)")
    p.add_argument("--runs-dir", default=os.path.join("runs", "reproduce"), help="where W&B run folders and plots go (default: runs/reproduce)")
    p.add_argument("--wandb", default="auto", choices=WANDB_MODES, help="auto: online with credentials, else offline (default)")
    p.add_argument("--threads", type=int, default=None, help="torch and numba threads (default: all CPU cores)")
    p.add_argument("--resume", action="store_true", help="keep every report an earlier run of the same config, scale and lt-teacher version finished (after an interruption); run the others")
    p.add_argument("--list", action="store_true", help="list the reproductions and their config files")
    p.add_argument("--dump", metavar="NAME", help="print a packaged config (copy it to edit)")
    return p


def set_threads(threads: int | None) -> int:
    import numba
    import torch

    count = threads if threads is not None else (os.cpu_count() or 1)
    if count < 1:
        raise ConfigError(f"--threads must be >= 1, got {count}.")
    torch.set_num_threads(count)
    numba.set_num_threads(min(count, int(getattr(numba.config, "NUMBA_NUM_THREADS"))))
    return count


def selected_configs(names: Sequence[str], config_files: Sequence[str], scale: str, overrides: Sequence[str]) -> list[LoadedConfig]:
    """The configs to run, in order; unknown names raise with the list of valid ones."""
    valid = packaged_names()
    expanded: list[str] = []
    for name in names:
        if name == "all":
            expanded += valid
        elif name in valid:
            expanded.append(name)
        else:
            raise ConfigError(f"unknown reproduction {name!r}; valid names: {', '.join(valid)}, all (or --config FILE).")
    unique = list(dict.fromkeys(expanded))
    if not unique and not config_files:
        raise ConfigError(f"name a reproduction ({', '.join(valid)}, all) or pass --config FILE; see --help.")
    if overrides and len(unique) + len(config_files) > 1:
        raise ConfigError(f"overrides ({' '.join('--' + o for o in overrides)}) change one config; run one reproduction at a time with them (or edit a copied config).")
    configs = [load(name, scale=scale, overrides=tuple(overrides)) for name in unique]
    configs += [load(path, scale=scale, overrides=tuple(overrides), is_path=True) for path in config_files]
    return configs


def reproduce(
    names: Sequence[str] = (),
    *,
    configs: Sequence[str] = (),
    scale: str = DEFAULT_SCALE,
    overrides: Sequence[str] = (),
    reports_dir: str | Path = "reports",
    runs_dir: str | Path = os.path.join("runs", "reproduce"),
    wandb: str = "auto",
    echo: Callable[[str], None] = print,
    command: str | None = None,
    resume: bool = False,
) -> Outcome:
    """Run reproductions and write their reports; the Python face of ``lt-teacher reproduce``.

    With ``resume``, a reproduction whose report folder holds a finished report of the same config, scale and
    lt-teacher version (:func:`~lt_teacher.reproduce.config.run_key`) is kept as it is instead of run again.
    """
    from .experiments import EXPERIMENTS

    start = time.perf_counter()
    loaded = selected_configs(names, configs, scale, overrides)
    for cfg in loaded:
        kind = cfg.settings.get("experiment")
        if kind not in EXPERIMENTS:
            raise ConfigError(f"config {cfg.name!r} ({cfg.source}): unknown experiment {kind!r}; valid: {', '.join(EXPERIMENTS)}.")
    command = command or "lt-teacher reproduce " + " ".join(shlex.quote(a) for a in [*names, *sum((["--config", c] for c in configs), []), "--scale", scale, *(f"--{o}" for o in overrides)])
    ctx = Context(runs_dir=Path(runs_dir), wandb=wandb, echo=echo)
    outcome = Outcome()
    reports_root = Path(reports_dir)
    for cfg in loaded:
        precheck(cfg)  # a bad value fails here, before anything is trained or written
    for position, cfg in enumerate(loaded):
        folder = reports_root / report_folder_name(cfg)
        key = run_key(cfg)
        kept = finished_report(folder, key) if resume else None
        if kept is not None:
            outcome.reports.append(kept)
            outcome.report_paths.append(folder / "REPORT.md")
            outcome.kept.append(cfg.name)
            echo(f"[{cfg.name}] kept {folder / 'REPORT.md'}: finished earlier with the same config, scale and lt-teacher version (--resume)")
            continue
        echo(f"[{cfg.name}] {cfg.settings.get('title', '')} (scale {scale})" + (f" -> variant {folder}" if folder.name != cfg.name else ""))
        t0 = time.perf_counter()
        staging = staging_folder(folder)
        try:
            try:
                report = EXPERIMENTS[cfg.settings["experiment"]](cfg, ctx, staging, command)
            except DataNotFound as err:
                if "all" not in names:
                    raise
                if (folder / "REPORT.md").is_file():  # an earlier report (e.g. the committed one) is worth more than a note
                    shutil.rmtree(staging, ignore_errors=True)
                    outcome.skipped.append((cfg.name, f"{err} (the earlier report in {folder} was kept)"))
                else:
                    outcome.skipped.append((cfg.name, str(err)))
                    (staging / "REPORT.md").write_text(f"# {cfg.name}: skipped\n\nThe data this reproduction needs is missing: {err}\n", encoding="utf-8")
                    publish(staging, folder)
                echo(f"[{cfg.name}] skipped: {outcome.skipped[-1][1]}")
                continue
            if folder.name != cfg.name:
                report.notes.insert(0, f"Variant of `{cfg.name}` ({_variant_text(cfg)}); the report of the config as packaged stays in `{cfg.name}/`.")
            report.run_key = key
            report.write(staging)
            publish(staging, folder)
        except BaseException as err:  # failure or Ctrl-C: the existing report stays as it was
            shutil.rmtree(staging, ignore_errors=True)
            outcome.unfinished = [c.name for c in loaded[position:]]
            what = "interrupted" if isinstance(err, (KeyboardInterrupt, SystemExit)) else f"failed ({type(err).__name__})"
            left = f"{folder} left unchanged" if folder.exists() else f"nothing written to {folder}"
            done = ", ".join(p.parent.name for p in outcome.report_paths) or "none"
            echo(f"[{cfg.name}] {what}: {left}. Completed: {done}; not finished: {', '.join(outcome.unfinished)}. "
                 "Run the same command with --resume to keep the completed reports and run the others.")
            raise
        path = folder / "REPORT.md"
        outcome.reports.append(report)
        outcome.report_paths.append(path)
        verdicts = ", ".join(c.verdict for c in report.claims)
        echo(f"[{cfg.name}] {time.perf_counter() - t0:.1f} s -> {path} ({verdicts})")
    outcome.runs = list(ctx.trained)
    outcome.wall_seconds = time.perf_counter() - start
    if "all" in names:
        notes = [f"Skipped {name}: {why}" for name, why in outcome.skipped]
        if outcome.kept:
            notes.append(f"Kept from an earlier run of the same configs (--resume), not run again: {', '.join(outcome.kept)}; the wall time is this run's.")
        summary = summary_markdown(outcome.reports, command=command, wall_seconds=outcome.wall_seconds, scale=scale, notes=notes)
        reports_root.mkdir(parents=True, exist_ok=True)
        partial = reports_root / f".README.md.{os.getpid()}.part"
        partial.write_text(summary, encoding="utf-8")
        os.replace(partial, reports_root / "README.md")
    if any(r.wandb_dir for r in outcome.runs) and ctx.offline():
        echo(f"W&B runs were logged offline under {Path(runs_dir).resolve()}; upload them with `wandb sync {Path(runs_dir) / '*' / 'wandb' / 'offline-run-*'}`.")
    echo(f"done in {outcome.wall_seconds:.0f} s; reports in {reports_root.resolve()}")
    return outcome


def _variant_text(cfg: LoadedConfig) -> str:
    parts = [f"--{o}" for o in cfg.overrides]
    if not cfg.packaged:
        parts.insert(0, f"--config {cfg.source}")
    return ", ".join(parts)


def report_folder_name(cfg: LoadedConfig) -> str:
    """``<name>`` for a packaged config as it is; ``<name>+<what changed>`` for a variant of one.

    A variant (overrides, or ``--config`` with a packaged name) never replaces the canonical
    report: ``fig8 --model.alpha 0.2`` writes ``fig8+model.alpha=0.2/``, ``--config my.yaml`` naming
    itself fig8 writes ``fig8+config-my/``. A config with a name of its own writes ``<its name>/``.
    """
    parts = [f"config-{Path(cfg.source).stem}"] if not cfg.packaged and cfg.name in packaged_names() else []
    parts += list(cfg.overrides)
    if not parts:
        return _slug(cfg.name)
    name = _slug(cfg.name + "+" + "+".join(parts))
    if len(name) > 100:
        digest = hashlib.sha256(name.encode()).hexdigest()[:10]
        name = f"{name[:88]}-{digest}"
    return name


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+,-]", "_", text).strip("._") or "report"


def precheck(cfg: LoadedConfig) -> None:
    """Reject a bad run-level value before training: the keys ``lt-teacher fit``'s parser checks, then the network's values.

    The experiment-level sections are checked by each experiment when it starts (:mod:`.schema`).
    """
    from lt_teacher.model import LeakyReLUTeacherNet

    where = f"config {cfg.name!r} ({cfg.source})"
    model = cfg.settings.get("model") or {}
    if not isinstance(model, dict):
        raise ConfigError(f"{where}: `model` must be a mapping of LeakyReLUTeacherNet arguments, got {model!r}.")
    check_run_sections(cfg.settings, where)
    try:
        LeakyReLUTeacherNet(input_dim=1, **{"engine": "fused", **model})
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: `model`: {err}") from err


def _stop_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM stop a reproduce between fits as Lightning stops one during a fit: by raising its
    ``SIGTERMException`` (a ``SystemExit``), so the report being built is cleaned up and the exit status is 143.

    During a fit Lightning's handler runs first and then this one, which leaves the stop to Lightning (at the
    end of the current step). Returns the function that puts the previous handler back.
    """
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    def handler(signum: int, frame: object) -> None:
        if signal.getsignal(signal.SIGTERM) is handler:  # no fit is running: Lightning's handler would wrap this one
            raise SIGTERMException()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: signals are the main thread's
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _print_config_error(err: ConfigError) -> None:
    """A wrong config value or override: the message (a value of the wrong type in one line) and where help is."""
    message = str(err)
    if "Parser key" in message:  # jsonargparse's type error, after the config's name
        before, _, rest = message.partition("Parser key")
        message = before + condense("Parser key" + rest)
    print(f"lt-teacher reproduce: error: {message}", file=sys.stderr)
    print("  (lt-teacher reproduce --help lists the options, --list the reproductions)", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """``lt-teacher reproduce ...``; returns the exit code (0 ok, 1 failed, 2 bad arguments)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    p = parser()
    try:
        overrides, own = dotted_overrides(args_list, [o for a in p._actions for o in a.option_strings])
    except ConfigError as err:
        _print_config_error(err)
        return 2
    args = p.parse_args(own)
    if args.overrides:
        new = [legacy_set_override(o) if "=" in o else o for o in args.overrides]
        deprecated("--set KEY=VALUE is deprecated: use jsonargparse's dotted syntax, as `lt-teacher fit` does: "
                   + " ".join(f"--{o.split('=', 1)[0]} {o.split('=', 1)[1]}" if "=" in o else f"--{o}" for o in new))
        overrides = new + overrides
    try:
        if args.list:
            for name in packaged_names():
                title = load(name).settings.get("title", "")
                print(f"{name:14s} {title}\n{'':14s} {packaged_path(name)}")
            return 0
        if args.dump:
            sys.stdout.write(packaged_text(args.dump))
            return 0
        set_threads(args.threads)
        os.environ.setdefault("WANDB_SILENT", "true")
        restore = _stop_on_sigterm()
        try:
            reproduce(
                args.names, configs=args.config, scale=args.scale, overrides=overrides, reports_dir=args.reports_dir,
                runs_dir=args.runs_dir, wandb=args.wandb, resume=args.resume,
                command="lt-teacher reproduce " + " ".join(shlex.quote(a) for a in args_list),
            )
        finally:
            restore()
    except (KeyboardInterrupt, SystemExit) as err:  # Ctrl-C, or SIGTERM (Lightning's SIGTERMException)
        code = signal_exit_code(err)
        if code is None:
            raise
        print("lt-teacher reproduce: interrupted; completed reports were kept, the others left unchanged "
              "(the same command with --resume runs only those).", file=sys.stderr)
        return code
    except DataNotFound as err:
        print(f"lt-teacher reproduce: error: {err}", file=sys.stderr)
        return 1
    except ConfigError as err:
        _print_config_error(err)
        return 2
    except (TypeError, ValueError) as err:  # a value the config check could not see; no report was replaced
        print(f"lt-teacher reproduce: error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0
