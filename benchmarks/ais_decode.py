"""AIS decoding speed: NMEA sentences per second into columnar AisReports, beside pyais alone, on one core.

Input: the six real AIS recordings in `tests/data/ais` (gpsd logs with RMC clock lines, libais's
test file with every message type and US Coast Guard receive times, pyais's sample with empty
payloads; see its PROVENANCE.md), concatenated and repeated to `--sentences` AIS sentences. Each
decoder gets the same text:

- commonsky `decode_ais` (checksums, times, fragments, Numba kernels for types 1-5, 18, 19, 21,
  24 and 27, pyais for the others, static data per MMSI, columns out);
- commonsky `decode_ais(fast=False)`, the reference path: every message through pyais (on a slice);
- pyais alone: `IterMessages` over the lines (its own assembly of multi-sentence messages, no
  checksum check, no times) and `decode()` of each message, one Python object per message.

All run in this process, one after the other, on one core; the best of `--repeat` runs is reported
(a first call compiles or loads the Numba kernels), from wall time and from the process's CPU time
(the same on an idle machine; on a shared one the CPU time is the fairer figure for "one core").
Target: 100,000 AIS sentences/s on one core.

Run: `python -m benchmarks.ais_decode [--quick]` (or `python -m benchmarks --only ais_decode`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyais.stream import IterMessages
from rich.console import Console
from rich.table import Table

from benchmarks.common import recorded, reproduce_command, standalone
from commonsky.formats.ais import decode_ais
from commonsky.formats.report import DecodeReport

NAME = "ais_decode"
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "ais"
RECORDINGS = (
    "gpsd_ais-18-27.log",
    "gpsd_ais-nmea-type6-fid55.log",
    "gpsd_ais-nmea.log",
    "gpsd_ais-raw-messages.log",
    "libais_test.aivdm",
    "pyais_nmea_data_sample.txt",
)
SENTENCES_FULL = 400_000
SENTENCES_QUICK = 100_000
SLICE_SENTENCES = 50_000
"""Sentences given to the slower reference path and pyais alone."""
TARGET_PER_S = 100_000


def load_lines(n_sentences: int) -> tuple[list[str], int]:
    """The recordings' lines, repeated until they hold at least `n_sentences` AIS sentences, and that count."""
    lines = [line for name in RECORDINGS for line in (DATA / name).read_text(errors="replace").splitlines()]
    per_copy = sum(1 for line in lines if _is_ais(line))
    reps = -(-n_sentences // per_copy)
    return lines * reps, per_copy * reps


def _is_ais(line: str) -> bool:
    return "VDM," in line or "VDO," in line


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Shortest wall time and shortest CPU time of `repeat` calls, in seconds."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu


def _pyais_alone(lines: list[bytes]) -> int:
    """Messages pyais decodes from the lines; the ones it rejects are skipped."""
    decoded = 0
    for sentence in IterMessages(lines):
        try:
            sentence.decode()
            decoded += 1
        except Exception:
            continue
    return decoded


def measure(n_sentences: int = SENTENCES_FULL, repeat: int = 3) -> dict[str, Any]:
    """AIS sentences per second of each decoder on the same text (seconds are the best of `repeat`)."""
    logging.getLogger("commonsky.formats.report").setLevel(logging.ERROR)
    lines, sentences = load_lines(n_sentences)
    text = "\n".join(lines)
    decode_ais(text[:20_000], "warm-up")
    report = DecodeReport("bench")
    rows = decode_ais(text, "bench", report=report)
    ours, ours_cpu = _best(lambda: decode_ais(text, "bench"), repeat)
    piece, piece_sentences = load_lines(SLICE_SENTENCES)
    piece_text = "\n".join(piece)
    reference, reference_cpu = _best(lambda: decode_ais(piece_text, "bench", fast=False), 1)
    piece_bytes = [line.encode() for line in piece]
    peer_messages = _pyais_alone(piece_bytes)
    peer, peer_cpu = _best(lambda: _pyais_alone(piece_bytes), repeat)
    return {
        "lines": len(lines),
        "sentences": sentences,
        "messages": report.messages,
        "errors": report.errors,
        "position_rows": len(rows),
        "commonsky_s": ours,
        "commonsky_per_s": sentences / ours,
        "commonsky_cpu_per_s": sentences / ours_cpu,
        "slice_sentences": piece_sentences,
        "reference_s": reference,
        "reference_per_s": piece_sentences / reference,
        "reference_cpu_per_s": piece_sentences / reference_cpu,
        "pyais_messages": peer_messages,
        "pyais_s": peer,
        "pyais_per_s": piece_sentences / peer,
        "pyais_cpu_per_s": piece_sentences / peer_cpu,
        "target_per_s": TARGET_PER_S,
    }


def main(quick: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Measure, print a Rich table and return the figures."""
    console = console or Console()
    result = measure(SENTENCES_QUICK if quick else SENTENCES_FULL, 2 if quick else 3)
    table = Table(
        title=f"AIS decoding, {result['sentences']:,} real AIS sentences ({result['lines']:,} lines), one core",
        caption=f"Reproduce: {reproduce_command(NAME, quick)}",
    )
    table.add_column("Decoder")
    table.add_column("Output")
    table.add_column("Sentences/s (wall)", justify="right")
    table.add_column(f"Sentences/s (CPU), target {TARGET_PER_S:,}", justify="right")
    ok = result["commonsky_cpu_per_s"] >= TARGET_PER_S
    table.add_row(
        "commonsky decode_ais",
        f"{result['messages']:,} messages, {result['errors']:,} errors, {result['position_rows']:,} position rows",
        f"{result['commonsky_per_s']:,.0f}",
        f"[{'green' if ok else 'red'}]{result['commonsky_cpu_per_s']:,.0f}[/]",
    )
    table.add_row(
        f"commonsky decode_ais(fast=False), first {result['slice_sentences']:,}",
        "the same, every message through pyais",
        f"{result['reference_per_s']:,.0f}",
        f"{result['reference_cpu_per_s']:,.0f}",
    )
    table.add_row(
        f"pyais IterMessages + decode, first {result['slice_sentences']:,}",
        f"{result['pyais_messages']:,} message objects",
        f"{result['pyais_per_s']:,.0f}",
        f"{result['pyais_cpu_per_s']:,.0f}",
    )
    console.print(table)
    return result


run = recorded(NAME, main)


if __name__ == "__main__":
    standalone(main, __doc__, f"{SENTENCES_QUICK:,} sentences instead of {SENTENCES_FULL:,}")
