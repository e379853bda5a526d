"""Nodes on the in-process bus: replay is bit for bit, policies hold on the wire, outages age partners out."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from commonsky.formats import read_tracks
from commonsky.network.node import Node, NodeConfig, replay
from commonsky.network.runner import node_configs, run_scenario
from commonsky.network.transport.messages import TrackBatch, decode
from commonsky.sharing import Area
from commonsky.sim import parse_scenario, simulate

BORDER = Path(__file__).resolve().parents[2] / "examples" / "border3.toml"
SMALL = {"count": 14}
DURATION = 150
OUTAGE = (60, 100)
# West shares only a box over its own side and never callsigns; the others share everything.
WEST_AREA = {"type": "Polygon", "coordinates": [[[7.0, 45.9], [9.3, 45.9], [9.3, 47.6], [7.0, 47.6], [7.0, 45.9]]]}


def _scenario():  # type: ignore[no-untyped-def]
    data = tomllib.loads(BORDER.read_text())
    data["assess"]["zones"] = str(BORDER.parent / "border3_zones.geojson")
    data["scenario"]["duration_s"] = DURATION
    data["traffic"]["count"] = SMALL["count"]
    data["events"] = [
        {"kind": "link_outage", "partner_a": "north", "partner_b": "east", "start_s": OUTAGE[0], "end_s": OUTAGE[1]}
    ]
    for policy in data["sharing"]:
        if policy["from"] == "west":
            policy["areas"] = WEST_AREA
            policy["fields"] = ["mode_s"]
    return parse_scenario(data, "test scenario")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("run")
    return out, run_scenario(_scenario(), out)


def test_replay_reproduces_local_and_fused_pictures_bit_for_bit(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, _ = run
    for partner in ("north", "east", "west"):
        outputs = replay(out / partner / "recording")
        from commonsky.core.batches import Tracks
        from commonsky.formats import write_tracks

        write_tracks(Tracks.concat([o.local for o in outputs]), tmp_path / f"{partner}_local.csv")
        write_tracks(Tracks.concat([o.fused.as_tracks() for o in outputs]), tmp_path / f"{partner}_fused.csv")
        assert (tmp_path / f"{partner}_local.csv").read_bytes() == (out / partner / "local_tracks.csv").read_bytes()
        assert (tmp_path / f"{partner}_fused.csv").read_bytes() == (out / partner / "fused_tracks.csv").read_bytes()
        assert len(read_tracks(out / partner / "fused_tracks.csv")) > 0


def test_nothing_outside_the_policy_leaves_a_node() -> None:
    scenario = _scenario()
    simulation = simulate(scenario)
    configs = {c.partner: c for c in node_configs(scenario, simulation)}
    west = Node(configs["west"])
    area = Area.from_geojson(WEST_AREA)
    sent = 0
    plots = simulation.plots
    for k in range(60):
        now = scenario.start_time_s + k + 1.0
        second = plots.take((plots.time_s >= now - 1.0) & (plots.time_s < now))
        west.receive_plots(second.take(np.char.startswith(second.sensor_id, "W-")), now)
        output = west.tick(now)
        for peer, payload in output.outgoing.items():
            message = decode(payload)
            assert isinstance(message, TrackBatch)
            rows = message.reports()
            sent += len(rows)
            assert (rows.owner == "west").all()
            assert area.contains(rows.lon_deg, rows.lat_deg).all(), peer
            assert (rows.callsign == "").all() and (rows.squawk == -1).all()
    assert sent > 0


def test_link_outage_marks_the_partner_down_then_recovers(run) -> None:  # type: ignore[no-untyped-def]
    _, result = run
    statuses = result.partners["north"].statuses
    start, end = OUTAGE
    assert statuses[start - 5]["east"] == "up"
    assert statuses[start + 15]["east"] == "down"  # no heartbeat for > 10 s
    assert statuses[start + 15]["west"] == "up"
    assert statuses[end + 5]["east"] == "up"
    # East's tracks age out of north's fused picture during the outage and come back after it.
    system = result.partners["north"].system
    t0 = result.simulation.scenario.start_time_s

    def east_sources(second: float) -> int:
        rows = system.take(system.time_s == t0 + second)
        return sum(1 for _, owner, _ in rows.source_links() if owner == "east")

    assert east_sources(start - 5) > 0
    assert east_sources(start + 20) == 0
    assert east_sources(end + 10) > 0


def test_fusion_on_arrival_shows_partner_tracks_before_the_tick_and_replays(tmp_path: Path) -> None:
    scenario = _scenario()
    simulation = simulate(scenario)
    configs = {c.partner: c for c in node_configs(scenario, simulation)}
    north = Node(configs["north"])
    east = Node(configs["east"], recording=tmp_path / "east")
    owner = {s.id: s.partner for s in simulation.sensors}
    plots = simulation.plots
    plot_owner = np.array([owner[s] for s in plots.sensor_id])
    start = scenario.start_time_s
    ticks = []
    on_arrival = []
    for k in range(1, 41):
        now = start + k
        second = (plots.time_s >= now - 1) & (plots.time_s < now)
        north.receive_plots(plots.take(second & (plot_owner == "north")), now)
        east.receive_plots(plots.take(second & (plot_owner == "east")), now)
        sent = north.tick(now)
        if "east" in sent.outgoing:
            east.receive_message(sent.outgoing["east"], now + 0.05)
            on_arrival.append(east.fuse(now + 0.05))
        ticks.append(east.tick(now + 0.5))
    east.close()
    # Between ticks, the picture already holds north's tracks.
    assert any((o.responsible == "north").any() for o in on_arrival)
    replayed = replay(tmp_path / "east")
    assert len(replayed) == len(ticks)
    for a, b in zip(ticks, replayed, strict=True):
        for name in a.fused.DTYPES:
            np.testing.assert_array_equal(getattr(a.fused, name), getattr(b.fused, name))


def test_a_river_node_replays_bit_for_bit_with_its_waterway(tmp_path: Path) -> None:
    """The river's recording carries its waterway, so a replay keeps vessels on the same water."""
    from commonsky.core.batches import Tracks
    from commonsky.core.config import read_toml
    from commonsky.formats import write_tracks

    data, source = read_toml(Path(__file__).resolve().parents[2] / "examples" / "river.toml")
    data["scenario"]["duration_s"] = 150
    data["vessels"] = [v for v in data["vessels"] if v.get("start_s", 0) < 150]
    data["events"] = []  # they name target ids the shorter vessel list no longer has
    out = tmp_path / "river"
    scenario = parse_scenario(data, source)
    config = node_configs(scenario, simulate(scenario))[0]
    assert config.waterway is not None and NodeConfig.from_json(config.to_json()).waterway == config.waterway
    run_scenario(scenario, out=out)
    outputs = replay(out / "sk" / "recording")
    assert outputs[-1].fused.domain.tolist() and set(outputs[-1].fused.domain.tolist()) == {"surface"}
    write_tracks(Tracks.concat([o.fused.as_tracks() for o in outputs]), tmp_path / "fused.csv")
    assert (tmp_path / "fused.csv").read_bytes() == (out / "sk" / "fused_tracks.csv").read_bytes()
