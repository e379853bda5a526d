"""The picture as the page and other tools read it: tracks, alerts, partner and sensor status, zones, the river's
waterway, replay, and the tar1090 files; each answers with the caller's session's view
(`commonsky.web.access.view_of`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from commonsky.assess import AlertView, Identity
from commonsky.sharing import SharingError
from commonsky.web.access import Reader, Shared, View, Viewer
from commonsky.web.actions import ActionError
from commonsky.web.feed import PictureSource
from commonsky.web.kinds import AlertKindInfo, alert_kinds_payload
from commonsky.web.models import (
    AlertsResponse,
    Domain,
    PartnersResponse,
    PartnerState,
    ReplayState,
    SeekRequest,
    Sensor,
    SensorsResponse,
    TrackDetail,
    TracksResponse,
    TrackSummary,
)
from commonsky.web.picture import EMPTY_ZONES
from commonsky.web.tar1090 import aircraft_json, receiver_json

router = APIRouter()


def _age(now: float, then: float | None) -> float | None:
    """Seconds from `then` to `now` (0.1 s), None when never."""
    return None if then is None else round(now - then, 1)


@router.get("/api/tracks", tags=["picture"])
def tracks(
    user: Viewer,
    view: View,
    partner: Annotated[str | None, Query(description="Only tracks this partner's tracks feed.")] = None,
    identity: Annotated[Identity | None, Query(description="Only tracks with this identity.")] = None,
    alert: Annotated[bool | None, Query(description="true: only tracks with an open alert; false: none.")] = None,
    domain: Annotated[Domain | None, Query(description="Only aircraft, or only vessels.")] = None,
) -> TracksResponse:
    """The current system tracks with identity and open alert ids."""
    pic = view.snapshot()
    cols = pic.columns
    rows = []
    for i in range(len(cols["id"])):
        if partner is not None and partner not in cols["owners"][i].split(","):
            continue
        if identity is not None and cols["identity"][i] != identity:
            continue
        if alert is not None and bool(cols["alerts"][i]) != alert:
            continue
        if domain is not None and cols["domain"][i] != domain:
            continue
        rows.append(TrackSummary.model_validate({k: v[i] for k, v in cols.items()}))
    return TracksResponse(time_s=pic.time_s, partner=pic.partner, count=len(rows), tracks=rows)


@router.get("/api/tracks/{system_id}", tags=["picture"])
def track(system_id: int, view: View) -> TrackDetail:
    """One system track in full."""
    detail = view.snapshot().track(system_id)
    if detail is None:
        raise HTTPException(404, f"no system track {system_id} in the current picture")
    return TrackDetail.model_validate(detail)


@router.get("/api/alerts", tags=["alerts"])
def alerts(view: View) -> AlertsResponse:
    """Every alert, newest first."""
    pic = view.snapshot()
    return AlertsResponse(time_s=pic.time_s, alerts=[AlertView(**a) for a in reversed(pic.alerts)])


@router.get("/api/alert-kinds", tags=["alerts"])
def alert_kinds(user: Viewer) -> list[AlertKindInfo]:
    """Every kind of alert the rules raise: label, severities, display colour and help (`commonsky.assess`)."""
    return [AlertKindInfo.model_validate(k) for k in alert_kinds_payload()]


@router.get("/api/partners", tags=["status"])
def partners(view: View) -> PartnersResponse:
    """Link status of the viewed partner's peers."""
    pic = view.snapshot()
    peers = [PartnerState(**p, age_s=_age(pic.time_s, p["last_message_s"])) for p in pic.partners]
    return PartnersResponse(time_s=pic.time_s, partner=pic.partner, partners=peers)


@router.get("/api/sensors", tags=["status"])
def sensors(view: View) -> SensorsResponse:
    """Sensors with positions, kind and range (coverage rings), and own sensors' last plot age."""
    pic = view.snapshot()
    out = [Sensor.model_validate(s | {"age_s": _age(pic.time_s, s["last_plot_s"])}) for s in pic.sensors]
    return SensorsResponse(time_s=pic.time_s, sensors=out)


@router.get("/api/zones", tags=["picture"])
def zones(view: View) -> dict[str, Any]:
    """The zones (a GeoJSON FeatureCollection)."""
    return view.snapshot().zones


@router.get("/api/layers/waterway", tags=["picture"])
def waterway(view: View) -> dict[str, Any]:
    """The river's water polygons, centreline and border (a GeoJSON FeatureCollection whose features carry
    `properties.role`: water, centreline, border); an empty collection where the picture has no river."""
    return view.snapshot().waterway or EMPTY_ZONES


def _replay_state(view: PictureSource) -> ReplayState:
    """Whether `view` can seek, and where it is in its recording."""
    pic = view.snapshot()
    if not view.seekable or pic.replay is None:
        return ReplayState(available=False, time_s=pic.time_s)
    return ReplayState(available=True, **pic.replay)


@router.get("/api/replay", tags=["replay"])
def replay(view: View) -> ReplayState:
    """Whether the source can seek (recordings), and its time range and this session's position."""
    return _replay_state(view)


@router.post("/api/replay/seek", tags=["replay"])
def seek(body: SeekRequest, user: Reader, view: View) -> ReplayState:
    """Jump to a time of the recording (any signed-in user: it moves this session's view only)."""
    try:
        view.seek(body.time_s)
    except ActionError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return _replay_state(view)


@router.get("/data/aircraft.json", tags=["picture"])
def tar1090_aircraft(view: View, display: Shared) -> dict[str, Any]:
    """The picture as readsb/tar1090 `aircraft.json` (tar1090, Virtual Radar Server, community tools),
    cut by the display's aircraft policy when it has one."""
    try:
        return aircraft_json(view.snapshot(), display.aircraft_policy)
    except SharingError as exc:
        raise HTTPException(500, str(exc)) from None


@router.get("/data/receiver.json", tags=["picture"])
def tar1090_receiver(view: View, display: Shared) -> dict[str, Any]:
    """tar1090's receiver file: version, refresh period, the viewed partner's first own sensor."""
    return receiver_json(view.snapshot(), refresh_ms=round(display.stream_interval_s * 1000))
