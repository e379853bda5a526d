#!/usr/bin/env python3
"""Write a nats-server config and one creds file per partner for a coalition, without starting it.

    .venv/bin/python scripts/nats_config.py DIR [--coalition FILE] [--host 127.0.0.1] [--port 4222]

DIR receives nats-server.conf (users, subject permissions, JetStream store DIR/jetstream),
creds/<partner>.json and coalition.json; run `nats-server -c DIR/nats-server.conf` yourself, or
use scripts/nats_server.sh, which does this and starts the server. The coalition file is TOML or
JSON: `partners = [...]` and optionally `[receives_from] importer = [senders]` (default: all to
all); a scenario file such as examples/border3.toml works too. Formats: see
commonsky.network.transport.natsconfig.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from commonsky.network.transport.natsconfig import DEFAULT_COALITION, Coalition, write_server_files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--coalition", type=Path, help="TOML/JSON coalition or scenario file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4222)
    args = parser.parse_args()
    coalition = Coalition.load(args.coalition) if args.coalition else DEFAULT_COALITION
    files = write_server_files(args.directory, coalition, host=args.host, port=args.port)
    print(f"config {files.config}")
    for partner, path in files.creds.items():
        print(f"creds  {partner}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
