"""Helpers shared by the benchmarks: scenario slicing, per-second batching, result files and table cells."""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from commonsky.core.batches import Plots, Truth

BENCH_DIR = Path(__file__).resolve().parent
"""The `benchmarks` package directory."""
REPO_ROOT = BENCH_DIR.parent
SCENARIO_DIR = BENCH_DIR / "scenarios"
DEFAULT_OUT = REPO_ROOT / "out" / "bench"
"""Where result JSON files go by default (`out/` is git-ignored)."""

T = TypeVar("T")


@dataclass(frozen=True)
class BenchOptions:
    """Command-line options every benchmark receives."""

    quick: bool
    """Smaller, faster runs (a few minutes in all)."""
    out_dir: Path
    """Directory for the result JSON files."""
    console: Console


def reproduce_command(name: str, quick: bool) -> str:
    """The shell command that reruns one benchmark with the same options."""
    return f"python -m benchmarks --only {name}" + (" --quick" if quick else "")


def environment() -> dict[str, Any]:
    """Machine and package versions, stored with every result so numbers can be compared later."""

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "commonsky": version("commonsky"),
        "numpy": version("numpy"),
        "numba": version("numba"),
        "stonesoup": version("stonesoup"),
        "git_commit": _git_commit(),
        "argv": shlex.join([Path(sys.executable).name, *sys.argv]),
    }


def _git_commit() -> str | None:
    """HEAD commit of the checkout (read-only), or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def write_result(options: BenchOptions, name: str, payload: dict[str, Any]) -> Path:
    """Write `<out_dir>/<name>.json` with the payload, the reproduce command and the environment."""
    options.out_dir.mkdir(parents=True, exist_ok=True)
    path = options.out_dir / f"{name}.json"
    record = {
        "benchmark": name,
        "written_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": reproduce_command(name, options.quick),
        "quick": options.quick,
        "environment": environment(),
        **payload,
    }
    path.write_text(json.dumps(_jsonable(record), indent=2, allow_nan=True) + "\n")
    return path


def _jsonable(value: Any) -> Any:
    """NumPy scalars and arrays to plain Python, recursively."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def slice_run(plots: Plots, truth: Truth, start_s: float, duration_s: float) -> tuple[Plots, Truth]:
    """Plots in [start, start + duration) and the truth at the whole seconds in [start, start + duration]."""
    p = plots.take((plots.time_s >= start_s) & (plots.time_s < start_s + duration_s))
    t = truth.take((truth.time_s >= start_s) & (truth.time_s <= start_s + duration_s))
    return p, t


def second_batches(plots: Plots, period_s: float = 1.0) -> tuple[list[Plots], list[float]]:
    """Plots cut into consecutive `period_s` batches exactly as `commonsky.tracking.run` does.

    Returns the non-empty batches in time order and, for each, the end of its period: the time at
    which the picture is written.
    """
    plots = plots.sorted_by_time()
    if len(plots) == 0:
        return [], []
    t0 = math.floor(plots.time_s[0] / period_s) * period_s
    key = np.floor((plots.time_s - t0) / period_s).astype(np.int64)
    bounds = np.flatnonzero(np.r_[True, np.diff(key) != 0, True])
    batches = [plots.take(np.arange(lo, hi)) for lo, hi in itertools.pairwise(bounds)]
    ends = [t0 + (int(key[lo]) + 1) * period_s for lo in bounds[:-1]]
    return batches, ends


def progress_bar(console: Console) -> Progress:
    """A Rich progress bar for long stages (transient: it disappears when done)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    """Result of fn() and its wall time in seconds (perf_counter)."""
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def fmt(value: float | int | None, digits: int = 1, *, thousands: bool = True) -> str:
    """A number for a table cell: thousands separators, fixed digits, "—" for missing or NaN."""
    if value is None:
        return "—"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}" if thousands else str(int(value))
    v = float(value)
    if not math.isfinite(v):
        return "—"
    return f"{v:,.{digits}f}" if thousands else f"{v:.{digits}f}"


def fmt_bytes(n: float | None) -> str:
    """Bytes as B / KiB / MiB."""
    if n is None or not math.isfinite(n):
        return "—"
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.2f} {unit}"
    return f"{n:,.0f} B"


def recorded(name: str, main: Callable[[bool, Console], dict[str, Any]]) -> Callable[[BenchOptions], dict[str, Any]]:
    """The `python -m benchmarks` entry of a benchmark whose `main(quick, console)` measures and prints."""

    def run(options: BenchOptions) -> dict[str, Any]:
        result = main(options.quick, options.console)
        write_result(options, name, result)
        return result

    run.__doc__ = f"{name}: `main` plus the JSON result file."
    return run


def standalone(main: Callable[[bool, Console], dict[str, Any]], doc: str | None, quick_help: str) -> None:
    """Run a benchmark module on its own (`python -m benchmarks.NAME [--quick]`)."""
    import argparse

    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    main(parser.parse_args().quick, Console())
