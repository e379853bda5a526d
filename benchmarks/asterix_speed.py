"""ASTERIX decode speed: CAT048 records per second into columnar `Plots`, beside plain libasterix and asterix-decoder.

Two inputs, each one raw stream of CAT048 data blocks (1,400-byte blocks):
- synthetic: 4,000 plots encoded by `encode_cat048` (I010, I140, I020, I040, I070, I090, I220, I240),
  repeated to the target count;
- real: the 128 CAT048 records of cat_034_048.pcap (Croatia Control, with I250 BDS data), repeated.

Rows: commonsky (fast path, everything up to finished `Plots` with UTC times), commonsky's
libasterix-only reference path, plain libasterix (strict parse of every record plus reading RHO,
THETA, Mode A, FL, address and callsign, no batch building) and asterix-decoder (the C++
CroatiaControl decoder returning one dict per record). The slower decoders run on a slice of the
stream (`SLOW_RECORDS`, ten times that for asterix-decoder); each figure is the best of `REPEATS`
runs on one core. The target is >= 200,000 CAT048 records/s per core for commonsky.

Run: `python -m benchmarks.asterix_speed [--quick]` (or `python -m benchmarks --only asterix_speed`).
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from asterix.base import Bits
from rich.console import Console
from rich.table import Table

from benchmarks.common import recorded, standalone
from commonsky.core.batches import Plots
from commonsky.formats.asterix import decode_asterix
from commonsky.formats.asterix.encode import encode_cat048
from commonsky.formats.asterix.specs import spec_for
from commonsky.formats.containers import read_recording
from commonsky.formats.report import DecodeReport

NAME = "asterix_speed"
TARGET_RECORDS_PER_S = 200_000
RECORDS_FULL = 2_000_000
RECORDS_QUICK = 200_000
SLOW_RECORDS = 10_000
"""Records given to the per-record Python decoders (libasterix, commonsky's reference path); 10x to asterix-decoder."""
REPEATS = 3
SEED = 20240611
REAL_RECORDING = Path(__file__).resolve().parents[1] / "tests" / "data" / "asterix" / "cat_034_048.pcap"


def synthetic_blocks(n: int = 4000) -> tuple[bytes, int]:
    """CAT048 blocks of `n` random but plausible Mode S plots, and their record count."""
    rng = np.random.default_rng(SEED)
    names = np.array(["DLH65A", "EZY12AB", "RYR5XW", "AFR34ZG", ""])
    plots = Plots.build(
        n,
        time_s=np.sort(rng.uniform(0.0, 60.0, n)),
        range_m=rng.uniform(1e3, 4.5e5, n),
        azimuth_deg=rng.uniform(0.0, 360.0, n),
        altitude_m=rng.uniform(0.0, 12500.0, n),
        mode_s=rng.integers(0, 2**24, n),
        squawk=rng.integers(0, 8, (n, 4)) @ np.array([1000, 100, 10, 1]),
        callsign=names[rng.integers(0, len(names), n)],
    )
    return encode_cat048(plots, 25, 201), n


def real_blocks() -> tuple[bytes, int]:
    """The CAT048 blocks of the real Croatia Control capture, and their record count."""
    blocks: list[bytes] = []
    for frame in read_recording(REAL_RECORDING, DecodeReport("bench")).frames:
        pos = 0
        while pos < len(frame.payload):
            length = int.from_bytes(frame.payload[pos + 1 : pos + 3], "big")
            if frame.payload[pos] == 48:
                blocks.append(frame.payload[pos : pos + length])
            pos += length
    data = b"".join(blocks)
    return data, len(decode_asterix(data).plots)


def repeat_to(blocks: bytes, records: int, target: int) -> tuple[bytes, int]:
    """The blocks repeated until they hold at least `target` records."""
    copies = max(1, -(-target // records))
    return blocks * copies, records * copies


def best_rate(fn: Callable[[], int], repeats: int = REPEATS) -> float:
    """Records per second of the fastest of `repeats` calls (`fn` returns the records it decoded)."""
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        n = fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def plain_libasterix(data: bytes) -> int:
    """libasterix alone: split blocks, strictly parse the records, read the plot fields of each."""
    spec = spec_for(48)
    n, pos = 0, 0
    while pos < len(data):
        length = int.from_bytes(data[pos + 1 : pos + 3], "big")
        records = spec.cv_uap.parse(Bits.from_bytes(data[pos + 3 : pos + length]))
        for rec in records:
            i040, i070, i090 = rec.get_item("040"), rec.get_item("070"), rec.get_item("090")
            i220, i240 = rec.get_item("220"), rec.get_item("240")
            if i040 is not None:
                i040.variation.get_item("RHO").variation.content.as_quantity("NM")
                i040.variation.get_item("THETA").variation.content.as_quantity("°")
            if i070 is not None:
                i070.variation.get_item("MODE3A").variation.content.as_string()
            if i090 is not None:
                i090.variation.get_item("FL").variation.content.as_quantity("FL")
            if i220 is not None:
                i220.variation.content.as_uint()
            if i240 is not None:
                i240.variation.content.as_string()
            n += 1
        pos += length
    return n


def asterix_decoder() -> Any | None:
    """asterix-decoder's C extension `_asterix` loaded with its category definitions, or None if not installed.

    Its Python package shares the directory `asterix/` with libasterix, so the extension is used directly.
    """
    try:
        import _asterix
    except ImportError:
        return None
    spec = importlib.util.find_spec("asterix")
    config = Path(next(iter(spec.submodule_search_locations or []))) / "config" if spec else None
    files = sorted(config.glob("asterix_*.xml")) if config else []
    if not files:
        return None
    if not getattr(_asterix, "_commonsky_ready", False):
        for path in files:
            _asterix.init(str(path))
        _asterix._commonsky_ready = True
    return _asterix


def _prefix(data: bytes, records: int, want: int) -> tuple[bytes, int]:
    """Whole blocks from the start of `data` holding about `want` records (records spread evenly)."""
    pos, count = 0, 0
    per_byte = records / len(data)
    while pos < len(data) and count < want:
        length = int.from_bytes(data[pos + 1 : pos + 3], "big")
        pos += length
        count = round(pos * per_byte)
    return data[:pos], count


def measure_input(data: bytes, records: int, slow_records: int) -> dict[str, Any]:
    """Records/s of each decoder on one input."""
    logging.disable(logging.WARNING)
    decode_asterix(data[: 1 << 12])  # compile (or load) the Numba kernel outside the timing
    result: dict[str, Any] = {"records": records, "bytes": len(data)}
    result["commonsky"] = best_rate(lambda: len(decode_asterix(data, day_start_utc_s=0.0).plots))
    slow, slow_n = _prefix(data, records, slow_records)
    result["slow_records"] = slow_n
    result["commonsky_libasterix_path"] = best_rate(lambda: len(decode_asterix(slow, use_fast=False).plots), 1)
    result["plain_libasterix"] = best_rate(lambda: plain_libasterix(slow), 1)
    decoder = asterix_decoder()
    if decoder is not None:
        fast_slice, fast_n = _prefix(data, records, 10 * slow_records)
        result["asterix_decoder_records"] = fast_n
        result["asterix_decoder"] = best_rate(lambda: len(decoder.parse(fast_slice, False)), 2)
    else:
        result["asterix_decoder"] = None
    return result


def measure(target_records: int = RECORDS_FULL, slow_records: int = SLOW_RECORDS) -> dict[str, Any]:
    """Run the benchmark on both inputs and return the figures."""
    out: dict[str, Any] = {"target_records_per_s": TARGET_RECORDS_PER_S}
    for name, (blocks, n) in (("synthetic", synthetic_blocks()), ("real", real_blocks())):
        data, records = repeat_to(blocks, n, target_records)
        out[name] = measure_input(data, records, slow_records)
    return out


def main(quick: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Measure, print a Rich table and return the figures. `quick`: 200,000 records and a smaller slow slice."""
    console = console or Console()
    result = measure(RECORDS_QUICK if quick else RECORDS_FULL, SLOW_RECORDS // 10 if quick else SLOW_RECORDS)
    table = Table(title="CAT048 decode speed, records/s on one core (best of runs)")
    table.add_column("Decoder")
    table.add_column("Synthetic", justify="right")
    table.add_column("Real (cat_034_048)", justify="right")
    table.add_column("Target", justify="right")
    rows = [
        ("commonsky -> Plots (fast path)", "commonsky", f">= {TARGET_RECORDS_PER_S:,}"),
        ("commonsky -> Plots (libasterix path)", "commonsky_libasterix_path", ""),
        ("plain libasterix (parse + fields)", "plain_libasterix", ""),
        ("asterix-decoder 0.7.11 (dicts)", "asterix_decoder", ""),
    ]
    for label, key, target in rows:
        cells = []
        for name in ("synthetic", "real"):
            rate = result[name][key]
            ok = key != "commonsky" or rate >= TARGET_RECORDS_PER_S
            cells.append("not installed" if rate is None else f"[{'green' if ok else 'red'}]{rate:,.0f}[/]")
        table.add_row(label, *cells, target)
    table.add_row("Records in the stream", *(f"{result[n]['records']:,}" for n in ("synthetic", "real")), "")
    console.print(table)
    return result


run = recorded(NAME, main)


if __name__ == "__main__":
    standalone(main, __doc__, "200,000 records and a smaller slice for slow decoders")
