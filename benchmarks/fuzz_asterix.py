"""Long fuzz job for the ASTERIX decoder: at least 100,000 random and mutated inputs, no exception, no hang.

Inputs are drawn with NumPy (seeded): random bytes, real data blocks from tests/data/asterix with
1-8 bytes overwritten, inserted or deleted, truncated streams of several blocks, and random bytes
handed to every container reader. Each input must decode without raising (bad input is only ever a
counted `DecodeError`) within `MAX_SECONDS_PER_INPUT`; every tenth mutated block is also checked
for the fast path accepting it exactly when libasterix does, with the same field values. The job
exits non-zero on the first failure and writes the offending input to `out/fuzz_asterix_failure.bin`.

Run: `python benchmarks/fuzz_asterix.py [--inputs N] [--seed S]` (the test suite runs a few hundred
Hypothesis examples of the same properties).
"""

from __future__ import annotations

import argparse
import gzip
import logging
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from commonsky.formats.asterix import decode_asterix, decode_recording
from commonsky.formats.asterix.decode import _scanner, lib_fields, lib_records
from commonsky.formats.asterix.fast import OK
from commonsky.formats.asterix.specs import CATEGORIES, single_uap, spec_for
from commonsky.formats.containers import FORMATS, read_recording
from commonsky.formats.report import DecodeReport

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "asterix"
FAILURE = Path(__file__).resolve().parents[1] / "out" / "fuzz_asterix_failure.bin"
MAX_SECONDS_PER_INPUT = 2.0
SOURCES = (
    "cat_034_048.pcap", "parsegps.gps", "cat062cat065.raw", "cat21_re.ast", "cat063ed1.0.bin", "cat065ed1.3.bin",
    "asterix4py_cat062.ast", "NATS_CAT048_119bytes_TCAS.ff", "final_frame_062_30min.ff.gz", "goasterix_sample.ast",
)  # fmt: skip


def real_blocks(limit_per_file: int = 2000) -> list[bytes]:
    """Data blocks of decoded categories from the test recordings."""
    blocks: list[bytes] = []
    for name in SOURCES:
        data = (DATA / name).read_bytes()
        data = gzip.decompress(data) if name.endswith(".gz") else data
        for frame in read_recording(data, DecodeReport(name)).frames[:limit_per_file]:
            pos = 0
            while pos + 3 <= len(frame.payload):
                length = int.from_bytes(frame.payload[pos + 1 : pos + 3], "big")
                if frame.payload[pos] in CATEGORIES:
                    blocks.append(frame.payload[pos : pos + length])
                pos += max(length, 3)
    return blocks


def mutate(block: bytes, rng: np.random.Generator) -> bytes:
    """1-8 random overwrites, insertions or deletions."""
    data = bytearray(block)
    for _ in range(int(rng.integers(1, 9))):
        pos = int(rng.integers(0, len(data) + 1))
        op = rng.integers(0, 3)
        if op == 0 and pos < len(data):
            data[pos] = int(rng.integers(0, 256))
        elif op == 1:
            data[pos:pos] = bytes([int(rng.integers(0, 256))])
        elif pos < len(data):
            del data[pos]
    return bytes(data)


def fast_matches_libasterix(block: bytes) -> bool:
    """True when the fast path accepts the block exactly when libasterix does, with the same fields."""
    if len(block) < 3 or block[0] not in CATEGORIES or int.from_bytes(block[1:3], "big") != len(block):
        return True
    spec = spec_for(block[0])
    if not single_uap(spec):
        return True  # CAT001 (two record layouts) is read by libasterix alone
    buf = np.frombuffer(block, dtype=np.uint8)
    status, fields, _ = _scanner(spec).scan(buf, np.array([0]), np.array([len(block)]))
    try:
        records = lib_records(spec, block)
    except ValueError:
        return bool(status[0] != OK)
    if status[0] != OK:
        return True
    reference = lib_fields(spec, records)
    return all(np.array_equal(fields[k], v, equal_nan=v.dtype.kind == "f") for k, v in reference.items())


def one_input(i: int, blocks: list[bytes], rng: np.random.Generator) -> tuple[str, bytes]:
    """The i-th input: its kind and bytes."""
    kind = i % 4
    if kind == 0:
        return "random", rng.bytes(int(rng.integers(0, 2000)))
    if kind == 1:
        return "mutated block", mutate(blocks[int(rng.integers(len(blocks)))], rng)
    if kind == 2:
        picked = [blocks[int(j)] for j in rng.integers(0, len(blocks), int(rng.integers(1, 6)))]
        stream = mutate(b"".join(picked), rng)
        return "mutated stream", stream[: int(rng.integers(0, len(stream) + 1))]
    return "container", rng.bytes(int(rng.integers(0, 1500)))


def main(inputs: int = 100_000, seed: int = 1) -> int:
    """Run the job; returns the exit status."""
    console = Console()
    logging.disable(logging.WARNING)
    rng = np.random.default_rng(seed)
    blocks = real_blocks()
    decode_asterix(blocks[0])  # compile the kernel before timing inputs
    counts = {"inputs": 0, "decode_errors": 0, "records": 0, "fast_checks": 0}
    slowest = 0.0
    started = time.perf_counter()
    for i in range(inputs):
        kind, data = one_input(i, blocks, rng)
        t0 = time.perf_counter()
        try:
            if kind == "container":
                decoded = decode_recording(data, name="fuzz", fmt=FORMATS[i // 4 % len(FORMATS)])
            else:
                decoded = decode_asterix(data, source="fuzz")
            if kind == "mutated block" and i % 40 == 1:
                counts["fast_checks"] += 1
                if not fast_matches_libasterix(data):
                    raise AssertionError("fast path and libasterix disagree")
        except Exception as exc:
            FAILURE.parent.mkdir(parents=True, exist_ok=True)
            FAILURE.write_bytes(data)
            console.print(f"[red]input {i} ({kind}) failed: {type(exc).__name__}: {exc}[/] -> {FAILURE}")
            return 1
        elapsed = time.perf_counter() - t0
        slowest = max(slowest, elapsed)
        if elapsed > MAX_SECONDS_PER_INPUT:
            FAILURE.parent.mkdir(parents=True, exist_ok=True)
            FAILURE.write_bytes(data)
            console.print(f"[red]input {i} ({kind}) took {elapsed:.1f} s[/] -> {FAILURE}")
            return 1
        counts["inputs"] += 1
        counts["decode_errors"] += decoded.report.errors
        counts["records"] += decoded.report.messages
        if (i + 1) % 10_000 == 0:
            console.print(f"{i + 1:,} inputs, {time.perf_counter() - started:,.0f} s")
    console.print(
        f"[green]{counts['inputs']:,} inputs decoded without an exception[/]: {counts['decode_errors']:,} counted "
        f"errors, {counts['records']:,} records, {counts['fast_checks']:,} fast-path checks, slowest input "
        f"{slowest * 1e3:.0f} ms, {time.perf_counter() - started:,.0f} s in all"
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="number of inputs (default 100,000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(main(args.inputs, args.seed))
