"""Bad input gives only counted DecodeErrors and resynchronises; the fast path agrees with libasterix on every block."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commonsky.core.batches import Plots
from commonsky.formats.asterix import decode_asterix, decode_recording
from commonsky.formats.asterix.decode import _scanner, _times, lib_fields, lib_records
from commonsky.formats.asterix.encode import encode_cat048
from commonsky.formats.asterix.fast import OK
from commonsky.formats.asterix.specs import CATEGORIES, single_uap, spec_for
from commonsky.formats.containers import read_recording
from commonsky.formats.report import DecodeReport

DATA = Path(__file__).resolve().parents[1] / "data" / "asterix"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _real_blocks() -> list[bytes]:
    """Every data block of a decoded category in the fixtures (a few thousand of the long CAT062 recording)."""
    blocks: list[bytes] = []
    for name in ("cat_034_048.pcap", "parsegps.gps", "cat062cat065.raw", "cat21_re.ast", "cat063ed1.0.bin",
                 "asterix4py_cat062.ast", "NATS_CAT048_119bytes_TCAS.ff", "final_frame_062_30min.ff.gz",
                 "cat_001_002.pcap", "goasterix_sample.ast"):  # fmt: skip
        data = (DATA / name).read_bytes()
        data = gzip.decompress(data) if name.endswith(".gz") else data
        for frame in read_recording(data, DecodeReport(name)).frames[:3000]:
            pos, payload = 0, frame.payload
            while pos + 3 <= len(payload):
                length = int.from_bytes(payload[pos + 1 : pos + 3], "big")
                if payload[pos] in CATEGORIES:
                    blocks.append(payload[pos : pos + length])
                pos += length
    return blocks


BLOCKS = _real_blocks()


def _fast_and_lib_agree(block: bytes) -> None:
    """The fast path accepts a block exactly when libasterix does, and then reads the same fields."""
    spec = spec_for(block[0])
    if not single_uap(spec):
        return  # CAT001 (two record layouts) is read by libasterix alone
    buf = np.frombuffer(block, dtype=np.uint8)
    status, fields, _ = _scanner(spec).scan(buf, np.array([0]), np.array([len(block)]))
    try:
        records = lib_records(spec, block)
    except ValueError:
        assert status[0] != OK
        return
    if status[0] != OK:
        return  # a structure the fast path hands to libasterix
    reference = lib_fields(spec, records)
    assert set(reference) == set(fields)
    for name, values in reference.items():
        np.testing.assert_array_equal(fields[name], values, err_msg=name)


def test_fast_path_matches_libasterix_on_real_blocks() -> None:
    assert len(BLOCKS) > 3000
    for block in BLOCKS:
        _fast_and_lib_agree(block)


@FUZZ
@given(st.sampled_from(BLOCKS), st.lists(st.tuples(st.integers(3, 400), st.integers(0, 255)), min_size=1, max_size=4))
def test_fast_path_matches_libasterix_on_mutated_blocks(block: bytes, edits: list[tuple[int, int]]) -> None:
    mutated = bytearray(block)
    for pos, value in edits:
        if pos < len(mutated):
            mutated[pos] = value
    _fast_and_lib_agree(bytes(mutated))


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes_only_count_errors(data: bytes) -> None:
    decoded = decode_asterix(data, source="fuzz")
    assert decoded.report.errors >= 0
    assert len(decoded.plots) + len(decoded.tracks) + len(decoded.services) == decoded.report.messages


@FUZZ
@given(st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=4), st.integers(0, 2000), st.integers(0, 255))
def test_mutated_streams_only_count_errors(blocks: list[bytes], pos: int, value: int) -> None:
    data = bytearray(b"".join(blocks))
    data[pos % len(data)] = value
    for fmt_data in (bytes(data), bytes(data[: pos % len(data)])):
        decoded = decode_asterix(fmt_data, source="fuzz")
        assert decoded.report.messages == len(decoded.plots) + len(decoded.tracks) + len(decoded.services)


@FUZZ
@given(st.binary(max_size=400), st.sampled_from(["final_format", "gps", "pcap", "pcapng", "asterix"]))
def test_random_containers_only_count_errors(data: bytes, fmt: str) -> None:
    decode_recording(data, name="fuzz", fmt=fmt)


def _plots(n: int, t0: float = 0.0) -> Plots:
    return Plots.build(
        n, time_s=t0 + np.arange(n, dtype=float), range_m=np.full(n, 1e4), azimuth_deg=np.full(n, 5.0),
        mode_s=np.arange(n),
    )  # fmt: skip


def test_a_bad_block_loses_only_itself() -> None:
    good = encode_cat048(_plots(3), 1, 2)
    bad = bytearray(encode_cat048(_plots(2), 1, 2))
    bad[3] = 0xFF  # FSPEC runs on into the items: the block no longer parses
    decoded = decode_asterix(good + bytes(bad) + good, source="s")
    assert decoded.report.errors == 1
    assert decoded.report.first_errors[0].offset == len(good)
    assert len(decoded.plots) == 6


def test_a_bad_block_header_is_resynchronised() -> None:
    good = encode_cat048(_plots(3), 1, 2)
    broken = bytearray(good)
    broken[1:3] = (60000).to_bytes(2, "big")  # length past the end of the data
    decoded = decode_asterix(bytes(broken) + good + good, source="s")
    assert decoded.report.errors == 1
    assert len(decoded.plots) == 6


def test_records_after_midnight_continue_the_day() -> None:
    day = 86400.0
    before = encode_cat048(_plots(2, t0=day - 1.5), 1, 2)
    after = encode_cat048(_plots(2, t0=day + 0.5), 1, 2)
    decoded = decode_asterix(before + after, day_start_utc_s=10 * day)
    np.testing.assert_allclose(decoded.plots.time_s, 10 * day + np.array([day - 1.5, day - 0.5, day + 0.5, day + 1.5]))


D100 = 100 * 86400.0


@pytest.mark.parametrize(
    ("capture", "tod", "expected"),
    [
        (D100 + 86399.0, 86399.5, D100 + 86399.5),
        (D100 + 86400.0 + 10.0, 86399.5, D100 + 86399.5),
        (D100 + 86399.0, 0.5, D100 + 86400.5),
        (D100 + 43000.0, 43100.0, D100 + 43100.0),
    ],
)
def test_capture_time_picks_the_nearest_day(capture: float, tod: float, expected: float) -> None:
    """With pcap capture times, a record's time of day lands on the day that puts it nearest its packet."""
    got = _times(np.array([tod]), np.array([0]), np.array([capture]), utc_frames=True, day_start_utc_s=None)
    assert got[0] == expected
