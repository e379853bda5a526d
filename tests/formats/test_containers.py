"""Recording containers: format sniffing and cutting pcap/pcapng, Final Format, GPS and raw files into frames."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import dpkt
import numpy as np
import pytest

from commonsky.formats import containers as c
from commonsky.formats.report import DecodeReport
from commonsky.formats.resync import chains

DATA = Path(__file__).resolve().parents[1] / "data" / "asterix"


def _read(name: str) -> bytes:
    data = (DATA / name).read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("cat_034_048.pcap", c.PCAP),
        ("cat048.raw", c.ASTERIX),
        ("goasterix_sample.ast", c.ASTERIX),
        ("cat062ed1.16.bin", c.ASTERIX),
        ("parsegps.gps", c.GPS),
        ("NATS_CAT048_119bytes_TCAS.ff", c.FINAL_FORMAT),
        ("final_frame_062_30min.ff.gz", c.FINAL_FORMAT),
        ("expected/cat048.raw.asterix-decoder-0.7.11.jsonl", c.UNKNOWN),
    ],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert c.detect_format(_read(name)) == fmt


def test_detect_format_reads_a_path() -> None:
    assert c.detect_format(DATA / "cat_062_065.pcap") == c.PCAP
    assert c.detect_format(str(DATA / "cat034.raw")) == c.ASTERIX


def test_pcap_frames_are_udp_payloads_with_utc_times() -> None:
    report = DecodeReport("p")
    rec = c.read_recording(_read("cat_034_048.pcap"), report)
    assert (rec.format, len(rec.frames), rec.utc_times, report.errors) == (c.PCAP, 100, True, 0)
    assert rec.frames[0].time_s == pytest.approx(1462433756.50891)
    assert rec.frames[0].payload[:3] == bytes.fromhex("300030")
    assert rec.destinations[0] == "232.2.1.31:22131"


def _pcapng_of(pcap: bytes) -> bytes:
    out = io.BytesIO()
    writer = dpkt.pcapng.Writer(out)
    for ts, buf in dpkt.pcap.Reader(io.BytesIO(pcap)):
        writer.writepkt(buf, ts=ts)
    return out.getvalue()


def test_pcapng_gives_the_same_frames() -> None:
    pcap = _read("cat_034_048.pcap")
    ng = _pcapng_of(pcap)
    assert c.detect_format(ng) == c.PCAPNG
    a = c.read_recording(pcap, DecodeReport("a")).frames
    b = c.read_recording(ng, DecodeReport("b")).frames
    assert [f.payload for f in a] == [f.payload for f in b]
    assert [f.time_s for f in b] == pytest.approx([f.time_s for f in a])


def test_raw_ip_captures_and_non_udp_packets() -> None:
    udp = dpkt.udp.UDP(sport=1, dport=8600, data=b"\x30\x00\x04\x00")
    udp.ulen = len(udp)
    ip_udp = dpkt.ip.IP(src=b"\x0a\x00\x00\x01", dst=b"\xe1\x01\x00\x01", p=dpkt.ip.IP_PROTO_UDP, data=udp)
    ip_tcp = dpkt.ip.IP(src=b"\x0a\x00\x00\x01", dst=b"\x0a\x00\x00\x02", p=dpkt.ip.IP_PROTO_TCP, data=dpkt.tcp.TCP())
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out, linktype=dpkt.pcap.DLT_RAW)
    writer.writepkt(bytes(ip_udp), ts=5.0)
    writer.writepkt(bytes(ip_tcp), ts=6.0)
    rec = c.read_recording(out.getvalue(), DecodeReport("raw"))
    assert [f.payload for f in rec.frames] == [b"\x30\x00\x04\x00"]
    assert rec.skipped_packets == 1
    assert rec.destinations[0] == "225.1.0.1:8600"


def test_truncated_pcap_keeps_the_packets_before_the_cut() -> None:
    pcap = _read("cat_034_048.pcap")
    report = DecodeReport("cut")
    rec = c.read_recording(pcap[: len(pcap) // 2], report, c.PCAP)
    assert 0 < len(rec.frames) < 100
    assert report.errors <= 1


def test_a_damaged_packet_record_loses_only_its_packet() -> None:
    pcap = _read("cat_034_048.pcap")
    starts = [24]
    for _, buf in dpkt.pcap.Reader(io.BytesIO(pcap)):
        starts.append(starts[-1] + 16 + len(buf))
    ng = _pcapng_of(pcap)
    blocks = [0]
    while blocks[-1] < len(ng):
        blocks.append(blocks[-1] + int.from_bytes(ng[blocks[-1] + 4 : blocks[-1] + 8], "little"))
    clean = c.read_recording(pcap, DecodeReport("clean")).frames
    for data, length_at in ((pcap, starts[10] + 8), (ng, blocks[12] + 4)):  # captured length, block length
        damaged = bytearray(data)
        damaged[length_at] ^= 0x10
        report = DecodeReport("damaged")
        frames = [f.payload for f in c.read_recording(bytes(damaged), report).frames]
        # Packet 10 is lost or cut short (its length is what was damaged); every other packet is kept.
        assert frames[:10] + frames[-89:] == [f.payload for f in clean[:10] + clean[11:]]
        assert report.errors == 1


def test_final_format_records_and_times() -> None:
    report = DecodeReport("ff")
    rec = c.read_recording(_read("final_frame_062_30min.ff.gz"), report)
    assert (len(rec.frames), report.errors, rec.utc_times) == (34957, 0, False)
    assert rec.frames[0].time_s == 60356.0
    assert rec.frames[0].offset == c.FF_HEADER_BYTES
    assert sum(len(f.payload) + 12 for f in rec.frames) == 2725638


def test_final_format_damage_is_counted() -> None:
    one = _read("final_frame_cat062_one_packet.ff")
    bad_padding = one[:-1] + b"\x00"
    report = DecodeReport("ff")
    # A record with damaged padding is kept when the record after it confirms its length.
    rec = c.read_recording(one + bad_padding + one + one[:20], report, c.FINAL_FORMAT)
    assert len(rec.frames) == 3
    assert [e.offset for e in report.first_errors] == [len(one), 3 * len(one)]


def test_gps_format_blocks() -> None:
    report = DecodeReport("gps")
    rec = c.read_recording(_read("parsegps.gps"), report)
    assert (rec.format, len(rec.frames), report.errors) == (c.GPS, 15, 0)
    assert all(f.payload[0] in (34, 48) for f in rec.frames)


def test_unknown_container_is_one_error() -> None:
    report = DecodeReport("x")
    rec = c.read_recording(b"hello world, not asterix", report)
    assert (rec.format, rec.frames, report.errors) == (c.UNKNOWN, [], 1)


def _chains(data: bytes) -> bool:
    return bool(chains(np.frombuffer(data, dtype=np.uint8), 0, len(data), 0))


def test_a_chain_of_blocks_needs_to_fill_the_data() -> None:
    assert _chains(bytes.fromhex("300004ff300003"))
    assert not _chains(bytes.fromhex("300004ff3000"))
    assert not _chains(bytes.fromhex("000003"))
    assert not _chains(b"")
