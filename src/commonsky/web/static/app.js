// commonsky operator display: MapLibre map with milsymbol air and sea-surface tracks, fed by the /ws picture stream.
// Plain ES module; maplibregl and ms (milsymbol) are globals from the vendored dist scripts.

const maplibregl = window.maplibregl;
const ms = window.ms;

const LEADER_S = { air: 60, surface: 360 }; // velocity leaders: where the aircraft will be in 60 s, a vessel in 6 min
const TRAIL_S = { air: 60, surface: 600 }; // trails: the last 60 s of an aircraft's positions, 10 min of a vessel's
const SURFACE = "surface";
const DOMAIN_KEY = "commonsky.domain"; // the domain filter, remembered by the browser
const DIMENSION = { air: "A", surface: "S" }; // MIL-STD-2525C battle dimension: air, sea surface
const TRAILS_MAX_TRACKS = 3000; // above this, only the selected track's trail is drawn
const LABELS_MAX = 1200; // labels are drawn when at most this many tracks are in view
const TABLE_MAX_ROWS = 300;
const AFFILIATION = {
  pending: "P", unknown: "U", assumed_friend: "A", friend: "F", neutral: "N", suspect: "S", hostile: "H",
};
const LABEL_COLOR = {
  pending: "#ffff80", unknown: "#ffff80", assumed_friend: "#80e0ff", friend: "#80e0ff",
  neutral: "#aaffaa", suspect: "#ff8080", hostile: "#ff8080",
};
const KIND_NAMES = [[1, "P"], [2, "S"], [4, "A"], [8, "I"], [16, "R"]]; // PSR, SSR, ADS-B, AIS, shore radar
const KIND_LABEL = { adsb: "ADS-B", ais: "AIS", surface_radar: "shore radar" }; // others: the name in capitals

const $ = (sel) => document.querySelector(sel);
const tid = (id) => document.querySelector(`[data-testid="${id}"]`);

const state = {
  me: null,
  alertKinds: new Map(), // kind -> {label, severities, colour, help} from /api/alert-kinds
  tracks: new Map(), // id -> row object (stream columns)
  trails: new Map(), // id -> [[lon, lat, time_s], ...]
  alerts: [],
  partners: [],
  sensors: [],
  zones: { type: "FeatureCollection", features: [] },
  waterway: { type: "FeatureCollection", features: [] }, // the river's water, centreline and border (/api/layers/waterway)
  domain: ["air", SURFACE].includes(localStorage.getItem(DOMAIN_KEY)) ? localStorage.getItem(DOMAIN_KEY) : "both",
  replay: null,
  time_s: 0,
  partner: "",
  selected: null,
  messages: 0,
  lastBytes: 0,
  fitted: false,
  socket: null,
  detailFetchedAt: 0,
  lastApplyMs: 0,
};

// ---------- helpers ----------

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function utc(t) {
  return new Date(t * 1000).toISOString().slice(11, 19);
}
function flightLevel(altM) {
  return altM == null ? "—" : String(Math.round(altM / 30.48)).padStart(3, "0");
}
function groundSpeedKt(t) {
  return Math.round(Math.hypot(t.ve, t.vn) * 1.943844);
}
function age(seconds) {
  return seconds == null ? "—" : `${Math.max(0, seconds).toFixed(0)} s`;
}
function idText(t) {
  return t.callsign || (t.mmsi != null ? `MMSI ${t.mmsi}` : "");
}
function trackName(t) {
  return idText(t) || `T${t.id}`;
}
function courseDeg(t) {
  return Math.round((Math.atan2(t.ve, t.vn) * 180) / Math.PI + 360) % 360;
}
function domainOf(t) {
  return t.domain === SURFACE ? SURFACE : "air";
}
function sensorDomain(s) {
  return s.kind === "ais" || s.kind === "surface_radar" ? SURFACE : "air";
}
function shown(domain) {
  return state.domain === "both" || state.domain === domain;
}
function kindsText(bits) {
  return KIND_NAMES.filter(([b]) => bits & b).map(([, n]) => n).join("") || "—";
}
function alertKindLabel(kind) {
  const k = state.alertKinds.get(kind);
  if (!k) return `<span class="kind">${esc(kind)}</span>`;
  return `<span class="kind" title="${esc(k.help)}"><span class="kind-mark" style="background:${esc(k.colour)}"></span>${esc(k.label)}</span>`;
}
async function api(path, options = {}) {
  const headers = options.body ? { "Content-Type": "application/json" } : {};
  if (options.method && options.method !== "GET" && state.me) headers["X-CSRF-Token"] = state.me.csrf; // writes echo the session's token
  const response = await fetch(path, { credentials: "same-origin", ...options, headers });
  if (response.status === 401) {
    showLogin();
    throw new Error("not signed in");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

// ---------- map ----------

const map = new maplibregl.Map({
  container: "map",
  center: [9.5, 47.5],
  zoom: 6.5,
  attributionControl: false,
  style: {
    version: 8,
    sources: {
      countries: { type: "geojson", data: "/static/basemap/countries.geojson" },
    },
    layers: [
      { id: "background", type: "background", paint: { "background-color": "#0a1624" } },
      { id: "land", type: "fill", source: "countries", paint: { "fill-color": "#142031" } },
      { id: "borders", type: "line", source: "countries", paint: { "line-color": "#3d5170", "line-width": 1 } },
    ],
  },
});
map.addControl(new maplibregl.AttributionControl({ compact: false, customAttribution: "Basemap: Natural Earth (public domain)" }));
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "bottom-left");
map.addControl(new maplibregl.ScaleControl({ unit: "nautical" }), "bottom-left");

const empty = () => ({ type: "FeatureCollection", features: [] });
const mapReady = new Promise((resolve) => map.on("load", resolve));

function symbolImage(identity, domain) {
  const name = `${domain}-${identity}`;
  if (!map.hasImage(name)) {
    const sidc = `S${AFFILIATION[identity] || "U"}${DIMENSION[domain]}P------*****`;
    const ratio = window.devicePixelRatio || 1;
    const canvas = new ms.Symbol(sidc, { size: 16, strokeWidth: 4 }).asCanvas(ratio);
    const image = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    map.addImage(name, { width: canvas.width, height: canvas.height, data: image.data }, { pixelRatio: ratio });
  }
  return name;
}

mapReady.then(() => {
  for (const id of ["waterway", "zones", "coverage", "sensors", "trails", "leaders", "tracks", "selection"]) {
    map.addSource(id, { type: "geojson", data: empty(), promoteId: "id" });
  }
  const role = (r) => ["==", ["get", "role"], r];
  map.addLayer({ id: "water", type: "fill", source: "waterway", filter: role("water"), paint: { "fill-color": "#173c5e" } });
  map.addLayer({ id: "water-bank", type: "line", source: "waterway", filter: role("water"), paint: { "line-color": "#2d6a9c", "line-width": 1 } });
  map.addLayer({ id: "water-centreline", type: "line", source: "waterway", filter: role("centreline"), paint: { "line-color": "#4f86b5", "line-width": 1, "line-dasharray": [1, 3] } });
  map.addLayer({ id: "water-border", type: "line", source: "waterway", filter: role("border"), paint: { "line-color": "#c9a0ff", "line-width": 1.5, "line-dasharray": [6, 2, 1, 2] } });
  const works = ["==", ["get", "kind"], "works"];
  map.addLayer({ id: "zones-fill", type: "fill", source: "zones", paint: { "fill-color": ["match", ["get", "kind"], "works", "#ff9f40", "channel", "#5fb3ff", "#ff6b6b"], "fill-opacity": ["match", ["get", "kind"], "works", 0.22, 0.08] } });
  map.addLayer({ id: "zones-line", type: "line", source: "zones", filter: ["!", works], paint: { "line-color": ["match", ["get", "kind"], "channel", "#5fb3ff", "#ff6b6b"], "line-width": 1.5, "line-dasharray": [3, 2] } });
  map.addLayer({ id: "works-line", type: "line", source: "zones", filter: works, paint: { "line-color": "#ff9f40", "line-width": 2.5 } });
  map.addLayer({ id: "coverage", type: "line", source: "coverage", paint: { "line-color": ["get", "color"], "line-width": 1, "line-opacity": 0.45, "line-dasharray": [2, 3] } });
  map.addLayer({ id: "sensors", type: "circle", source: "sensors", paint: { "circle-radius": 4, "circle-color": "#0a1624", "circle-stroke-width": 2, "circle-stroke-color": ["get", "color"] } });
  map.addLayer({ id: "trails", type: "line", source: "trails", paint: { "line-color": ["get", "color"], "line-width": 1.2, "line-opacity": 0.55 } });
  map.addLayer({ id: "leaders", type: "line", source: "leaders", paint: { "line-color": ["get", "color"], "line-width": 1.2 } });
  map.addLayer({ id: "alert-halo", type: "circle", source: "tracks", filter: ["==", ["get", "alert"], true], paint: { "circle-radius": 16, "circle-color": "rgba(255,60,60,0.18)", "circle-stroke-width": 2, "circle-stroke-color": "#ff4040" } });
  map.addLayer({ id: "selection", type: "circle", source: "selection", paint: { "circle-radius": 15, "circle-color": "rgba(0,0,0,0)", "circle-stroke-width": 2, "circle-stroke-color": "#ffffff" } });
  map.addLayer({
    id: "tracks", type: "symbol", source: "tracks",
    layout: { "icon-image": ["get", "icon"], "icon-allow-overlap": true, "icon-ignore-placement": true },
  });
  map.on("click", "tracks", (e) => select(e.features[0].properties.id));
  map.on("mouseenter", "tracks", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "tracks", () => { map.getCanvas().style.cursor = ""; });
  map.on("render", drawLabels);
});

function ring(lon, lat, radiusM, steps = 72) {
  const coords = [];
  for (let i = 0; i <= steps; i++) {
    const a = (2 * Math.PI * i) / steps;
    const dn = radiusM * Math.cos(a);
    const de = radiusM * Math.sin(a);
    coords.push([lon + de / (111320 * Math.cos((lat * Math.PI) / 180)), lat + dn / 110540]);
  }
  return coords;
}

const SENSOR_COLOR = { psr: "#f2c14e", ssr: "#5fb3ff", adsb: "#4cd07d", ais: "#4cd0c0", surface_radar: "#e0a040" };

function shownSensors() {
  return state.sensors.filter((s) => shown(sensorDomain(s)));
}

function drawStatic() {
  map.getSource("waterway").setData(state.waterway);
  map.getSource("zones").setData(state.zones);
  const showCoverage = tid("toggle-coverage").checked;
  const sensors = shownSensors();
  map.getSource("sensors").setData({
    type: "FeatureCollection",
    features: sensors.map((s) => ({ type: "Feature", id: s.id, geometry: { type: "Point", coordinates: [s.lon_deg, s.lat_deg] }, properties: { id: s.id, color: SENSOR_COLOR[s.kind] || "#ccc" } })),
  });
  map.getSource("coverage").setData({
    type: "FeatureCollection",
    features: showCoverage ? sensors.map((s) => ({ type: "Feature", id: s.id, geometry: { type: "LineString", coordinates: ring(s.lon_deg, s.lat_deg, s.max_range_m) }, properties: { color: SENSOR_COLOR[s.kind] || "#ccc" } })) : [],
  });
}

function drawTracks() {
  const symbols = [];
  const leaders = [];
  const trails = [];
  const showTrails = tid("toggle-trails").checked;
  const allTrails = state.tracks.size <= TRAILS_MAX_TRACKS;
  for (const t of state.tracks.values()) {
    const domain = domainOf(t);
    if (!shown(domain)) continue;
    const color = LABEL_COLOR[t.identity] || "#ccc";
    const alert = t.alerts.length > 0;
    symbols.push({ type: "Feature", id: t.id, geometry: { type: "Point", coordinates: [t.lon, t.lat] }, properties: { id: t.id, icon: symbolImage(t.identity, domain), domain, alert } });
    const cos = Math.cos((t.lat * Math.PI) / 180);
    const ahead = LEADER_S[domain];
    leaders.push({
      type: "Feature", id: t.id,
      geometry: { type: "LineString", coordinates: [[t.lon, t.lat], [t.lon + (t.ve * ahead) / (111320 * cos), t.lat + (t.vn * ahead) / 110540]] },
      properties: { color },
    });
    const trail = state.trails.get(t.id);
    if (showTrails && trail && trail.length > 1 && (allTrails || t.id === state.selected)) {
      trails.push({ type: "Feature", id: t.id, geometry: { type: "LineString", coordinates: trail.map((p) => [p[0], p[1]]) }, properties: { color } });
    }
  }
  map.getSource("tracks").setData({ type: "FeatureCollection", features: symbols });
  map.getSource("leaders").setData({ type: "FeatureCollection", features: leaders });
  map.getSource("trails").setData({ type: "FeatureCollection", features: trails });
  drawSelection();
}

function drawSelection() {
  const selected = state.tracks.get(state.selected);
  const t = selected && shown(domainOf(selected)) ? selected : null;
  map.getSource("selection").setData(t ? { type: "FeatureCollection", features: [{ type: "Feature", id: t.id, geometry: { type: "Point", coordinates: [t.lon, t.lat] }, properties: {} }] } : empty());
}

const labelCanvas = $("#labels");
function drawLabels() {
  const canvas = map.getCanvas();
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (labelCanvas.width !== w * ratio || labelCanvas.height !== h * ratio) {
    labelCanvas.width = w * ratio;
    labelCanvas.height = h * ratio;
    labelCanvas.style.width = `${w}px`;
    labelCanvas.style.height = `${h}px`;
  }
  const ctx = labelCanvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = "11px ui-monospace, 'DejaVu Sans Mono', monospace";
  ctx.textBaseline = "top";
  ctx.fillStyle = "#8fa3bf";
  for (const s of shownSensors()) {
    const p = map.project([s.lon_deg, s.lat_deg]);
    ctx.fillText(s.id, p.x + 7, p.y + 4);
  }
  if (!tid("toggle-labels").checked) return;
  const b = map.getBounds();
  const visible = [];
  for (const t of state.tracks.values()) {
    if (!shown(domainOf(t))) continue;
    if (t.lon >= b.getWest() && t.lon <= b.getEast() && t.lat >= b.getSouth() && t.lat <= b.getNorth()) {
      visible.push(t);
      if (visible.length > LABELS_MAX) return;
    }
  }
  ctx.lineWidth = 3;
  ctx.strokeStyle = "rgba(10,22,36,0.85)";
  for (const t of visible) {
    const p = map.project([t.lon, t.lat]);
    const line1 = trackName(t) + (t.alerts.length ? " !" : "");
    const line2 = domainOf(t) === SURFACE ? `${groundSpeedKt(t)} kn ${String(courseDeg(t)).padStart(3, "0")}°` : `${flightLevel(t.alt)} ${groundSpeedKt(t)}`;
    ctx.fillStyle = t.alerts.length ? "#ff6060" : LABEL_COLOR[t.identity] || "#ccc";
    ctx.strokeText(line1, p.x + 12, p.y - 12);
    ctx.fillText(line1, p.x + 12, p.y - 12);
    ctx.strokeText(line2, p.x + 12, p.y);
    ctx.fillText(line2, p.x + 12, p.y);
  }
}

function fitPicture() {
  const sensors = shownSensors();
  const tracks = [...state.tracks.values()].filter((t) => shown(domainOf(t)));
  const points = sensors.map((s) => [s.lon_deg, s.lat_deg]).concat(tracks.map((t) => [t.lon, t.lat]));
  if (!points.length) return;
  const lons = points.map((p) => p[0]);
  const lats = points.map((p) => p[1]);
  const air = sensors.some((s) => sensorDomain(s) === "air") || tracks.some((t) => domainOf(t) === "air");
  // an air picture spans hundreds of km; a river's surface picture a few, seen closer
  map.fitBounds([[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]], { padding: 60, duration: 0, maxZoom: air ? 9 : 14 });
  state.fitted = true;
}
tid("fit-picture").addEventListener("click", () => mapReady.then(fitPicture));

// ---------- picture stream ----------

function rowsFrom(columns) {
  const names = Object.keys(columns);
  const n = names.length ? columns[names[0]].length : 0;
  const rows = [];
  for (let i = 0; i < n; i++) {
    const row = {};
    for (const k of names) row[k] = columns[k][i];
    rows.push(row);
  }
  return rows;
}

function applyMessage(msg) {
  const jumped = msg.time_s < state.time_s || msg.time_s - state.time_s > TRAIL_S.air;
  if (msg.type === "snapshot") {
    state.tracks.clear();
    state.trails.clear();
    for (const row of rowsFrom(msg.tracks)) state.tracks.set(row.id, row);
  } else {
    if (jumped) state.trails.clear();
    for (const id of msg.removed) {
      state.tracks.delete(id);
      state.trails.delete(id);
    }
    for (const row of rowsFrom(msg.upsert)) state.tracks.set(row.id, row);
    for (const row of rowsFrom(msg.moved)) Object.assign(state.tracks.get(row.id), row);
  }
  state.time_s = msg.time_s;
  state.partner = msg.partner;
  state.partners = msg.partners;
  state.replay = msg.replay;
  if (msg.alerts) state.alerts = msg.alerts;
  const staticChanged = msg.type === "snapshot" || msg.zones !== undefined || JSON.stringify(msg.sensors.map((s) => s.id)) !== JSON.stringify(state.sensors.map((s) => s.id));
  state.sensors = msg.sensors;
  if (msg.zones) state.zones = msg.zones;
  for (const t of state.tracks.values()) {
    const trail = state.trails.get(t.id) || [];
    trail.push([t.lon, t.lat, msg.time_s]);
    while (trail.length && trail[0][2] < msg.time_s - TRAIL_S[domainOf(t)]) trail.shift();
    state.trails.set(t.id, trail);
  }
  if (staticChanged) drawStatic();
  drawTracks();
  if (!state.fitted) fitPicture();
  renderPanels();
}

function connect() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  const socket = new WebSocket(url);
  state.socket = socket;
  socket.onopen = () => setStreamState(true);
  socket.onmessage = (event) => {
    state.messages += 1;
    state.lastBytes = event.data.length;
    mapReady.then(() => {
      const started = performance.now();
      applyMessage(JSON.parse(event.data));
      state.lastApplyMs = performance.now() - started;
    });
  };
  socket.onclose = (event) => {
    setStreamState(false);
    if (state.socket !== socket) return;
    state.socket = null;
    if (event.code === 4401) { // the session ended (signed out elsewhere, or expired): sign in again
      signedOut();
      return;
    }
    setTimeout(() => api("/api/me").then(() => connect()).catch(() => {}), 2000);
  };
}

function setStreamState(up) {
  const el = tid("stream-state");
  el.textContent = up ? "live" : "offline";
  el.classList.toggle("up", up);
}

// ---------- panels ----------

let activeTab = "tracks";
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    activeTab = tab.dataset.tab;
    for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
    for (const p of document.querySelectorAll(".panel")) p.hidden = p.dataset.panel !== activeTab;
    renderPanels();
  });
}
for (const id of ["track-search", "filter-partner", "filter-identity", "filter-alert"]) {
  tid(id).addEventListener("input", () => renderTrackTable());
}
for (const id of ["toggle-trails", "toggle-labels", "toggle-coverage"]) {
  tid(id).addEventListener("change", () => mapReady.then(() => { drawStatic(); drawTracks(); map.triggerRepaint(); }));
}
tid("filter-domain").value = state.domain;
tid("filter-domain").addEventListener("change", () => {
  state.domain = tid("filter-domain").value;
  localStorage.setItem(DOMAIN_KEY, state.domain);
  mapReady.then(() => { drawStatic(); drawTracks(); map.triggerRepaint(); });
  renderPanels();
});

function renderPanels() {
  tid("view-partner").textContent = state.partner ? `view: ${state.partner}` : "—";
  tid("clock").textContent = `${utc(state.time_s)} UTC`;
  const total = state.tracks.size;
  const inDomain = state.domain === "both" ? total : [...state.tracks.values()].filter((t) => shown(domainOf(t))).length;
  tid("track-count").textContent = inDomain === total ? `${total} tracks` : `${inDomain} of ${total} tracks`;
  const raised = state.alerts.filter((a) => a.state === "raised").length;
  const badge = tid("alert-badge");
  badge.hidden = raised === 0;
  badge.textContent = String(raised);
  renderPartnerFilter();
  if (activeTab === "tracks") renderTrackTable();
  if (activeTab === "alerts") renderAlerts();
  if (activeTab === "status") renderStatus();
  renderReplay();
  if (state.selected != null && Date.now() - state.detailFetchedAt > 900) loadDetail();
}

function renderPartnerFilter() {
  const select = tid("filter-partner");
  const owners = new Set();
  for (const t of state.tracks.values()) for (const o of t.owners.split(",")) if (o) owners.add(o);
  for (const p of state.partners) owners.add(p.id);
  if (state.partner) owners.add(state.partner);
  const have = new Set([...select.options].map((o) => o.value));
  for (const o of [...owners].sort()) {
    if (!have.has(o)) select.add(new Option(o, o));
  }
}

function matches(t, query, partner, identity, alertsOnly) {
  if (!shown(domainOf(t))) return false;
  if (identity && t.identity !== identity) return false;
  if (alertsOnly && !t.alerts.length) return false;
  if (partner && !t.owners.split(",").includes(partner)) return false;
  if (query) {
    const hay = `${t.id} T${t.id} ${t.callsign} ${t.squawk} ${t.mode_s} ${t.mmsi ?? ""}`.toLowerCase();
    if (!hay.includes(query)) return false;
  }
  return true;
}

function renderTrackTable() {
  const query = tid("track-search").value.trim().toLowerCase();
  const partner = tid("filter-partner").value;
  const identity = tid("filter-identity").value;
  const alertsOnly = tid("filter-alert").checked;
  const rows = [...state.tracks.values()].filter((t) => matches(t, query, partner, identity, alertsOnly));
  const key = (t) => `${t.alerts.length ? 0 : 1}${trackName(t)}`;
  rows.sort((a, b) => { const ka = key(a); const kb = key(b); return ka < kb ? -1 : ka > kb ? 1 : 0; });
  const shown = rows.slice(0, TABLE_MAX_ROWS);
  tid("track-table").tBodies[0].innerHTML = shown.map((t) => `
    <tr data-testid="track-row" data-id="${t.id}" data-domain="${esc(domainOf(t))}" class="${t.id === state.selected ? "selected" : ""} ${t.alerts.length ? "alerting" : ""}">
      <td>T${t.id}</td><td>${esc(domainOf(t) === SURFACE ? trackName(t) : t.callsign) || "—"}</td><td>${esc(t.squawk) || "—"}</td><td>${domainOf(t) === SURFACE ? "—" : flightLevel(t.alt)}</td>
      <td>${groundSpeedKt(t)}</td><td class="id-${esc(t.identity)}">${esc(t.identity.replace("_", " "))}</td><td>${kindsText(t.kinds)}</td>
    </tr>`).join("");
  tid("track-table-note").textContent = rows.length > shown.length ? `showing ${shown.length} of ${rows.length} matching tracks` : `${rows.length} matching tracks`;
}
tid("track-table").tBodies[0].addEventListener("click", (e) => {
  const row = e.target.closest("tr[data-id]");
  if (row) select(Number(row.dataset.id), true);
});

function evidenceValue(key, v) {
  if (Array.isArray(v)) return v.map((x) => evidenceValue(key, x)).join(", ");
  if (v && typeof v === "object") {
    if (v.system_id != null) return `T${v.system_id}${idText(v) ? ` ${idText(v)}` : ""}`; // a track
    return v.name != null ? String(v.name) : `(${evidenceText(v)})`; // a zone by its name
  }
  if (typeof v === "number" && key.endsWith("_s") && v > 1e9) return `${utc(v)} UTC`; // a time, not a duration
  if (typeof v === "number" && key.endsWith("_deg")) return v.toFixed(5);
  if (typeof v === "number" && !Number.isInteger(v)) return String(Math.round(v * 10) / 10);
  return String(v);
}
function evidenceText(evidence) {
  return Object.entries(evidence).filter(([, v]) => v !== "" && v != null).map(([k, v]) => `${k} ${evidenceValue(k, v)}`).join(" · ");
}

function renderAlerts() {
  const operator = state.me?.role === "operator";
  const alerts = [...state.alerts].reverse();
  tid("alert-list").innerHTML = alerts.length ? alerts.map((a) => {
    const t = state.tracks.get(a.system_id);
    const { track, thresholds, ...facts } = a.evidence || {}; // the track is the row's own; thresholds in the tooltip
    const ev = evidenceText(facts);
    const ackBy = a.acknowledged_by ? ` by ${esc(a.acknowledged_by)} at ${utc(a.acknowledged_s)}` : "";
    return `<li class="${esc(a.state)}" data-testid="alert-row" data-id="${esc(a.id)}" data-kind="${esc(a.kind)}" data-state="${esc(a.state)}" data-system-id="${a.system_id}">
      <div class="row">${alertKindLabel(a.kind)}<span class="state">${esc(a.state)}${ackBy}</span></div>
      <div class="meta">${esc(a.id)} · ${esc(a.severity)} · T${a.system_id}${t ? ` ${esc(idText(t))}` : ""} · ${utc(a.time_s)} UTC</div>
      <div class="meta" data-testid="alert-evidence" title="${esc(thresholds ? `thresholds: ${evidenceText(thresholds)}` : "")}">${esc(ev)}</div>
      ${operator && a.state === "raised" ? `<div class="row"><span></span><button type="button" class="small" data-testid="ack-button" data-ack="${esc(a.id)}">Acknowledge</button></div>` : ""}
    </li>`;
  }).join("") : `<li class="cleared">No alerts</li>`;
}
tid("alert-list").addEventListener("click", async (e) => {
  const ack = e.target.closest("[data-ack]");
  if (ack) {
    e.stopPropagation();
    ack.disabled = true;
    try {
      const alert = await api(`/api/alerts/${encodeURIComponent(ack.dataset.ack)}/ack`, { method: "POST" });
      state.alerts = state.alerts.map((a) => (a.id === alert.id ? alert : a));
      renderPanels();
    } catch (err) {
      ack.disabled = false;
      ack.title = err.message;
    }
    return;
  }
  const row = e.target.closest("li[data-system-id]");
  if (row) select(Number(row.dataset.systemId), true);
});

function registration(r) {
  if (!r) return "—";
  if (!r.applied) return `${r.samples} plots`;
  const sign = (v, d) => (v >= 0 ? "+" : "") + v.toFixed(d);
  return esc(`${sign(r.range_bias_m, 0)} m, ${sign(r.azimuth_bias_deg, 2)}°, ${sign(r.time_offset_s, 2)} s`);
}

function renderStatus() {
  tid("partner-table").tBodies[0].innerHTML = state.partners.map((p) => `
    <tr data-testid="partner-row" data-id="${esc(p.id)}" data-status="${esc(p.status)}">
      <td>${esc(p.id)}</td><td title="${esc(p.reason || "")}"><span class="dot ${esc(p.status)}"></span>${esc(p.status)}${p.reason ? ` <small data-testid="partner-reason">${esc(p.reason)}</small>` : ""}</td>
      <td>${age(p.last_message_s == null ? null : state.time_s - p.last_message_s)}</td></tr>`).join("");
  tid("sensor-table").tBodies[0].innerHTML = state.sensors.map((s) => `
    <tr data-testid="sensor-row" data-id="${esc(s.id)}">
      <td>${esc(s.id)}</td><td>${esc(KIND_LABEL[s.kind] || s.kind.toUpperCase())}</td><td>${esc(s.partner)}</td><td>${Math.round(s.max_range_m / 1852)} NM</td>
      <td>${s.own ? age(s.last_plot_s == null ? null : state.time_s - s.last_plot_s) : "—"}${s.input_state === "failed" ? ` <small class="failed" data-testid="sensor-input-failed" title="${esc(s.input_reason || "")}">input failed: ${esc(s.input_reason || "")}</small>` : ""}</td>
      <td data-testid="sensor-registration">${registration(s.registration)}</td></tr>`).join("");
}

// ---------- selection and detail ----------

function select(id, fly = false) {
  state.selected = id;
  tid("track-detail").hidden = false;
  const t = state.tracks.get(id);
  if (fly && t) map.easeTo({ center: [t.lon, t.lat], duration: 400 });
  mapReady.then(() => drawTracks());
  renderTrackTable();
  loadDetail();
}

async function loadDetail() {
  const id = state.selected;
  if (id == null) return;
  state.detailFetchedAt = Date.now();
  const body = tid("detail-body");
  let d;
  try {
    d = await api(`/api/tracks/${id}`);
  } catch (err) {
    if (state.selected === id) {
      tid("detail-title").textContent = `T${id}`;
      body.innerHTML = `<p class="note">${esc(err.message)}</p>`;
    }
    return;
  }
  if (state.selected !== id) return;
  tid("detail-title").textContent = `T${d.id} ${idText(d)}`;
  const sigma = (v, unit) => (v == null ? "—" : `${v.toFixed(0)} ${unit}`);
  const kinematics = domainOf(d) === SURFACE ? `
      <dt>MMSI</dt><dd data-testid="detail-mmsi">${d.mmsi ?? "—"}</dd>
      <dt>Call sign</dt><dd data-testid="detail-callsign">${esc(d.callsign) || "—"}</dd>
      <dt>Speed</dt><dd data-testid="detail-speed">${groundSpeedKt(d)} kn</dd>
      <dt>Course</dt><dd data-testid="detail-course">${courseDeg(d)}° (over ground)</dd>` : `
      <dt>Altitude</dt><dd>FL${flightLevel(d.alt)} (${d.alt ?? "—"} m ±${sigma(d.sigma_alt_m, "m")})</dd>
      <dt>Ground speed</dt><dd>${groundSpeedKt(d)} kt, track ${courseDeg(d)}°</dd>
      <dt>Vertical</dt><dd>${Math.round(d.vu * 196.85)} ft/min</dd>
      <dt>Squawk</dt><dd data-testid="detail-squawk">${esc(d.squawk) || "—"}</dd>
      <dt>Mode S</dt><dd>${esc(d.mode_s) || "—"}</dd>`;
  body.innerHTML = `
    <dl>
      <dt>Identity</dt><dd class="id-${esc(d.identity)}" data-testid="detail-identity">${esc(d.identity.replace("_", " "))}</dd>
      <dt>Position</dt><dd>${d.lat.toFixed(4)}, ${d.lon.toFixed(4)} (±${sigma(Math.max(d.sigma_east_m ?? 0, d.sigma_north_m ?? 0), "m")})</dd>${kinematics}
      <dt>Status</dt><dd>${esc(d.status)}, quality ${d.quality.toFixed(2)}</dd>
      <dt>Sensors</dt><dd data-testid="detail-sensors">${esc(d.sensor_kinds.map((k) => KIND_LABEL[k] || k.toUpperCase()).join(", ") || "—")}</dd>
      <dt>Partners</dt><dd data-testid="detail-partners">${esc(d.partners.join(", "))} (reported by ${esc(d.responsible)})</dd>
      <dt>Updated</dt><dd>${utc(d.time_s)} UTC</dd>
    </dl>
    <h4>Source tracks</h4>
    <ul>${d.source_tracks.map((s) => `<li>${esc(s.partner)} track ${s.track_id}</li>`).join("")}</ul>
    ${d.alert_details.length ? `<h4>Alerts</h4><ul>${d.alert_details.map((a) => `<li>${esc(a.id)} ${alertKindLabel(a.kind)}: ${esc(a.state)}</li>`).join("")}</ul>` : ""}
    <h4>Identity history</h4>
    <ul data-testid="detail-history">${d.identity_history.map((h) => `<li>${utc(h.time_s)} ${esc(h.identity.replace("_", " "))} — ${esc(h.by)} (${esc(h.reason)})</li>`).join("")}</ul>`;
  const override = tid("override");
  override.hidden = state.me?.role !== "operator";
  if (document.activeElement !== tid("identity-select")) tid("identity-select").value = d.identity;
}

tid("detail-close").addEventListener("click", () => {
  state.selected = null;
  tid("track-detail").hidden = true;
  mapReady.then(() => drawTracks());
  renderTrackTable();
});
tid("identity-apply").addEventListener("click", async () => {
  const id = state.selected;
  if (id == null) return;
  try {
    await api(`/api/tracks/${id}/identity`, { method: "POST", body: JSON.stringify({ identity: tid("identity-select").value }) });
  } catch (err) {
    tid("identity-apply").title = err.message;
  }
  loadDetail();
});

// ---------- replay ----------

const slider = tid("replay-slider");
function renderReplay() {
  const r = state.replay;
  slider.disabled = !r;
  if (!r) {
    tid("replay-time").textContent = "live";
    return;
  }
  slider.min = String(r.start_s);
  slider.max = String(r.end_s);
  if (document.activeElement !== slider) slider.value = String(r.time_s);
  tid("replay-time").textContent = `${utc(r.time_s)} / ${utc(r.end_s)} UTC`;
}
slider.addEventListener("change", () => {
  api("/api/replay/seek", { method: "POST", body: JSON.stringify({ time_s: Number(slider.value) }) }).catch(() => {});
});

// ---------- sign-in ----------

function showLogin() {
  tid("login-dialog").hidden = false;
  tid("login-name").focus();
}

let alertKindsRequest = null;
function loadAlertKinds() {
  alertKindsRequest ??= api("/api/alert-kinds").then((kinds) => {
    state.alertKinds = new Map(kinds.map((k) => [k.kind, k]));
    renderPanels();
  }).catch(() => { alertKindsRequest = null; });
}

function loadWaterway() {
  api("/api/layers/waterway").then((waterway) => {
    state.waterway = waterway;
    mapReady.then(drawStatic);
  }).catch(() => {});
}

function signedIn(me) {
  state.me = me;
  loadAlertKinds();
  loadWaterway();
  tid("login-dialog").hidden = true;
  tid("user").textContent = me.auth ? `${me.name} (${me.role})` : "no sign-in (local)";
  tid("logout").hidden = !me.auth;
  if (!state.socket) connect();
  renderPanels();
}

tid("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  tid("login-error").textContent = "";
  const response = await fetch("/api/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: tid("login-name").value, password: tid("login-password").value }),
  });
  if (!response.ok) {
    const wait = response.headers.get("Retry-After");
    tid("login-error").textContent = response.status === 429
      ? `Too many attempts: try again in ${wait || "a few"} s.`
      : `Wrong name or password.${wait ? ` Next try in ${wait} s.` : ""}`;
    return;
  }
  tid("login-password").value = "";
  signedIn(await response.json());
});

function signedOut() {
  const socket = state.socket;
  state.socket = null;
  socket?.close();
  state.me = null;
  tid("user").textContent = "not signed in";
  tid("logout").hidden = true;
  showLogin();
}

tid("logout").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST" }).catch(() => {});
  signedOut();
});

api("/api/me").then(signedIn).catch(() => {});
fetch("/api/sign-in", { credentials: "same-origin" })
  .then((response) => response.json())
  .then((options) => {
    tid("sso").hidden = !options.sso;
    for (const el of tid("login-form").querySelectorAll("label, button")) el.hidden = !options.password; // SSO only
  })
  .catch(() => {});

// ---------- test and benchmark hooks ----------

window.commonsky = {
  map,
  state,
  trackCount: () => state.tracks.size,
  messages: () => state.messages,
  lastMessageBytes: () => state.lastBytes,
  lastApplyMs: () => state.lastApplyMs,
  renderedCount: () => new Set(map.queryRenderedFeatures({ layers: ["tracks"] }).map((f) => f.properties.id)).size,
  rendered: () => [...new Map(map.queryRenderedFeatures({ layers: ["tracks"] }).map((f) => [f.properties.id, f.properties.icon]))].map(([id, icon]) => ({ id, icon })),
  idle: () => new Promise((resolve) => (map.loaded() && !map.isMoving() ? resolve(true) : map.once("idle", () => resolve(true)))),
  select,
};
