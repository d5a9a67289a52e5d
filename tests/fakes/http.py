"""A base for HTTP fakes: a `ThreadingHTTPServer` on a free loopback port, in a thread,
that applies injected faults before the fake's own handler answers."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.faults import Faults


class FakeHandler(BaseHTTPRequestHandler):
    """Subclasses implement `handle_request(method, path, headers, body) -> (status, headers, bytes)`."""

    protocol_version = "HTTP/1.1"
    fake: HttpFake  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fault = self.fake.faults.next()
        if fault and self._apply_fault(fault):
            return
        if self.fake.latency:  # the service's own time to answer (benchmarks)
            time.sleep(self.fake.latency)
        status, headers, payload = self.fake.handle_request(self.command, self.path, dict(self.headers), body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _apply_fault(self, kind: str) -> bool:
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.close_connection = True
            self.connection.close()
            return True
        if kind == "timeout":
            time.sleep(self.fake.faults.timeout_delay)
            self.close_connection = True
            return True
        status = int(kind)
        payload = json.dumps({"error": {"code": status, "message": f"injected {status}"}}).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", self.fake.faults.retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        return True

    # Looked up at call time, so a subclass that overrides `_serve` is honoured.
    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET


class HttpFake:
    """Start with `start()`; `url` is its base URL; `stop()` shuts it down."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.latency = 0.0  # seconds added to every answer
        self.requests: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    def handle_request(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict, bytes]:
        raise NotImplementedError

    def start(self) -> str:
        # TCP_NODELAY: headers and body leave in two writes, and with Nagle on the body
        # waits for the client's delayed ACK (~40 ms a request). A short poll interval
        # keeps stop() from waiting half a second.
        handler = type("Handler", (FakeHandler,), {"fake": self, "disable_nagle_algorithm": True})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @staticmethod
    def json_response(status: int, data: Any) -> tuple[int, dict, bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps(data).encode()
