"""Simulated hosts for make bench-scale: enrolled by the real addHost, beating over mutual TLS.

All simulated hosts share one bootstrap key (its certificate is what the enrolment token
pins), each has its own port on 127.0.0.1 while addHost enrols it (the server records one
host per agent URL), and, once enrolled, the certificate the server's CA issued for it.
Beats go as a real agent sends them: over one mutual-TLS connection per host, kept open
between beats (the agent keeps it ``AGENT_KEEPALIVE_S``, the server's listener a little
longer) and opened again only when the server closed it, the beat then sent once more as the
agent does; the host's uuid and key in the headers (``bench.heartbeat_cost.beat_headers``),
a ``Heartbeat`` body.
"""

import asyncio
import http.client
import json
import secrets
import select
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.heartbeat_cost import beat_headers
from kvmcloud import pki
from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.agent_messages import AGENT_KEEPALIVE_S

ENROL_READ_TIMEOUT_S = 30.0
BEAT_TIMEOUT_S = 30.0
MAX_REQUEST_BYTES = 1024 * 1024
# The simulated hosts' enrolment ports: 20,000 hosts fit between these.
FIRST_PORT = 20000
LAST_PORT = 65535
# What a beat on a connection the server closed just then fails with (the agent's
# STALE_CONNECTION_ERRORS, as http.client raises them).
STALE_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass
class SimHost:
    """One enrolled simulated host: what it needs to beat."""

    number: int
    uuid: str
    key: str
    server_url: str
    certificate_pem: str
    body: bytes = b""
    _context: ssl.SSLContext | None = field(default=None, repr=False)
    # The kept-alive connection, and when it was last used (monotonic).
    _connection: http.client.HTTPSConnection | None = field(default=None, repr=False)
    _used_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Fleet:
    """The simulated hosts: the shared bootstrap identity, enrolment listeners, beats."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.key_pem = pki.new_key_pem()
        self.bootstrap_pem = pki.self_signed(self.key_pem, datetime.now(UTC))
        self.secret = secrets.token_urlsafe(24)
        self.token = f"{self.secret}.{pki.fingerprint(self.bootstrap_pem)}"
        self.hosts: list[SimHost] = []
        self._next_port = FIRST_PORT
        self._lock = threading.Lock()
        self.connections_opened = 0
        self._key_file = work / "sim-key.pem"
        self._key_file.write_text(self.key_pem)
        bootstrap_file = work / "sim-bootstrap.pem"
        bootstrap_file.write_text(self.bootstrap_pem)
        self._server_context = pki.tls_context(server=True)
        self._server_context.load_cert_chain(bootstrap_file, self._key_file)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.close_connections()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    # --- enrolment ---------------------------------------------------------------------------

    def open_ports(self, count: int) -> tuple[list[int], Callable[[], None]]:
        """Listen on ``count`` new ports of 127.0.0.1; return them and how to close them."""
        future = asyncio.run_coroutine_threadsafe(self._open(count), self._loop)
        servers = future.result(timeout=120)
        ports = [int(server.sockets[0].getsockname()[1]) for server in servers]

        def close() -> None:
            async def shut() -> None:
                for server in servers:
                    server.close()

            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(timeout=60)

        return ports, close

    async def _open(self, count: int) -> list[asyncio.Server]:
        # Ports are taken in increasing order, never twice: an agent URL an earlier batch
        # used is taken (addHost refuses it), and the kernel's bind(0) hands recently
        # closed ports out again. A port in use by something else is skipped.
        servers: list[asyncio.Server] = []
        while len(servers) < count:
            if self._next_port > LAST_PORT:
                raise RuntimeError(f"no ports left on 127.0.0.1 above {FIRST_PORT}")
            port, self._next_port = self._next_port, self._next_port + 1
            try:
                server = await asyncio.start_server(
                    self._answer, "127.0.0.1", port, ssl=self._server_context, backlog=8
                )
            except OSError:
                continue
            servers.append(server)
        return servers

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one HTTP request as an agent does: POST /enroll, else 404."""
        try:
            async with asyncio.timeout(ENROL_READ_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in lines[1:] if line)
                }
                length = min(int(headers.get("content-length", "0")), MAX_REQUEST_BYTES)
                body = await reader.readexactly(length)
            status, reply = self._route(lines[0], headers, body)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(reply)}\r\nConnection: close\r\n\r\n".encode()
                + reply
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    def _route(self, request_line: str, headers: dict[str, str], body: bytes) -> tuple[str, bytes]:
        if not request_line.startswith("POST /enroll "):
            return "404 Not Found", b'{"error": "a simulated host only enrols"}'
        if headers.get("authorization") != f"Bearer {self.secret}":
            return "403 Forbidden", b'{"error": "wrong enrolment token"}'
        request = msg.from_json(msg.EnrollRequest, body)
        with self._lock:
            number = len(self.hosts)
            host = SimHost(
                number=number,
                uuid=request.host_uuid,
                key=request.host_key,
                server_url=request.server_url,
                certificate_pem=request.certificate_pem + request.ca_pem,
            )
            host.body = msg.to_json(
                msg.Heartbeat(
                    host_uuid=host.uuid,
                    report=report(number),
                    vm_states={},
                    certificates={},
                )
            ).encode()
            self.hosts.append(host)
        return "200 OK", msg.to_json(report(number)).encode()

    # --- heartbeats ----------------------------------------------------------------------------

    def context(self, host: SimHost) -> ssl.SSLContext:
        """The host's client context: its issued certificate, trusting the server's CA."""
        if host._context is None:
            context = pki.tls_context(server=False)
            # The issued certificate is written then loaded: ssl takes files only.
            with tempfile.NamedTemporaryFile("w", dir=self.work, suffix=".pem") as cert:
                cert.write(host.certificate_pem)
                cert.flush()
                context.load_cert_chain(cert.name, self._key_file)
                context.load_verify_locations(cafile=cert.name)
            # The CA certificate is appended to the host's: trust it, not the leaf's name.
            context.check_hostname = False
            host._context = context
        return host._context

    def beat(self, host: SimHost) -> float:
        """Send one heartbeat on the host's kept-alive connection; return the reply's interval.

        As the agent: a connection idle past ``AGENT_KEEPALIVE_S`` is closed first; one the
        server closed is seen before the send (the socket reads as closed) or fails it, and
        the beat goes once more on a new connection.
        """
        with host._lock:
            now = time.monotonic()
            if host._connection is not None and now - host._used_at > AGENT_KEEPALIVE_S:
                self._drop(host)
            if host._connection is not None and _closed_by_peer(host._connection):
                self._drop(host)
            try:
                text = self._post(host)
            except STALE_ERRORS:
                self._drop(host)
                text = self._post(host)
            host._used_at = time.monotonic()
        return float(json.loads(text)["interval_s"])

    def _post(self, host: SimHost) -> bytes:
        connection = host._connection
        if connection is None:
            server = host.server_url.removeprefix("https://").rstrip("/")
            address, _, port = server.rpartition(":")
            connection = http.client.HTTPSConnection(
                address, int(port), context=self.context(host), timeout=BEAT_TIMEOUT_S
            )
            host._connection = connection
            with self._lock:
                self.connections_opened += 1
        try:
            connection.request(
                "POST",
                "/agent/v1/heartbeat",
                body=host.body,
                headers=beat_headers(host.uuid, host.key),
            )
            response = connection.getresponse()
            text = response.read()
        except BaseException:
            self._drop(host)
            raise
        if response.will_close:
            self._drop(host)
        if response.status != 200:
            raise RuntimeError(f"heartbeat refused: {response.status} {text[:200]!r}")
        return text

    def _drop(self, host: SimHost) -> None:
        if host._connection is not None:
            host._connection.close()
            host._connection = None

    def close_connections(self) -> None:
        """Close every host's kept-alive connection (bounded by the number of hosts)."""
        for host in list(self.hosts):
            with host._lock:
                self._drop(host)


def _closed_by_peer(connection: http.client.HTTPSConnection) -> bool:
    """Tell whether an idle connection's socket reads as closed (httpcore checks the same)."""
    sock = connection.sock
    if sock is None:
        return True
    # poll, not select: a fleet's sockets have descriptors above select's 1,024.
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


def report(number: int) -> msg.HostReport:
    """What simulated host ``number`` reports about itself."""
    return msg.HostReport(
        hostname=f"sim{number:05d}",
        agent_version="bench-scale",
        cpu_count=16,
        cpu_mhz=2400,
        memory_bytes=64 * 1024**3,
        hypervisor_version="8.0.0",
        kvm_available=True,
    )


@dataclass
class BeatStats:
    """What the sender saw during one window."""

    sent: int = 0
    failed: int = 0
    late: int = 0
    errors: list[str] = field(default_factory=list)


def run_beats(
    fleet: Fleet, hosts: list[SimHost], interval_s: float, duration_s: float, threads: int
) -> BeatStats:
    """Beat every host once per ``interval_s`` (spread evenly) for ``duration_s``.

    Host i beats at offset ``i / N × interval`` within each interval, as agents started at
    random times do. Each thread takes every ``threads``-th beat of the schedule; a beat
    more than one interval behind its slot is counted late (the sender could not keep up).
    """
    stats = BeatStats()
    lock = threading.Lock()
    started = time.monotonic()
    count = max(1, int(duration_s / interval_s * len(hosts)))

    def worker(offset: int) -> None:
        for index in range(offset, count, threads):
            due = started + index * interval_s / len(hosts)
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif -delay > interval_s:
                with lock:
                    stats.late += 1
            try:
                fleet.beat(hosts[index % len(hosts)])
                with lock:
                    stats.sent += 1
            except Exception as exc:  # counted, never a silently dead sender thread
                with lock:
                    stats.failed += 1
                    if len(stats.errors) < 5:
                        stats.errors.append(str(exc))

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=duration_s + 10 * BEAT_TIMEOUT_S)
    return stats
