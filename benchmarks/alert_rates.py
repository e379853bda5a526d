"""Alerts on ordinary traffic: border3 without its events, several traffic seeds, every partner's alerts.

No event is scripted, so every alert is either the rules doing their job on ordinary traffic (a
random aircraft without transponder is `unknown`; an unknown track entering the border buffer,
or one of unknown altitude heading for a restricted zone, alerts by design) or a false alert from
an imperfect picture. The table counts raised alerts per kind; the JSON keeps, per alert, the
distance from the alerting system track to the nearest true aircraft and that aircraft's
transponder, so the two cases can be told apart.

Run: `python -m benchmarks --only alert_rates [--quick]` (quick: two seeds).
"""

from __future__ import annotations

import collections
import logging
import tomllib
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.common import REPO_ROOT, recorded, standalone
from commonsky.assess import ALERT_KINDS
from commonsky.network.runner import run_scenario
from commonsky.sim import parse_scenario

NAME = "alert_rates"
SEEDS_FULL = (20260101, 1, 2, 3)
SEEDS_QUICK = (20260101, 2)
BORDER3 = REPO_ROOT / "examples" / "border3.toml"
SHORT = {
    "zone_entry": "entry",
    "zone_predicted_entry": "predicted",
    "emergency_squawk": "7x00",
    "transponder_loss": "xpdr loss",
    "adsb_inconsistent": "ADS-B",
    "partner_contradiction": "contra",
    "unknown_near_border": "unk border",
}
"""Column headings of the alert kinds."""


def _nearest_truth(run: Any, partner: str, event: dict[str, Any]) -> dict[str, Any]:
    """Distance from the alerting system track to the nearest true aircraft, and that aircraft's transponder."""
    system = run.partners[partner].system
    rows = np.flatnonzero((system.system_id == event["system_id"]) & (np.abs(system.time_s - event["time_s"]) < 0.5))
    truth = run.simulation.truth
    now = truth.take(np.abs(truth.time_s - event["time_s"]) < 0.5)
    if not len(rows) or not len(now):
        return {"distance_m": None, "transponder": None}
    k = rows[0]
    north = (now.lat_deg - system.lat_deg[k]) * 111_195.0
    east = (now.lon_deg - system.lon_deg[k]) * 111_195.0 * np.cos(np.radians(system.lat_deg[k]))
    j = int(np.hypot(east, north).argmin())
    return {
        "distance_m": float(np.hypot(east[j], north[j])),
        "transponder": bool(now.mode_s[j] >= 0 or now.squawk[j] >= 0),
    }


def main(quick: bool = False, console: Console | None = None) -> dict[str, Any]:
    """Run each seed, count raised alerts per partner and kind, and print the table."""
    console = console or Console()
    logging.disable(logging.WARNING)
    data = tomllib.loads(BORDER3.read_text())
    data["events"] = []
    data["assess"]["zones"] = str(BORDER3.resolve().parent / "border3_zones.geojson")
    scenario = parse_scenario(data, str(BORDER3))
    counts: dict[str, dict[str, int]] = {}
    alerts: list[dict[str, Any]] = []
    for seed in SEEDS_QUICK if quick else SEEDS_FULL:
        run = run_scenario(scenario, seed=seed)
        for partner, result in run.partners.items():
            raised = [e for e in result.alert_events if e["event"] == "raised"]
            counts[f"{seed} {partner}"] = dict(collections.Counter(e["kind"] for e in raised))
            for e in raised:
                alerts.append({"seed": seed, "partner": partner, "kind": e["kind"], **_nearest_truth(run, partner, e)})
    table = Table(title=f"Raised alerts on border3 without events ({scenario.duration_s / 60:.0f} min per seed)")
    table.add_column("seed, partner")
    for kind in ALERT_KINDS:
        table.add_column(SHORT[kind], justify="right")
    for key, row in counts.items():
        table.add_row(key, *(str(row.get(kind, 0)) for kind in ALERT_KINDS))
    console.print(table)
    far = sum(1 for a in alerts if a["distance_m"] is not None and a["distance_m"] > 3000.0)
    console.print(
        f"{len(alerts)} alerts; {far} on a system track more than 3 km from any aircraft (false tracks); "
        f"{sum(1 for a in alerts if a['transponder'] is False)} about aircraft without a transponder"
    )
    return {"seeds": list(SEEDS_QUICK if quick else SEEDS_FULL), "counts": counts, "alerts": alerts}


run = recorded(NAME, main)


if __name__ == "__main__":
    standalone(main, __doc__, "two seeds instead of four")
