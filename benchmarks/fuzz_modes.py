"""Long fuzz run of the Mode S, Beast, SBS and AIS decoders: no exception may escape, counts must add up.

Inputs come from the real recordings in `tests/data` (mutated: random characters, bytes or bits
replaced, lines cut, truncated, duplicated) and from random text/bytes. Every decoder must
return normally; every Mode S frame and every non-empty SBS line must be counted as a message or
an error, and AIS never counts more messages plus errors than lines. Default: 100,000 inputs per
decoder (Mode S counts frames).

Run: `python benchmarks/fuzz_modes.py [--inputs N] [--seed S]`.
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from pathlib import Path

import numpy as np

from commonsky.core.batches import Tracks
from commonsky.formats.ais import decode_ais
from commonsky.formats.beast import decode_beast
from commonsky.formats.modes import ModeSDecoder, decode_modes_text
from commonsky.formats.report import DecodeReport
from commonsky.formats.sbs import decode_sbs, encode_sbs

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
HEX = "0123456789ABCDEFabcdef"


def _mutate_text(rng: random.Random, line: str, alphabet: str) -> str:
    """One random edit of a line: replace, insert or delete a character, cut or double it."""
    if not line:
        return rng.choice(alphabet)
    i = rng.randrange(len(line))
    op = rng.randrange(5)
    if op == 0:
        return line[:i] + rng.choice(alphabet) + line[i + 1 :]
    if op == 1:
        return line[:i] + rng.choice(alphabet) + line[i:]
    if op == 2:
        return line[:i] + line[i + 1 :]
    if op == 3:
        return line[:i]
    return line + line[i:]


def fuzz_modes(rng: random.Random, n: int) -> int:
    """Mutated real frames (hex and text containers) through one streaming decoder; returns frames fed."""
    frames = [
        r.split(",")[1].strip('"')
        for r in (DATA / "modes" / "pymodes_sample_data_adsb_first1000.csv").read_text().splitlines()
    ]
    frames += (
        (DATA / "modes" / "dump1090_modes1_iq.antirez-dump1090-efe64db.raw.txt")
        .read_text()
        .replace("*", "")
        .replace(";", "")
        .split()
    )
    decoder = ModeSDecoder("fuzz", reference=(52.0, 4.0))
    fed = 0
    while fed < n:
        batch = [
            _mutate_text(rng, rng.choice(frames), HEX + "xyz *;") if rng.random() < 0.5 else rng.choice(frames)
            for _ in range(1000)
        ]
        before = decoder.report.messages + decoder.report.errors
        decoder.decode(batch, np.arange(fed, fed + len(batch)) * 0.01)
        assert decoder.report.messages + decoder.report.errors - before == len(batch)
        text = "\n".join(_mutate_text(rng, f"{fed + k},{f}", HEX + ',"*;.') for k, f in enumerate(batch[:200]))
        decode_modes_text(text, "fuzz", report=DecodeReport(source="fuzz"))
        fed += len(batch) + 200
    return fed


def fuzz_beast(rng: random.Random, n: int) -> int:
    """Bit- and byte-mutated copies of the real Beast sample plus random bytes; returns inputs fed."""
    sample = (DATA / "modes" / "traffic_sample_dump1090.bin").read_bytes()
    for k in range(n):
        data = bytearray(sample[rng.randrange(len(sample)) :][: rng.randrange(1, 600)])
        for _ in range(rng.randrange(4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        if k % 10 == 0:
            data = bytearray(rng.randbytes(rng.randrange(300)))
        decode_beast(bytes(data), "fuzz", start_time_s=0.0, report=DecodeReport(source="fuzz"))
    return n


def fuzz_lines(rng: random.Random, n: int, lines: list[str], alphabet: str, exact: bool) -> int:
    """Groups of mutated real lines through the SBS (`exact` counts) or AIS decoder; returns lines fed."""
    fed = 0
    while fed < n:
        group = [
            _mutate_text(rng, rng.choice(lines), alphabet) if rng.random() < 0.7 else rng.choice(lines)
            for _ in range(50)
        ]
        report = DecodeReport(source="fuzz")
        text = "\n".join(group)
        counted_lines = sum(1 for line in text.splitlines() if line.strip())
        if exact:
            decode_sbs(text, "fuzz", report=report)
            assert report.messages + report.errors == counted_lines
        else:
            decode_ais(text, "fuzz", report=report)
            assert report.messages + report.errors <= counted_lines
        fed += len(group)
    return fed


def main() -> None:
    """Run every fuzz job and print the counts and times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per decoder (default 100,000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    rng = random.Random(args.seed)
    ais_lines = [
        line
        for name in (
            "gpsd_ais-raw-messages.log",
            "libais_test.aivdm",
            "pyais_nmea_data_sample.txt",
            "gpsd_ais-nmea.log",
        )
        for line in (DATA / "ais" / name).read_text().splitlines()
    ]
    picture = Tracks.build(
        3,
        time_s=[1.6e9, 1.6e9 + 1, 1.6e9 + 2],
        track_id=[1, 2, 1],
        lat_deg=[43.1, 44.2, 43.1],
        lon_deg=[1.2, -0.5, 1.2],
        alt_m=[11000.0, float("nan"), 11010.0],
        v_east_mps=[200.0, 5.0, 200.0],
        v_north_mps=[10.0, -5.0, 10.0],
        v_up_mps=[0.0, float("nan"), 1.0],
        mode_s=[0x4CA2B1, -1, 0x4CA2B1],
        squawk=[1000, -1, 7700],
        callsign=["RYR5XW", "", "RYR5XW"],
    )
    status = "STA,,1,1,4CA2B1,1,2020/02/12,10:07:04.000,2020/02/12,10:07:04.000,RM"
    sbs_lines = [*encode_sbs(picture).splitlines(), status]
    jobs = {
        "modes": lambda: fuzz_modes(rng, args.inputs),
        "beast": lambda: fuzz_beast(rng, args.inputs),
        "sbs": lambda: fuzz_lines(rng, args.inputs, sbs_lines, "MSG,0123456789:/.-~ABCDEF", exact=True),
        "ais": lambda: fuzz_lines(rng, args.inputs, ais_lines, "!$\\,*0123456789:ABCDEFabcs@`w", exact=False),
    }
    for name, job in jobs.items():
        t0 = time.perf_counter()
        count = job()
        print(f"{name:6s} {count:>9,} inputs, no escaped exception, {time.perf_counter() - t0:6.1f} s")


if __name__ == "__main__":
    main()
