#!/bin/sh
# Vendors the web display's browser libraries (pinned npm packages: dist files + licence) and builds its offline basemap.
# Output, committed: src/commonsky/web/static/vendor/ and src/commonsky/web/static/basemap/. Needs npm and the venv's python.
set -eu
MAPLIBRE_VERSION=5.24.1
MILSYMBOL_VERSION=3.0.4
SWAGGER_UI_VERSION=5.35.0
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATIC="$ROOT/src/commonsky/web/static"
VENDOR="$STATIC/vendor"
BASEMAP_SRC=${BASEMAP_SRC:-/work/shared/data/basemap}
PYTHON=${PYTHON:-"$ROOT/.venv/bin/python"}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "maplibre-gl@$MAPLIBRE_VERSION" "milsymbol@$MILSYMBOL_VERSION" "swagger-ui-dist@$SWAGGER_UI_VERSION" >/dev/null
mkdir maplibre milsymbol swagger
tar -xzf "maplibre-gl-$MAPLIBRE_VERSION.tgz" -C maplibre --strip-components=1
tar -xzf "milsymbol-$MILSYMBOL_VERSION.tgz" -C milsymbol --strip-components=1
tar -xzf "swagger-ui-dist-$SWAGGER_UI_VERSION.tgz" -C swagger --strip-components=1

rm -rf "$VENDOR"
mkdir -p "$VENDOR/maplibre-gl" "$VENDOR/milsymbol" "$VENDOR/swagger-ui"
install -m 0644 maplibre/dist/maplibre-gl.js maplibre/dist/maplibre-gl.css maplibre/LICENSE.txt "$VENDOR/maplibre-gl/"
install -m 0644 milsymbol/dist/milsymbol.js milsymbol/LICENSE "$VENDOR/milsymbol/"
# The API docs page (/docs, signed-in users): Swagger UI served from here, no CDN.
install -m 0644 swagger/swagger-ui-bundle.js swagger/swagger-ui.css swagger/LICENSE "$VENDOR/swagger-ui/"
cat > "$VENDOR/VERSIONS" <<VERSIONS
maplibre-gl $MAPLIBRE_VERSION (BSD-3-Clause) https://registry.npmjs.org/maplibre-gl/-/maplibre-gl-$MAPLIBRE_VERSION.tgz
milsymbol $MILSYMBOL_VERSION (MIT) https://registry.npmjs.org/milsymbol/-/milsymbol-$MILSYMBOL_VERSION.tgz
swagger-ui-dist $SWAGGER_UI_VERSION (Apache-2.0) https://registry.npmjs.org/swagger-ui-dist/-/swagger-ui-dist-$SWAGGER_UI_VERSION.tgz
Written by scripts/vendor_web.sh; do not edit by hand.
VERSIONS

# Basemap: Natural Earth 1:50m countries (public domain, via world-atlas, ISC), clipped to Europe and its
# surroundings, coordinates rounded to 0.01 deg (about 1 km) with repeated points dropped.
"$PYTHON" - "$BASEMAP_SRC/countries-50m.geojson" "$STATIC/basemap/countries.geojson" <<'PY'
import json
import sys
from pathlib import Path

WEST, SOUTH, EAST, NORTH = -32.0, 26.0, 50.0, 72.0


def ring(points: list[list[float]]) -> list[list[float]]:
    out: list[list[float]] = []
    for lon, lat in points:
        p = [round(lon, 2), round(lat, 2)]
        if not out or p != out[-1]:
            out.append(p)
    if out[0] != out[-1]:
        out.append(out[0])
    return out


def inside(polygon: list[list[list[float]]]) -> bool:
    lons = [p[0] for p in polygon[0]]
    lats = [p[1] for p in polygon[0]]
    return max(lons) >= WEST and min(lons) <= EAST and max(lats) >= SOUTH and min(lats) <= NORTH


source, target = sys.argv[1], sys.argv[2]
features = []
for f in json.loads(Path(source).read_text())["features"]:
    g = f["geometry"]
    polygons = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
    kept = [[ring(r) for r in poly] for poly in polygons if inside(poly)]
    kept = [[r for r in poly if len(r) >= 4] for poly in kept]
    kept = [poly for poly in kept if poly]
    if kept:
        geometry = {"type": "MultiPolygon", "coordinates": kept}
        features.append({"type": "Feature", "properties": {"name": f["properties"]["name"]}, "geometry": geometry})
text = json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":"))
Path(target).write_text(text + "\n")
print(f"basemap: {len(features)} countries, {len(text) / 1e6:.2f} MB -> {target}")
PY
install -m 0644 "$BASEMAP_SRC/world-atlas.LICENSE.txt" "$STATIC/basemap/world-atlas.LICENSE.txt"
ls -l "$VENDOR"/* "$STATIC/basemap"
