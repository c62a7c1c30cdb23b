"""Report folders that are never left half-written: a report is built in a hidden staging folder and renamed into place."""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path


def staging_folder(folder: Path) -> Path:
    """A fresh hidden folder next to ``folder`` where a report is built before it is moved into place.

    What a killed run left next to ``folder`` is tidied first: its half-built staging folder is removed, and a
    report it had moved aside to publish a new one (``.<name>.<pid>.old``) is put back when ``folder`` is missing.
    A folder of this process's own id is a killed run's too (ids repeat between containers).
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    for left in sorted(folder.parent.glob(f".{glob.escape(folder.name)}.*")):
        pid, _, kind = left.name[len(folder.name) + 2 :].partition(".")
        if not (pid.isdigit() and kind in ("tmp", "old")) or (int(pid) != os.getpid() and process_alive(int(pid))):
            continue
        if kind == "old" and not folder.exists():
            os.replace(left, folder)
        else:
            shutil.rmtree(left, ignore_errors=True)
    staging = folder.parent / f".{folder.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (another reproduce may be building its report)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def publish(staging: Path, folder: Path) -> None:
    """Move a complete report into place: ``folder`` is replaced by renames, never left half-written.

    Files of the old folder that are not report outputs (PNG, REPORT.md, results.json) are kept.
    """
    if folder.is_dir():
        for path in folder.iterdir():
            if not (staging / path.name).exists() and not (path.suffix == ".png" or path.name in ("REPORT.md", "results.json")):
                if path.is_dir():
                    shutil.copytree(path, staging / path.name)
                else:
                    shutil.copy2(path, staging / path.name)
        old = folder.parent / f".{folder.name}.{os.getpid()}.old"
        os.replace(folder, old)
        try:
            os.replace(staging, folder)
        except BaseException:
            os.replace(old, folder)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, folder)
