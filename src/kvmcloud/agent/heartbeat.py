"""HeartbeatLoop: a thread that tells the server this host is alive, at its pace."""

import logging
import threading
import time
from collections.abc import Callable

import httpx

from kvmcloud.agent.certificates import CertificateStoreError
from kvmcloud.agent.enrollment import Enrollment
from kvmcloud.agent.vms.errors import VmError
from kvmcloud.protocol.agent_messages import (
    AUTHORIZATION_SCHEME,
    HOST_UUID_HEADER,
    MAX_HEARTBEAT_INTERVAL_S,
    Heartbeat,
    HeartbeatReply,
    HostReport,
    MessageFormatError,
    PoolHealth,
    PoolInventory,
    VmPowerState,
    from_json,
    to_json,
)

logger = logging.getLogger(__name__)

HEARTBEAT_PATH = "/agent/v1/heartbeat"
INITIAL_INTERVAL_S = 10.0
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = MAX_HEARTBEAT_INTERVAL_S
STOP_TIMEOUT_S = 10.0
# Until its first heartbeat is accepted, the loop retries this soon, this many times: addHost
# records the host (and its key) only after the agent answered the enrolment, so a first
# beat sent at once may be refused (401) for a few milliseconds. Waiting the full interval
# then left a new host unreported for 10 s, long enough to be marked Disconnected.
FIRST_RETRY_S = 0.5
FIRST_RETRIES = 10
# Pool listings go out with the first heartbeat and then this often: a directory listing
# per pool is cheap, but not at every beat, and a missing file is rare news.
INVENTORY_INTERVAL_S = 600.0
# Longest a heartbeat waits for the pool listing: a hung shared mount must delay the
# inventory, never the heartbeat (a host without heartbeats is marked Down).
INVENTORY_TIMEOUT_S = 5.0
# What a request on a pooled connection the server has just closed fails with: the send or
# the read of the answer, never the connect (httpx closes a failed connection).
STALE_CONNECTION_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
# The kept-alive connection is closed after a beat this often, so a renewed certificate
# is the one presented (TLS checks certificates at the handshake only).
RECONNECT_EVERY_S = 3600.0
# How often the pools are checked for the server (each check bounded, see PoolKeeper).
POOL_CHECK_INTERVAL_S = 60.0


def clamp_interval_s(interval_s: float) -> float:
    """Keep the server's requested interval within [1, 300] seconds."""
    return min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, interval_s))


def retry_in_s(interval_s: float, *, accepted_once: bool, failures: int) -> float:
    """How long to wait after a failed heartbeat (see FIRST_RETRY_S)."""
    if not accepted_once and failures <= FIRST_RETRIES:
        return min(interval_s, FIRST_RETRY_S)
    return interval_s


def no_vm_states() -> dict[str, VmPowerState]:
    """Report no VMs: for agents built without a hypervisor."""
    return {}


def no_certificates() -> dict[str, str]:
    """Report no certificates: for agents built without a certificate store."""
    return {}


def no_pool_inventory() -> list[PoolInventory]:
    """Report no pools: for agents built without a PoolKeeper."""
    return []


def no_pool_health() -> list[PoolHealth]:
    """Check no pools: for agents built without a PoolKeeper."""
    return []


class HeartbeatError(Exception):
    """A heartbeat was not accepted; the loop logs it and tries again next interval."""


class HeartbeatLoop:
    """Sends a heartbeat now and then every ``interval_s`` the server asks for.

    Failures are logged and retried at the next interval: a server restart must not
    require restarting agents. ``stop()`` ends the thread; with ``final=True`` it then
    sends one last heartbeat saying the agent is shutting down.

    Each heartbeat carries the state of every kvmcloud VM (``vm_states``). When libvirt
    cannot answer, the heartbeat still goes out, with no VMs: the host being alive matters
    more; the problem is logged when it starts, changes and ends, not at every beat. The
    certificates of the HTTPS trust store (``certificates``: alias → SHA-256) are reported
    the same way, None when the store cannot be read.

    The first heartbeat that reaches the server, and then one every
    ``inventory_interval_s``, also lists the pools (``pool_inventory``); a refused or
    unsent one is listed afresh at the next beat. The final heartbeat never carries it.
    The listing runs on its own thread, waited for at most ``inventory_timeout_s``: past
    that the beat goes without it, and no new listing starts until the stuck one ends.

    Every ``pool_check_interval_s`` the pools are checked (``pool_health``) on another
    thread the beat never waits for: the results go out with the next beat after they
    are ready, and no new check starts while one still runs (a hung mount).
    """

    def __init__(
        self,
        *,
        enrollment: Enrollment,
        client: httpx.Client,
        report: Callable[[], HostReport],
        vm_states: Callable[[], dict[str, VmPowerState]] = no_vm_states,
        certificates: Callable[[], dict[str, str]] = no_certificates,
        pool_inventory: Callable[[], list[PoolInventory]] = no_pool_inventory,
        initial_interval_s: float = INITIAL_INTERVAL_S,
        inventory_interval_s: float = INVENTORY_INTERVAL_S,
        inventory_timeout_s: float = INVENTORY_TIMEOUT_S,
        pool_health: Callable[[], list[PoolHealth]] = no_pool_health,
        pool_check_interval_s: float = POOL_CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.enrollment = enrollment
        self._client = client
        self._report = report
        self._vm_states = vm_states
        self._vm_states_problem: str | None = None
        self._certificates = certificates
        self._certificates_problem: str | None = None
        self._pool_inventory = pool_inventory
        self._inventory_interval_s = inventory_interval_s
        self._inventory_timeout_s = inventory_timeout_s
        self._inventory_sent_at: float | None = None
        self._inventory_thread: threading.Thread | None = None
        self._pool_health = pool_health
        self._pool_check_interval_s = pool_check_interval_s
        self._pool_check_started_at: float | None = None
        self._pool_check_thread: threading.Thread | None = None
        self._health_lock = threading.Lock()
        self._health_ready: list[PoolHealth] = []
        self._clock = clock
        self._connection_since = clock()
        self._interval_s = clamp_interval_s(initial_interval_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def start(self) -> None:
        """Start the thread (the first heartbeat goes out at once)."""
        self._thread.start()

    def stop(self, *, final: bool = False, wait: bool = True) -> None:
        """Stop the thread; with ``final`` send a last heartbeat marked shutting down.

        ``wait=False`` only asks the thread to end (after any heartbeat in flight).
        """
        self._stop.set()
        if (wait or final) and self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT_S)
        if final:
            try:
                self.send(shutting_down=True)
            except HeartbeatError as exc:
                logger.warning("final heartbeat failed: %s", exc)

    def send(self, *, shutting_down: bool = False) -> float:
        """Send one heartbeat and return the interval the server wants next.

        Raises:
            HeartbeatError: the server could not be reached or refused the heartbeat.
        """
        inventory = None
        if not shutting_down and self._inventory_due():
            inventory = self._collect_inventory()
        heartbeat = Heartbeat(
            host_uuid=self.enrollment.host_uuid,
            report=self._report(),
            shutting_down=shutting_down,
            vm_states=self._collect_vm_states(),
            certificates=self._collect_certificates(),
            pool_inventory=inventory or [],
            pool_health=[] if shutting_down else self._take_pool_health(),
        )
        url = self.enrollment.server_url.rstrip("/") + HEARTBEAT_PATH
        try:
            response = self._post(url, to_json(heartbeat))
        except httpx.HTTPError as exc:
            raise HeartbeatError(f"cannot reach {url}: {exc}") from exc
        if response.status_code != 200:
            raise HeartbeatError(
                f"HTTP {response.status_code} {response.reason_phrase} from {url}: "
                f"{response.text[:200]}"
            )
        try:
            reply = from_json(HeartbeatReply, response.content)
        except MessageFormatError as exc:
            raise HeartbeatError(f"unexpected heartbeat reply from {url}: {exc}") from exc
        if inventory is not None:
            self._inventory_sent_at = self._clock()
        return clamp_interval_s(reply.interval_s)

    def _post(self, url: str, body: str) -> httpx.Response:
        headers = {
            "Authorization": f"{AUTHORIZATION_SCHEME} {self.enrollment.host_key}",
            HOST_UUID_HEADER: self.enrollment.host_uuid,
            "Content-Type": "application/json",
        }
        now = self._clock()
        if now - self._connection_since >= RECONNECT_EVERY_S:
            headers["Connection"] = "close"
            self._connection_since = now
        try:
            return self._client.post(url, content=body, headers=headers)
        except STALE_CONNECTION_ERRORS as exc:
            # The beat went out on a kept-alive connection the server closed as it was sent
            # (a restart, an idle timeout): a server that closed it earlier is seen before
            # the send, and a new connection taken. Once more, on a new connection; a beat
            # is safe to repeat. A timeout is not retried: the server may be hung.
            logger.info("heartbeat connection was closed (%s): sending again", exc)
            return self._client.post(url, content=body, headers=headers)

    def _collect_inventory(self) -> list[PoolInventory] | None:
        """Return the pool listing, or None if it is not ready in time (or failed)."""
        previous = self._inventory_thread
        if previous is not None and previous.is_alive():
            return None  # still stuck since an earlier beat: never pile up threads
        result: list[list[PoolInventory]] = []

        def collect() -> None:
            try:
                result.append(self._pool_inventory())
            except Exception:
                # The thread's own catch-all: a bug here must cost the inventory only.
                logger.exception("listing the pools failed unexpectedly")

        thread = threading.Thread(target=collect, name="pool-inventory", daemon=True)
        self._inventory_thread = thread
        thread.start()
        thread.join(self._inventory_timeout_s)
        if result:
            return result[0]
        if thread.is_alive():
            logger.warning(
                "listing the pools takes over %g s (a hung mount?): heartbeat sent without it",
                self._inventory_timeout_s,
            )
        return None

    def _take_pool_health(self) -> list[PoolHealth]:
        """Return the pool checks finished since the last beat; start the next when due."""
        with self._health_lock:
            ready, self._health_ready = self._health_ready, []
        running = self._pool_check_thread
        started = self._pool_check_started_at
        due = started is None or self._clock() - started >= self._pool_check_interval_s
        if due and (running is None or not running.is_alive()):

            def check() -> None:
                try:
                    results = self._pool_health()
                except Exception:
                    logger.exception("checking the pools failed unexpectedly")
                    return
                with self._health_lock:
                    self._health_ready = results

            thread = threading.Thread(target=check, name="pool-check", daemon=True)
            self._pool_check_thread = thread
            self._pool_check_started_at = self._clock()
            thread.start()
        return ready

    def _inventory_due(self) -> bool:
        sent_at = self._inventory_sent_at
        return sent_at is None or self._clock() - sent_at >= self._inventory_interval_s

    def _collect_vm_states(self) -> dict[str, VmPowerState] | None:
        try:
            states = self._vm_states()
        except VmError as exc:
            problem = str(exc)
            if problem != self._vm_states_problem:
                logger.warning("cannot read VM states, reporting them unknown: %s", problem)
            self._vm_states_problem = problem
            return None
        if self._vm_states_problem is not None:
            logger.info("VM states readable again")
            self._vm_states_problem = None
        return states

    def _collect_certificates(self) -> dict[str, str] | None:
        try:
            certificates = self._certificates()
        except CertificateStoreError as exc:
            problem = str(exc)
            if problem != self._certificates_problem:
                logger.warning("cannot read certificates, reporting them unknown: %s", problem)
            self._certificates_problem = problem
            return None
        if self._certificates_problem is not None:
            logger.info("certificates readable again")
            self._certificates_problem = None
        return certificates

    def _loop(self) -> None:
        # Bounded by the stop event: every pass waits for it, at least MIN_INTERVAL_S once
        # the first FIRST_RETRIES quick retries are used up.
        accepted_once, failures = False, 0
        while not self._stop.is_set():
            wait_s = self._interval_s
            try:
                self._interval_s = wait_s = self.send()
                accepted_once, failures = True, 0
            except HeartbeatError as exc:
                failures += 1
                wait_s = retry_in_s(
                    self._interval_s, accepted_once=accepted_once, failures=failures
                )
                logger.warning("heartbeat failed (retrying in %g s): %s", wait_s, exc)
            except Exception:
                # A bug here must not silently end heartbeats: the host would go Down.
                logger.exception("heartbeat failed unexpectedly")
            self._stop.wait(wait_s)
