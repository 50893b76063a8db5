"""Loopback origins for the benchmark: nginx (sendfile) when installed, else a Python one."""

import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from tests.support.processes import free_port

START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 15.0
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_SENDFILE_CHUNK = 8 * 1024 * 1024


@dataclass
class Transfer:
    """One GET the origin answered, from its access log."""

    port: int
    uri: str
    status: int
    body_bytes: int


@dataclass
class Tls:
    """A private CA and a certificate for 127.0.0.1, as files."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, directory: Path) -> "Tls":
        ca = trustme.CA()
        leaf = ca.issue_cert("127.0.0.1", "localhost")
        directory.mkdir(parents=True, exist_ok=True)
        tls = cls(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
        ca.cert_pem.write_to_path(str(tls.ca_file))
        leaf.cert_chain_pems[0].write_to_path(str(tls.cert_file))
        for extra in leaf.cert_chain_pems[1:]:
            with tls.cert_file.open("ab") as chain:
                chain.write(extra.bytes())
        leaf.private_key_pem.write_to_path(str(tls.key_file))
        return tls


@dataclass
class Origin:
    """What the benchmark needs from an origin: ports, URLs and the transfers made."""

    root: Path
    tls: Tls
    slow_rate_bytes_s: int
    kind: str = ""
    plain_port: int = 0
    tls_port: int = 0
    slow_port: int = 0
    _process: subprocess.Popen[bytes] | None = None
    _python: list["_PythonServer"] = field(default_factory=list)
    _log: Path | None = None

    def url(self, path: str, *, port: int | None = None, https: bool = False) -> str:
        scheme = "https" if https else "http"
        chosen = port if port is not None else (self.tls_port if https else self.plain_port)
        return f"{scheme}://127.0.0.1:{chosen}/{path.lstrip('/')}"

    def transfers(self) -> list[Transfer]:
        """Every GET answered so far (all servers of this origin)."""
        if self._log is not None:
            rows = []
            text = self._log.read_text() if self._log.exists() else ""
            for line in text.splitlines():
                port, method, uri, status, sent = line.split(" ")
                if method == "GET":
                    rows.append(Transfer(int(port), uri, int(status), int(sent)))
            return rows
        return [row for server in self._python for row in server.log]

    def start(self, work: Path) -> "Origin":
        nginx = shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None
        )
        self.plain_port, self.tls_port, self.slow_port = free_port(), free_port(), free_port()
        if nginx is not None:
            self._start_nginx(nginx, work)
        else:
            self._start_python()
        return self

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            # Only our own process, by its PID: SIGQUIT lets nginx finish and exit.
            self._process.terminate()
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(STOP_TIMEOUT_S)
        for server in self._python:
            server.shutdown()
            server.server_close()

    def _start_nginx(self, nginx: str, work: Path) -> None:
        self.kind = "nginx (sendfile on, 1 worker)"
        conf_dir = work / "nginx"
        conf_dir.mkdir(parents=True, exist_ok=True)
        self._log = conf_dir / "access.log"
        self._log.unlink(missing_ok=True)
        temp = conf_dir / "tmp"
        temp.mkdir(exist_ok=True)
        # The workers may run as nobody: everything they read must be world-readable.
        for path in (work, self.root, conf_dir, temp):
            path.chmod(0o755)
        user = "user root;" if os.geteuid() == 0 else ""
        conf = f"""
{user}
worker_processes 1;
daemon off;
pid {conf_dir}/nginx.pid;
error_log {conf_dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    types {{ application/metalink4+xml meta4; }}
    default_type application/octet-stream;
    log_format bench '$server_port $request_method $request_uri $status $body_bytes_sent';
    access_log {self._log} bench;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 5;
    server {{ listen 127.0.0.1:{self.plain_port}; root {self.root}; }}
    server {{
        listen 127.0.0.1:{self.tls_port} ssl;
        ssl_certificate {self.tls.cert_file};
        ssl_certificate_key {self.tls.key_file};
        root {self.root};
    }}
    server {{
        listen 127.0.0.1:{self.slow_port};
        root {self.root};
        limit_rate {self.slow_rate_bytes_s};
    }}
}}
"""
        conf_file = conf_dir / "nginx.conf"
        conf_file.write_text(conf)
        self._process = subprocess.Popen(
            [nginx, "-c", str(conf_file), "-p", str(conf_dir)],
            stdout=subprocess.DEVNULL,
            stderr=(conf_dir / "stderr.log").open("wb"),
        )
        _wait_for_ports(
            self._process, (self.plain_port, self.tls_port, self.slow_port), conf_dir / "stderr.log"
        )

    def _start_python(self) -> None:
        self.kind = "Python (os.sendfile, threads): nginx is not installed"
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
        for port, tls, rate in (
            (self.plain_port, None, None),
            (self.tls_port, context, None),
            (self.slow_port, None, self.slow_rate_bytes_s),
        ):
            server = PythonOrigin(self.root, port=port, tls=tls, rate_bytes_s=rate)
            self._python.append(server)
            threading.Thread(target=server.serve_forever, daemon=True).start()


def _wait_for_ports(process: subprocess.Popen[bytes], ports: tuple[int, ...], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text(errors='replace')}")
        if all(_listening(port) for port in ports):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen within {START_TIMEOUT_S} s")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class _PythonServer(ThreadingHTTPServer):
    daemon_threads = True
    log: list[Transfer]


class PythonOrigin(_PythonServer):
    """A small, fast file origin: GET/HEAD, Range, ETag, os.sendfile, optional faults.

    ``break_after[uri] = n``: the next GET of ``uri`` sends n body bytes and closes.
    ``rate_bytes_s``: each response is paced to this rate (a slow mirror).
    """

    def __init__(
        self,
        root: Path,
        *,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        rate_bytes_s: int | None = None,
    ) -> None:
        self.root = root
        self.tls = tls
        self.rate_bytes_s = rate_bytes_s
        self.break_after: dict[str, int] = {}
        self.log = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, address

    def bytes_sent(self, uri: str) -> int:
        with self.lock:
            return sum(row.body_bytes for row in self.log if row.uri == uri)


class _Handler(BaseHTTPRequestHandler):
    server: PythonOrigin
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        uri = self.path.split("?", 1)[0]
        path = (self.server.root / uri.lstrip("/")).resolve()
        if self.server.root.resolve() not in path.parents or not path.is_file():
            self.send_error(404)
            return
        stat = path.stat()
        size = stat.st_size
        etag = f'"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{size:x}"'
        start, end, status = 0, size - 1, 200
        match = _RANGE.match(self.headers.get("Range", ""))
        if_range = self.headers.get("If-Range")
        if match and (if_range is None or if_range == etag):
            first, last = match.groups()
            if first:
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
            elif last:
                start = max(0, size - int(last))
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        length = end - start + 1
        self.send_response(status)
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", formatdate(stat.st_mtime, usegmt=True))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        media = "application/metalink4+xml" if uri.endswith(".meta4") else None
        self.send_header("Content-Type", media or "application/octet-stream")
        self.end_headers()
        if not body:
            return
        with self.server.lock:
            limit = self.server.break_after.pop(uri, None)
        if limit is not None:
            length = min(length, limit)
            self.close_connection = True
        sent = 0
        try:
            sent = self._send_file(path, start, length)
        finally:
            with self.server.lock:
                self.server.log.append(Transfer(self.server.port, self.path, status, sent))

    def _send_file(self, path: Path, start: int, length: int) -> int:
        self.wfile.flush()
        sent = 0
        rate = self.server.rate_bytes_s
        began = time.monotonic()
        chunk = _SENDFILE_CHUNK if rate is None else max(65536, rate // 50)
        with path.open("rb") as source:
            # Bounded: every pass sends at least one byte or stops.
            while sent < length:
                count = min(chunk, length - sent)
                if isinstance(self.connection, ssl.SSLSocket):
                    source.seek(start + sent)
                    done = self.connection.send(source.read(count))
                else:
                    done = os.sendfile(
                        self.connection.fileno(), source.fileno(), start + sent, count
                    )
                if done <= 0:
                    break
                sent += done
                if rate is not None:
                    ahead_s = sent / rate - (time.monotonic() - began)
                    if ahead_s > 0:
                        time.sleep(ahead_s)
        return sent
