"""Partner rule: own sensors contradict a partner's track.

- `partner_contradiction` [medium]: a partner track with an own track's address but statistically far
  from all own tracks of it, or a confirmed partner track of known altitude well inside the coverage of
  an own radar that is up with no own track within `partner_explain_m`; raised only after it holds
  for `partner_raise_s` (30 s: own track initiation, partner delay and edge effects die out first).
"""

from __future__ import annotations

import numpy as np

from commonsky.assess.alerts import Condition
from commonsky.assess.checks import partner_contradictions
from commonsky.assess.registry import AlertRule, Tick
from commonsky.assess.rules.common import num, sensor_up, track
from commonsky.assess.state import AssessmentState
from commonsky.core.sensors import DOMAIN_AIR, DOMAIN_SURFACE

PARTNER_CONTRADICTION = "partner_contradiction"


def partner_contradiction(state: AssessmentState, tick: Tick) -> tuple[AssessmentState, list[Condition]]:
    """Partner aircraft tracks that own aircraft tracks or own air radar coverage contradict (rules in
    `partner_contradictions`); vessels and shore radars take no part."""
    cfg, system, local, partner, time_s = state.config, tick.system, tick.local, tick.partner, tick.time_s
    if local is None or partner is None:
        return state, []
    local, partner = local.take(local.domain != DOMAIN_SURFACE), partner.take(partner.domain != DOMAIN_SURFACE)
    if not len(partner):
        return state, []
    radars = [
        s
        for s in state.sensors.values()
        if s.kind.is_radar and s.kind.domain == DOMAIN_AIR and sensor_up(state, s, time_s, False)
    ]
    found = partner_contradictions(
        state.frame,
        local,
        partner,
        radars,
        time_s,
        cfg.partner_gate_chi2,
        cfg.partner_bias_sigma_m,
        cfg.partner_explain_m,
        cfg.coverage_fraction,
    )
    out = []
    wrapped = np.char.add(np.char.add(";", system.sources.astype(str)), ";")
    for i, row in enumerate(found.partner_row):
        source = f"{partner.owner[row]}:{partner.track_id[row]}"
        holders = np.flatnonzero(np.char.find(wrapped, f";{source};") >= 0)
        k = int(holders[0]) if len(holders) else -1
        evidence = {
            "rule": str(found.rule[i]),
            "partner_track": source,
            "partner_position": {
                "time_s": float(partner.time_s[row]),
                "lat_deg": float(partner.lat_deg[row]),
                "lon_deg": float(partner.lon_deg[row]),
                "alt_m": num(partner.alt_m[row]),
                "mode_s": f"{int(partner.mode_s[row]):06X}" if partner.mode_s[row] >= 0 else None,
            },
            "own_track_id": int(found.own_track_id[i]),
            "distance_m": num(found.distance_m[i]),
            "chi2": num(found.chi2[i]),
            "covering_sensor": str(found.covering_sensor[i]) or None,
            "track": track(system, k) if k >= 0 else None,
            "thresholds": {
                "chi2": cfg.partner_gate_chi2,
                "bias_sigma_m": cfg.partner_bias_sigma_m,
                "explain_m": cfg.partner_explain_m,
                "coverage_fraction": cfg.coverage_fraction,
            },
        }
        sid = int(system.system_id[k]) if k >= 0 else -1
        out.append(Condition(f"{PARTNER_CONTRADICTION}|{source}", PARTNER_CONTRADICTION, sid, "medium", evidence))
    return state, out


PARTNER_CONTRADICTION_RULE = AlertRule(
    PARTNER_CONTRADICTION,
    "Partner contradiction",
    ("medium",),
    "#5fd7ff",
    "Own sensors contradict a partner's track: the same address far from the own track, or a "
    "confirmed track inside own radar coverage that own radar does not see.",
    partner_contradiction,
    raise_s="partner_raise_s",
)
