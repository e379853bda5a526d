"""The display API's request and response models: what the OpenAPI document at /docs describes.

Field for field the JSON the routes answer with; the picture's own shapes come from
`commonsky.web.picture`, identities from `commonsky.assess.Identity`, the audit record is
`commonsky.web.actions.AuditEntry` itself.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from commonsky.assess import AlertView, Identity

Domain = Literal["air", "surface"]
"""The picture a track belongs to (`commonsky.core.sensors.DOMAINS`): an aircraft's, or a vessel's."""


class TrackSummary(BaseModel):
    """One system track as listed (stream columns plus quality and sources)."""

    id: int
    lat: float
    lon: float
    alt: int | None
    ve: float
    vn: float
    vu: float
    identity: Identity
    callsign: str
    squawk: str
    mode_s: str
    mmsi: int | None
    """A vessel's Maritime Mobile Service Identity (AIS); None when unknown (and for aircraft)."""
    domain: Domain
    kinds: int
    status: str
    quality: float
    n_sources: int
    responsible: str
    sources: str
    owners: str
    alerts: list[str]


class TracksResponse(BaseModel):
    """The current system tracks (after filters)."""

    time_s: float
    partner: str
    count: int
    tracks: list[TrackSummary]


class IdentityChange(BaseModel):
    """One entry of a system track's identity history."""

    time_s: float
    identity: Identity
    by: str
    reason: str


class SourceTrack(BaseModel):
    """A partner track fused into a system track."""

    partner: str
    track_id: int


class TrackDetail(TrackSummary):
    """One system track in full: state, uncertainty (1 sigma), what feeds it, alerts, identity history."""

    time_s: float
    sigma_east_m: float | None
    sigma_north_m: float | None
    sigma_alt_m: float | None
    sigma_ve_mps: float | None
    sigma_vn_mps: float | None
    sensor_kinds: list[str]
    source_tracks: list[SourceTrack]
    partners: list[str]
    alert_details: list[AlertView]
    identity_history: list[IdentityChange]


class AlertsResponse(BaseModel):
    """Every alert, newest first."""

    time_s: float
    alerts: list[AlertView]


class PartnerState(BaseModel):
    """A peer's link status as seen by the viewed partner."""

    id: str
    status: str
    last_message_s: float | None
    age_s: float | None


class PartnersResponse(BaseModel):
    """The viewed partner and its peers."""

    time_s: float
    partner: str
    partners: list[PartnerState]


class Sensor(BaseModel):
    """A sensor: where, what kind, how far it sees, and (own sensors) the age of its last plot."""

    id: str
    partner: str
    kind: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    max_range_m: float
    own: bool
    last_plot_s: float | None
    age_s: float | None
    registration: dict[str, float | int | bool] | None = None
    """Own radars: the tracker's registration estimates (`commonsky.tracking.registration_report`)."""
    input_state: str | None = None
    """A sensor fed by a live input of its own: starting, running, failed or ended."""
    input_reason: str | None = None
    """Why that input failed (it is being reopened with back-off)."""


class SensorsResponse(BaseModel):
    """Every sensor known to the viewed partner."""

    time_s: float
    sensors: list[Sensor]


class ReplayState(BaseModel):
    """Whether the source can seek, and its time range."""

    available: bool
    start_s: float | None = None
    end_s: float | None = None
    time_s: float


class SeekRequest(BaseModel):
    """Where to jump to (picture time, UTC seconds)."""

    time_s: float


class IdentityRequest(BaseModel):
    """The identity an operator gives a system track."""

    identity: Identity


class LoginRequest(BaseModel):
    """Credentials (bounded: argon2 hashes whatever it is given)."""

    name: str = Field(max_length=128)
    password: str = Field(max_length=1024)


class Me(BaseModel):
    """Who is signed in, whether sign-in is required at all, and the CSRF token writes must send."""

    name: str
    role: str
    auth: bool
    csrf: str
    sso: bool = False
    """True when single sign-on is offered (GET /auth/oidc/login)."""


class SignInOptions(BaseModel):
    """The ways to sign in: a local account's password, and single sign-on."""

    password: bool
    sso: bool


class SecurityEvent(BaseModel):
    """One sign-in, sign-out or refusal (`commonsky.web.security.SecurityLog`)."""

    model_config = ConfigDict(extra="allow")

    seq: int
    wall_utc: str
    event: str
