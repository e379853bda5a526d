"""The command line over real recordings: decode summaries, tracking and a node run straight from a capture."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from commonsky.cli import app
from commonsky.formats import read_plots, read_tracks

DATA = Path(__file__).resolve().parent / "data"
ADSB = DATA / "modes" / "pymodes_sample_data_adsb_first1000.csv"
PCAP = DATA / "asterix" / "cat_034_048.pcap"
runner = CliRunner()


def test_decode_writes_plots_and_the_summary_json(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["decode", str(PCAP), "--out", str(tmp_path / "p.csv"), "--summary-json", str(tmp_path / "s.json")]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["format"] == "pcap" and summary["errors"] == 0
    assert summary["by_category"] == {"034": 34, "048": 128}
    assert summary["messages"] == 162 and summary["addresses"] > 0 and summary["time_span_s"] > 0
    assert len(read_plots(tmp_path / "p.csv")) == summary["plots"] == 128


def test_track_and_run_take_a_mode_s_recording_directly(tmp_path: Path) -> None:
    tracked = runner.invoke(app, ["track", "--plots", str(ADSB), "--out", str(tmp_path / "tracks.csv")])
    assert tracked.exit_code == 0, tracked.output
    tracks = read_tracks(tmp_path / "tracks.csv")
    assert set(tracks.mode_s.tolist()) == {0x406B90} and set(tracks.callsign.tolist()) == {"EZY85MH"}
    ran = runner.invoke(app, ["run", str(ADSB), "--out", str(tmp_path / "run")])
    assert ran.exit_code == 0, ran.output
    fused = read_tracks(tmp_path / "run" / "local" / "fused_tracks.csv")
    assert len(fused) > 100 and set(fused.mode_s.tolist()) == {0x406B90}
    assert (tmp_path / "run" / "local" / "alerts.jsonl").exists()


def test_radar_recording_without_sensor_descriptions_is_refused_clearly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(PCAP), "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "radar plots need a description of sensors" in result.output


def test_coalition_keygen_hub_join_keep_secrets_with_their_owners(tmp_path: Path) -> None:
    coalition = tmp_path / "coalition.toml"
    coalition.write_text('partners = ["north", "east"]\n')
    for partner in ("north", "east"):
        result = runner.invoke(app, ["coalition", "keygen", partner, "--dir", str(tmp_path / partner)])
        assert result.exit_code == 0, result.output
        assert "seal key fingerprint" in " ".join(result.output.split())  # Rich wraps long lines
    requests = [arg for p in ("north", "east") for arg in ("--request", str(tmp_path / p / "request.json"))]
    hub = tmp_path / "hub"
    result = runner.invoke(app, ["coalition", "hub", "--coalition", str(coalition), *requests, "--dir", str(hub)])
    assert result.exit_code == 0, result.output
    assert (hub / "nats-commonsky-1.conf").exists()
    result = runner.invoke(
        app, ["coalition", "join", str(hub / "grants" / "north.json"), "--dir", str(tmp_path / "north")]
    )
    assert result.exit_code == 0, result.output
    assert "east: seal key fingerprint" in " ".join(result.output.split())
    assert (tmp_path / "north" / "creds.json").exists()
    secrets = [(tmp_path / p / name).read_text().strip() for p in ("north", "east") for name in ("user.nk", "seal.key")]
    for f in hub.rglob("*"):
        if f.is_file():
            text = f.read_text(errors="replace")
            assert not any(secret in text for secret in secrets), f
    # a request for a partner the coalition does not name is refused with the reason
    (tmp_path / "south").mkdir()
    runner.invoke(app, ["coalition", "keygen", "south", "--dir", str(tmp_path / "south")])
    result = runner.invoke(
        app,
        [
            "coalition",
            "hub",
            "--coalition",
            str(coalition),
            *requests,
            "--request",
            str(tmp_path / "south" / "request.json"),
            "--dir",
            str(hub),
        ],
    )
    assert result.exit_code != 0
    assert "not a partner of the coalition" in " ".join(result.output.split())


def test_the_display_needs_real_accounts_off_the_demo(tmp_path: Path) -> None:
    examples = Path(__file__).resolve().parents[1] / "examples"
    nobody = runner.invoke(app, ["serve"])
    assert nobody.exit_code == 2 and "hash-password" in nobody.output
    public = runner.invoke(app, ["serve", "--demo", "--host", "0.0.0.0"])
    assert public.exit_code == 2 and "loopback only" in public.output
    plain = runner.invoke(
        app,
        [
            "serve",
            "--users",
            str(examples.parent / "src/commonsky/web/demo_users.toml"),
            "--host",
            "10.9.8.7",
            "--allow-plain-http",
        ],
    )
    assert plain.exit_code == 2 and "loopback only" in plain.output  # the demo passwords, under any file name
    node = runner.invoke(
        app, ["node", "--config", str(examples / "receiver" / "node.toml"), "--out", str(tmp_path), "--serve", "8089"]
    )
    assert node.exit_code == 2 and "[[users]]" in node.output and "hash-password" in node.output
