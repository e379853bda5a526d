"""Picture outputs over real sockets on 127.0.0.1: CAT062 datagrams and SBS lines decode back to the tracks sent."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Callable

import numpy as np
import pytest

from commonsky.core.batches import Tracks
from commonsky.core.errors import ConfigError
from commonsky.feeds.outputs import OutputSpec, PictureOutput, asterix_datagrams, split_blocks
from commonsky.feeds.sockets import udp_datagrams
from commonsky.formats import decode_asterix, decode_sbs, encode_cat062
from commonsky.formats.asterix import ServiceMessages
from commonsky.formats.sbs import KT_MPS
from tests.feeds.conftest import WAIT_S

DAY_S = dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp()
FT_M = 0.3048
PICTURE_S = DAY_S + 36_010.0


def _picture(n: int) -> Tracks:
    i = np.arange(n)
    return Tracks.build(
        n,
        time_s=DAY_S + 36_000.0 + 0.01 * i,
        track_id=i + 1,
        lat_deg=50.0 + 0.001 * i,
        lon_deg=4.0 - 0.002 * i,
        alt_m=(50 + i % 400) * 100 * FT_M,
        v_east_mps=np.linspace(-250.0, 250.0, n),
        v_north_mps=np.linspace(100.0, -100.0, n),
        v_up_mps=np.where(i % 2 == 0, 5.0, -2.5),
        status=np.where(i % 3 == 0, "tentative", np.where(i % 3 == 1, "coasting", "confirmed")),
        mode_s=np.where(i % 7 == 0, -1, 0x400000 + i),
        squawk=np.where(i % 5 == 0, -1, [int(f"{0o1000 + k % 512:o}") for k in i]),
        callsign=np.where(i % 4 == 0, "", "BAW12"),
    )


def test_cat062_datagrams_decode_back_to_the_picture(free_port: Callable[[], int]) -> None:
    tracks = _picture(300)
    bad = tracks.take(np.array([0])).replace(track_id=np.array([70_000]))  # I062/040 has 16 bits
    picture = Tracks.concat([tracks, bad])
    port = free_port()

    async def scenario() -> tuple[list[bytes], PictureOutput]:
        feed = await udp_datagrams("127.0.0.1", port)
        output = PictureOutput(OutputSpec.parse(f"udp://127.0.0.1:{port}?format=asterix&sac=7&sic=9&service=3"))
        await output.start()
        output.send(picture, PICTURE_S, {"25-201": PICTURE_S - 2.0, "25-14": None, "N-RX1": PICTURE_S})
        output.send(Tracks.empty(), PICTURE_S + 1.0)  # a quiet sky still ends its batch
        await output.close()
        got = []
        async with asyncio.timeout(WAIT_S):
            async for datagram in feed.datagrams():
                got.append(datagram.data)
                if len(got) == output.datagrams:
                    break
        feed.close()
        return got, output

    datagrams, output = asyncio.run(scenario())
    assert output.status()["dropped_tracks"] == 1
    assert len(datagrams) > 1 and all(len(d) <= 1400 for d in datagrams)
    decoded = [decode_asterix(d, "out", DAY_S) for d in datagrams]
    services = ServiceMessages.concat([d.services for d in decoded])
    # With the first picture: CAT065 SDPS status (operational) and CAT063 per "SAC-SIC" sensor (25-201
    # delivering, 25-14 silent: not connected); then each picture's CAT065 end of batch, last.
    assert services.category.tolist() == [65, 63, 63, 65, 65] and set(services.service_id.tolist()) == {3}
    assert services.message_type.tolist() == [1, -1, -1, 2, 2] and services.batch.tolist() == [-1, -1, -1, 0, 1]
    assert services.subject_id.tolist() == ["", "25-201", "25-14", "", ""]
    assert services.status.tolist() == [0, 0, 3, -1, -1]
    np.testing.assert_allclose(services.time_s, PICTURE_S + np.array([0, 0, 0, 0, 1.0]), atol=1 / 128)
    assert split_blocks(datagrams[-2])[-1][0] == 65 and [b[0] for b in split_blocks(datagrams[-1])] == [65]
    got = Tracks.concat([d.tracks for d in decoded])
    assert all((d.track_source == "7-9").all() and d.report.errors == 0 for d in decoded)
    assert len(got) == len(tracks)
    np.testing.assert_allclose(got.time_s, tracks.time_s, atol=1 / 128)
    np.testing.assert_allclose(got.lat_deg, tracks.lat_deg, atol=180 / 2**25)
    np.testing.assert_allclose(got.lon_deg, tracks.lon_deg, atol=180 / 2**25)
    np.testing.assert_allclose(got.alt_m, tracks.alt_m, atol=25 * FT_M)
    np.testing.assert_allclose(got.v_east_mps, tracks.v_east_mps, atol=0.25)
    np.testing.assert_allclose(got.v_north_mps, tracks.v_north_mps, atol=0.25)
    np.testing.assert_allclose(got.v_up_mps, tracks.v_up_mps, atol=6.25 * FT_M / 60)
    for name in ("track_id", "status", "mode_s", "squawk", "callsign"):
        np.testing.assert_array_equal(getattr(got, name), getattr(tracks, name), err_msg=name)


def test_sbs_clients_receive_the_picture_as_lines(free_port: Callable[[], int]) -> None:
    tracks = _picture(50)

    async def scenario() -> tuple[bytes, dict[str, object]]:
        output = PictureOutput(OutputSpec.parse("tcp://127.0.0.1:0?format=sbs"))
        await output.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", output.port)
        async with asyncio.timeout(WAIT_S):
            while output.status()["clients"] == 0:
                await asyncio.sleep(0.01)
        output.send(tracks, PICTURE_S)
        status = output.status()
        await output.close()
        received = await asyncio.wait_for(reader.read(), WAIT_S)  # until the server closes
        writer.close()
        return received, status

    received, status = asyncio.run(scenario())
    assert status["pictures"] == 1 and status["clients"] == 1
    batch = decode_sbs(received.decode("ascii"), "out")
    plots, velocities = batch.plots, batch.velocities
    assert len(plots) == len(velocities) == len(tracks)
    np.testing.assert_allclose(plots.time_s, tracks.time_s, atol=0.0005)
    np.testing.assert_allclose(plots.lat_deg, tracks.lat_deg, atol=5e-7)
    np.testing.assert_allclose(plots.lon_deg, tracks.lon_deg, atol=5e-7)
    np.testing.assert_allclose(plots.altitude_m, tracks.alt_m, atol=0.5 * FT_M)
    np.testing.assert_allclose(
        velocities.groundspeed_mps, np.hypot(tracks.v_east_mps, tracks.v_north_mps), atol=0.05 * KT_MPS
    )
    for name in ("mode_s", "squawk", "callsign"):
        np.testing.assert_array_equal(getattr(plots, name), getattr(tracks, name), err_msg=name)


def test_datagrams_hold_whole_blocks_within_the_size() -> None:
    data = encode_cat062(_picture(200), 1, 2, max_block_bytes=300)
    blocks = split_blocks(data)
    assert len(blocks) > 10 and b"".join(blocks) == data
    datagrams = asterix_datagrams(data, 1000)
    assert b"".join(datagrams) == data
    assert all(len(d) <= 1000 for d in datagrams)
    assert all(b"".join(split_blocks(d)) == d for d in datagrams)
    # packed greedily: the next datagram's first block would not have fitted in the one before
    assert all(len(d) + len(split_blocks(e)[0]) > 1000 for d, e in itertools.pairwise(datagrams))
    with pytest.raises(ValueError, match="after the last whole data block"):
        split_blocks(data[:-1])


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("file://x", "scheme"),
        ("udp://127.0.0.1:8600?format=sbs", "format"),
        ("tcp://127.0.0.1:30003?format=asterix", "format"),
        ("udp://127.0.0.1:0?format=asterix", "port"),
        ("udp://127.0.0.1?format=asterix", "address"),
        ("udp://127.0.0.1:8600?sac=256", "sac"),
        ("udp://127.0.0.1:8600?sic=-1", "sic"),
        ("udp://127.0.0.1:8600?ttl=x", "ttl"),
        ("tcp://127.0.0.1:30003?ttl=2", "ttl"),
        ("udp://127.0.0.1:8600?sac=1&sac=2", "sac"),
    ],
)
def test_bad_output_urls_name_the_parameter_at_fault(url: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        OutputSpec.parse(url)
    assert info.value.key == key


def test_output_urls_parse() -> None:
    udp = OutputSpec.parse("udp://239.1.2.3:8600?format=asterix&sac=25&sic=201&ttl=4&interface=127.0.0.1")
    assert (udp.host, udp.port, udp.sac, udp.sic, udp.ttl, udp.interface) == (
        "239.1.2.3",
        8600,
        25,
        201,
        4,
        "127.0.0.1",
    )
    tcp = OutputSpec.parse("tcp://0.0.0.0:30003?format=sbs")
    assert (tcp.scheme, tcp.format, tcp.port) == ("tcp", "sbs", 30003)
