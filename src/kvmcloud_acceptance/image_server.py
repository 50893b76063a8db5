"""A tiny bootable RAW disk served over HTTP on 127.0.0.1, for clouds without a template URL."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar

SECTOR_BYTES = 512
IMAGE_BYTES = 1024 * 1024

# 16-bit real mode at 0000:7C00: `cli; hlt; jmp $-1` (halts quietly), then the MBR signature.
BOOT_CODE = bytes([0xFA, 0xF4, 0xEB, 0xFD])


def boot_image() -> bytes:
    """Return a 1 MiB disk whose first sector boots and halts."""
    sector = BOOT_CODE.ljust(SECTOR_BYTES - 2, b"\x00") + b"\x55\xaa"
    return sector.ljust(IMAGE_BYTES, b"\x00")


class _Handler(BaseHTTPRequestHandler):
    image: ClassVar[bytes] = b""

    def do_HEAD(self) -> None:
        self._headers()

    def do_GET(self) -> None:
        self._headers()
        self.wfile.write(self.image)

    def _headers(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(self.image)))
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output clean."""


class ImageServer:
    """Serves ``boot_image()`` at ``url`` while the context is open."""

    def __init__(self) -> None:
        image = boot_image()
        handler = type("ImageHandler", (_Handler,), {"image": image})
        self.sha256 = hashlib.sha256(image).hexdigest()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/acceptance.raw"

    def __enter__(self) -> "ImageServer":
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
