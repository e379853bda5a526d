"""Run the benchmarks: `python -m benchmarks [--quick] [--only NAME ...] [--out DIR]`.

Each benchmark prints its tables and the command that reproduces it, and writes `<DIR>/<name>.json`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks import (
    ais_decode,
    alert_rates,
    association,
    asterix_speed,
    coalition_outage,
    continuity,
    display_guessing,
    fusion_speed,
    modes_speed,
    nats_latency,
    soak,
    tracker_accuracy,
    tracker_speed,
    web_load,
)
from benchmarks.common import DEFAULT_OUT, BenchOptions

BENCHMARKS: dict[str, Callable[[BenchOptions], dict[str, Any]]] = {
    tracker_accuracy.NAME: tracker_accuracy.run,
    tracker_speed.NAME: tracker_speed.run,
    association.NAME: association.run,
    continuity.NAME: continuity.run,
    fusion_speed.NAME: fusion_speed.run,
    nats_latency.NAME: nats_latency.run,
    coalition_outage.NAME: coalition_outage.run,
    asterix_speed.NAME: asterix_speed.run,
    modes_speed.NAME: modes_speed.run,
    ais_decode.NAME: ais_decode.run,
    web_load.NAME: web_load.run,
    display_guessing.NAME: display_guessing.run,
    alert_rates.NAME: alert_rates.run,
    soak.NAME: soak.run,
}
"""Every benchmark by name, in the order they run."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs: a few minutes in all")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"directory for JSON results ({DEFAULT_OUT})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks in order; returns the exit status."""
    args = parse_args(argv)
    console = Console()
    options = BenchOptions(quick=args.quick, out_dir=args.out, console=console)
    names = [n for n in BENCHMARKS if not args.only or n in args.only]
    for name in names:
        console.rule(f"[bold]{name}[/]" + (" (quick)" if args.quick else ""))
        started = time.perf_counter()
        BENCHMARKS[name](options)
        console.print(f"[dim]{name} took {time.perf_counter() - started:.0f} s[/]\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
