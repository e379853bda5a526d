"""Subjects, duplicate detection and partner status shared by both transports."""

from __future__ import annotations

import json

import pytest

from commonsky.network.transport.base import (
    PartnerMonitor,
    SeqTracker,
    Sequencer,
    check_partner_id,
    inbound_patterns,
    parse_subject,
    partner_status,
    sender_wildcard,
    split_subject,
    subject,
    subject_matches,
)


def test_subject_layout() -> None:
    assert subject("north", "tracks", receiver="east") == "commonsky.north.tracks.east"
    assert subject("north", "heartbeat") == "commonsky.north.heartbeat"
    assert sender_wildcard("east") == "commonsky.east.>"
    assert parse_subject("commonsky.west.heartbeat") == ("west", "heartbeat")
    assert split_subject("commonsky.west.tracks.north") == ("west", "tracks", "north")
    assert split_subject("commonsky.west.policy") == ("west", "policy", None)
    broadcast, addressed = inbound_patterns("north", "east")
    assert subject_matches(broadcast, "commonsky.north.heartbeat")
    assert subject_matches(addressed, "commonsky.north.tracks.east")
    assert not any(subject_matches(p, "commonsky.north.tracks.west") for p in (broadcast, addressed))
    for bad in (
        "commonsky.west",
        "other.west.tracks",
        "commonsky.west.weather",
        "commonsky.a*b.tracks",
        "commonsky.west.tracks.a.b",
        "commonsky.west.tracks.*",
    ):
        with pytest.raises(ValueError):
            parse_subject(bad)
    for bad_id in ("", "a.b", "a b", "x" * 17, "*", ">"):
        with pytest.raises(ValueError):
            check_partner_id(bad_id)


@pytest.mark.parametrize(
    ("pattern", "subj", "expected"),
    [
        ("commonsky.north.>", "commonsky.north.tracks", True),
        ("commonsky.north.>", "commonsky.north", False),
        ("commonsky.*.tracks", "commonsky.east.tracks", True),
        ("commonsky.*.tracks", "commonsky.east.policy", False),
        ("commonsky.>", "commonsky.a.b.c", True),
        ("commonsky.north.tracks", "commonsky.north.tracks", True),
        ("commonsky.north.tracks", "commonsky.north.tracks.x", False),
    ],
)
def test_subject_matches_nats_wildcards(pattern: str, subj: str, expected: bool) -> None:
    assert subject_matches(pattern, subj) is expected


def test_sequencer_counts_per_subject_and_resumes() -> None:
    seq = Sequencer()
    assert [seq.next("tracks", "east"), seq.next("tracks", "east"), seq.next("tracks", "west")] == [1, 2, 1]
    assert seq.next("heartbeat") == 1
    seq.resume("tracks", 40, "east")
    assert seq.next("tracks", "east") == 41
    seq.resume("tracks", 3, "east")  # never goes back
    assert seq.next("tracks", "east") == 42
    assert seq.last("tracks", "west") == 1
    with pytest.raises(ValueError, match="do not mix"):
        seq.next("tracks")  # tracks are addressed by this sender: no broadcast numbering too
    with pytest.raises(ValueError, match="do not mix"):
        seq.next("heartbeat", "east")


def test_seq_tracker_drops_duplicates_and_accepts_out_of_order() -> None:
    t = SeqTracker()
    for s in (1, 2, 3, 5, 6):
        assert t.check("north", "tracks", s, float(s)) == "new"
        t.mark("north", "tracks", s, float(s))
    assert t.check("north", "tracks", 2, 2.0) == "duplicate"
    assert t.check("north", "tracks", 6, 6.0) == "duplicate"
    assert t.check("north", "tracks", 4, 4.0) == "new"  # late redelivery fills the hole
    t.mark("north", "tracks", 4, 4.0)
    assert t.last_applied("north", "tracks") == 6
    assert t.check("north", "heartbeat", 1, 1.0) == "new"  # kinds are separate
    assert t.check("east", "tracks", 1, 1.0) == "new"  # senders are separate


def test_seq_tracker_detects_sender_restart() -> None:
    t = SeqTracker()
    for s in range(1, 11):
        t.mark("north", "tracks", s, 100.0 + s)
    assert t.check("north", "tracks", 1, 101.0) == "duplicate"
    assert t.check("north", "tracks", 1, 500.0) == "restart"  # newer than anything applied
    t.mark("north", "tracks", 1, 500.0)
    assert t.restarts[("north", "tracks")] == 1
    assert t.check("north", "tracks", 2, 501.0) == "new"


def test_seq_tracker_window_writes_off_old_holes() -> None:
    t = SeqTracker(window=10)
    t.mark("north", "tracks", 1, 1.0)
    t.mark("north", "tracks", 5, 5.0)
    t.mark("north", "tracks", 30, 30.0)
    assert t.lost[("north", "tracks")] == 18  # 2-4 and 6-20 are given up
    assert t.check("north", "tracks", 3, 3.0) == "duplicate"
    assert t.check("north", "tracks", 25, 25.0) == "new"


def test_seq_tracker_snapshot_restore() -> None:
    t = SeqTracker()
    for s in (1, 2, 4):
        t.mark("north", "tracks", s, float(s))
    restored = SeqTracker.restore(json.loads(json.dumps(t.snapshot())))
    assert restored.check("north", "tracks", 4, 4.0) == "duplicate"
    assert restored.check("north", "tracks", 3, 3.0) == "new"
    assert restored.snapshot() == t.snapshot()


def test_partner_status_thresholds() -> None:
    assert partner_status(None, 100.0) == "down"
    assert partner_status(99.0, 100.0) == "up"
    assert partner_status(97.0, 100.0) == "up"
    assert partner_status(96.0, 100.0) == "degraded"
    assert partner_status(90.0, 100.0) == "degraded"
    assert partner_status(89.0, 100.0) == "down"
    assert partner_status(95.0, 100.0, degraded_after_s=10.0, down_after_s=20.0) == "up"
    with pytest.raises(ValueError):
        partner_status(1.0, 2.0, degraded_after_s=5.0, down_after_s=1.0)


def test_partner_monitor_combines_age_and_reported_status() -> None:
    mon = PartnerMonitor(degraded_after_s=2.0, down_after_s=5.0)
    mon.observe("north", 10.0, "up")
    mon.observe("east", 10.0, "degraded")
    mon.observe("west", 10.0, "stopping")
    mon.observe("north", 8.0, "degraded")  # older news is ignored
    assert mon.statuses(["north", "east", "west", "south"], 11.0) == {
        "north": "up",
        "east": "degraded",
        "west": "down",
        "south": "down",
    }
    assert mon.status("north", 13.0) == "degraded"
    assert mon.status("east", 20.0) == "down"
