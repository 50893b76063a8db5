"""serve_in_thread(app): an ASGI app behind real uvicorn and h11 on 127.0.0.1, in a thread.

The in-process TestClient never builds HTTP bytes, so it hides what only a socket shows:
h11 refusing a header value and dropping the connection. Tests that must see the wire
use this instead::

    with serve_in_thread(app) as base_url:
        httpx.get(f"{base_url}/client/api", params=...)
"""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve ``app`` as ``kvmcloud-server serve`` does (uvicorn, h11) until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, http="h11", lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
        sock.close()
