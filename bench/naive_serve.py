"""`python -m bench.naive_serve PORT`: the naive baseline over HTTP, on Chalice's own local
server (the same HTTP stack as `chalice local`, threaded), for `make bench`."""

from __future__ import annotations

import sys

from chalice.config import Config
from chalice.local import create_local_server

from bench.naive_app import app

if __name__ == "__main__":
    server = create_local_server(
        app, Config.create(chalice_stage="dev", app_name="naive"), "127.0.0.1", int(sys.argv[1])
    )
    server.serve_forever()
