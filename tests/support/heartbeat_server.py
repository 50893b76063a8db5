"""HeartbeatServer: a stand-in management server on loopback that collects agent heartbeats.

In tests::

    with HeartbeatServer.running(trust) as server:
        ...  # enrol an agent with server_url=server.url
        beat = server.beats.get(timeout=5)
        inventory = server.next_inventory(10)
"""

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.trust import TestTrust


class HeartbeatServer(ThreadingHTTPServer):
    """Answers every POST with ``{"interval_s": 1}`` and queues the decoded bodies.

    It speaks mutual TLS like the server's agent listener: its certificate is the test
    server's, and clients must present a certificate from the test CA.
    """

    daemon_threads = True

    def __init__(self, trust: TestTrust) -> None:
        super().__init__(("127.0.0.1", 0), _HeartbeatHandler)
        self.socket = trust.pki.server_context().wrap_socket(self.socket, server_side=True)
        self.beats: queue.Queue[dict[str, Any]] = queue.Queue()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def next_inventory(self, timeout_s: float) -> list[dict[str, Any]]:
        """Return the pool_inventory of the next heartbeat that carries one."""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                beat = self.beats.get(timeout=remaining)
            except queue.Empty:
                break
            if beat.get("pool_inventory"):
                return list(beat["pool_inventory"])
        raise AssertionError(f"no heartbeat with a pool inventory within {timeout_s} s")

    @classmethod
    @contextmanager
    def running(cls, trust: TestTrust) -> Iterator["HeartbeatServer"]:
        """Serve in a background thread until the block ends."""
        server = cls(trust)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            thread.join(5)
            server.server_close()


class _HeartbeatHandler(BaseHTTPRequestHandler):
    server: HeartbeatServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.beats.put(json.loads(self.rfile.read(length)))
        body = b'{"interval_s": 1}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass
