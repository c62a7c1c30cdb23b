"""``lt-teacher reproduce``: run the paper's experiments from their configs and write the reports."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .config import DEFAULT_SCALE, SCALES, ConfigError, LoadedConfig, load, packaged_names, packaged_path, packaged_text
from .report import Report, summary_markdown
from .runner import WANDB_MODES, Context, DataNotFound, RunResult

USAGE_EXAMPLES = """\
examples:
  lt-teacher reproduce all                       every figure at the quick scale (< 20 min on 2 CPU cores)
  lt-teacher reproduce fig1 fig8 --scale paper   two figures at the paper's sizes
  lt-teacher reproduce fig2-gaussian --set model.alpha=0.3 --set train.epochs=200
  lt-teacher reproduce --dump fig9 > my.yaml     copy a config, edit it, then:
  lt-teacher reproduce --config my.yaml
"""


@dataclass
class Outcome:
    """What one invocation produced."""

    reports: list[Report] = field(default_factory=list)
    report_paths: list[Path] = field(default_factory=list)
    runs: list[RunResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
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
        epilog=f"names: {', '.join(names)}, all\n\n{USAGE_EXAMPLES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("names", nargs="*", metavar="NAME", help=f"reproductions to run: {', '.join(names)}, or all")
    p.add_argument("--config", action="append", default=[], metavar="FILE", help="run a (copied, edited) config file; repeatable")
    p.add_argument("--scale", default=DEFAULT_SCALE, choices=SCALES, help="tiny: seconds (tests); quick: the paper's network, data sizes and 5 seeds, all in < 20 min on 2 cores (default); paper: the same with 10x longer training and more MNIST pairs")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides", help="override one setting of the config (dotted key, YAML value); repeatable")
    p.add_argument("--reports-dir", default="reports", help="where reports/<name>/ are written (default: reports)")
    p.add_argument("--runs-dir", default=os.path.join("runs", "reproduce"), help="where W&B run folders and plots go (default: runs/reproduce)")
    p.add_argument("--wandb", default="auto", choices=WANDB_MODES, help="auto: online with credentials, else offline (default)")
    p.add_argument("--threads", type=int, default=None, help="torch and numba threads (default: all CPU cores)")
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
    numba.set_num_threads(min(count, numba.config.NUMBA_NUM_THREADS))
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
        raise ConfigError("--set changes one config; run one reproduction at a time with --set (or edit a copied config).")
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
) -> Outcome:
    """Run reproductions and write their reports; the Python face of ``lt-teacher reproduce``."""
    from .experiments import EXPERIMENTS

    start = time.perf_counter()
    loaded = selected_configs(names, configs, scale, overrides)
    for cfg in loaded:
        kind = cfg.settings.get("experiment")
        if kind not in EXPERIMENTS:
            raise ConfigError(f"config {cfg.name!r} ({cfg.source}): unknown experiment {kind!r}; valid: {', '.join(EXPERIMENTS)}.")
    command = command or "lt-teacher reproduce " + " ".join(shlex.quote(a) for a in [*names, *sum((["--config", c] for c in configs), []), "--scale", scale, *sum((["--set", o] for o in overrides), [])])
    ctx = Context(runs_dir=Path(runs_dir), wandb=wandb, echo=echo)
    outcome = Outcome()
    reports_root = Path(reports_dir)
    for cfg in loaded:
        folder = reports_root / cfg.name
        echo(f"[{cfg.name}] {cfg.settings.get('title', '')} (scale {scale})")
        t0 = time.perf_counter()
        _clear(folder)
        try:
            report = EXPERIMENTS[cfg.settings["experiment"]](cfg, ctx, folder, command)
        except DataNotFound as err:
            if "all" not in names:
                raise
            outcome.skipped.append((cfg.name, str(err)))
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "REPORT.md").write_text(f"# {cfg.name}: skipped\n\nThe data this reproduction needs is missing: {err}\n", encoding="utf-8")
            echo(f"[{cfg.name}] skipped: {err}")
            continue
        path = report.write(folder)
        outcome.reports.append(report)
        outcome.report_paths.append(path)
        verdicts = ", ".join(c.verdict for c in report.claims)
        echo(f"[{cfg.name}] {time.perf_counter() - t0:.1f} s -> {path} ({verdicts})")
    outcome.runs = list(ctx.trained)
    outcome.wall_seconds = time.perf_counter() - start
    if "all" in names:
        notes = [f"Skipped {name}: {why}" for name, why in outcome.skipped]
        summary = summary_markdown(outcome.reports, command=command, wall_seconds=outcome.wall_seconds, scale=scale, notes=notes)
        reports_root.mkdir(parents=True, exist_ok=True)
        (reports_root / "README.md").write_text(summary, encoding="utf-8")
    if any(r.wandb_dir for r in outcome.runs) and ctx.offline():
        echo(f"W&B runs were logged offline under {Path(runs_dir).resolve()}; upload them with `wandb sync {Path(runs_dir) / '*' / 'wandb' / 'offline-run-*'}`.")
    echo(f"done in {outcome.wall_seconds:.0f} s; reports in {reports_root.resolve()}")
    return outcome


def _clear(folder: Path) -> None:
    """Remove the outputs of an earlier report in ``folder`` (PNG, REPORT.md, results.json) so none goes stale."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.is_file() and (path.suffix == ".png" or path.name in ("REPORT.md", "results.json")):
            path.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    """``lt-teacher reproduce ...``; returns the exit code (0 ok, 1 failed, 2 bad arguments)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    p = parser()
    args = p.parse_args(args_list)
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
        reproduce(
            args.names, configs=args.config, scale=args.scale, overrides=args.overrides, reports_dir=args.reports_dir,
            runs_dir=args.runs_dir, wandb=args.wandb,
            command="lt-teacher reproduce " + " ".join(shlex.quote(a) for a in args_list),
        )
    except DataNotFound as err:
        print(f"lt-teacher reproduce: error: {err}", file=sys.stderr)
        return 1
    except ConfigError as err:
        p.print_usage(sys.stderr)
        print(f"lt-teacher reproduce: error: {err}", file=sys.stderr)
        return 2
    return 0
