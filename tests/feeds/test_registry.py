"""The format registry drives the inputs: what each URL scheme accepts, the stream decoders, file sniffing."""

from __future__ import annotations

from pathlib import Path

import pytest

import commonsky.formats
from commonsky.core.errors import ConfigError
from commonsky.feeds.inputs import InputSpec, stream_decoder
from commonsky.formats.files import sniff_format
from commonsky.formats.registry import REGISTRY, Format

DATA = Path(__file__).parents[1] / "data"
SAMPLES = {
    "asterix": DATA / "asterix" / "cat048ed1.23.bin",
    "pcap": DATA / "asterix" / "cat_034_048.pcap",
    "final": DATA / "asterix" / "final_frame_cat062_one_packet.ff",
    "beast": DATA / "modes" / "traffic_sample_dump1090.bin",
    "modes": DATA / "modes" / "pymodes_sample_data_adsb_first1000.csv",
    "ais": DATA / "ais" / "libais_test.aivdm",
}


@pytest.mark.parametrize("fmt", [f for f in REGISTRY if f.name in SAMPLES], ids=lambda f: f.name)
def test_a_recording_is_sniffed_as_its_format(fmt: Format) -> None:
    assert sniff_format(SAMPLES[fmt.name].read_bytes()) == fmt.name


def test_sbs_lines_are_sniffed_and_junk_is_not() -> None:
    assert sniff_format(b"MSG,3,1,1,4CA2D6,1,2023/11/14,22:13:20.000\r\nSTA,,,,4CA2D6\r\n") == "sbs"
    assert sniff_format(b"hello\nworld\n") == "unknown"
    assert sniff_format(b"") == "unknown"


@pytest.mark.parametrize("fmt", REGISTRY, ids=lambda f: f.name)
def test_each_scheme_takes_the_formats_its_transport_carries(fmt: Format) -> None:
    for scheme in ("udp", "tcp"):
        url = f"{scheme}://127.0.0.1:30005?format={fmt.name}"
        if scheme in fmt.live:
            spec = InputSpec.parse(url)
            assert stream_decoder(spec).report.source in (spec.url, spec.sensor_id)
        else:
            with pytest.raises(ConfigError, match="format"):
                InputSpec.parse(url)
    assert InputSpec.parse(f"file://r.bin?format={fmt.name}").format == fmt.name


def test_the_formats_package_resolves_every_public_name() -> None:
    for name in commonsky.formats.__all__:
        assert getattr(commonsky.formats, name) is not None
    with pytest.raises(AttributeError):
        _ = commonsky.formats.no_such_name
