"""LibvirtHost: the few libvirt calls the agent needs, behind one small class.

libvirt-python is imported on first use, so the rest of the agent imports (and its tests
run) without it. The agent touches only domains carrying kvmcloud's ``<metadata>`` element
(``vms/domain.py``): another domain on the host is reported as missing and never replaced.

The connection opens lazily and is replaced when libvirt says it is gone (libvirtd
restarted), so neither the agent nor libvirtd has to be started first. Persistent domains
belong to libvirtd, not to the agent: the agent stopping or restarting leaves them running.
"""

import contextlib
import enum
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kvmcloud.agent.vms.domain import (
    METADATA_NAMESPACE,
    cdrom_xml,
    find_cdrom_target,
)
from kvmcloud.agent.vms.errors import (
    HypervisorUnavailableError,
    VmError,
    VmFailureError,
    VmNotFoundError,
)
from kvmcloud.protocol.agent_messages import VmPowerState

logger = logging.getLogger(__name__)

DEFAULT_URI = "qemu:///system"
POLL_INTERVAL_S = 0.25

# libvirt error codes and domains (virerror.h); stable ABI, named here for readability.
_ERR_INVALID_CONN = 3
_ERR_NO_CONNECT = 5
_ERR_RPC = 39
_ERR_NO_DOMAIN = 42
_ERR_NO_NETWORK = 43
_ERR_NO_DOMAIN_METADATA = 80
_FROM_RPC = 7


class _DomainState(enum.IntEnum):
    """virDomainState, as ``virDomainGetState`` returns it."""

    NOSTATE = 0
    RUNNING = 1
    BLOCKED = 2
    PAUSED = 3
    SHUTDOWN = 4  # being shut down: still running
    SHUTOFF = 5
    CRASHED = 6
    PMSUSPENDED = 7


def power_state(state: int, *, active: bool) -> VmPowerState:
    """Map a libvirt domain state to the protocol's; unknown states follow ``active``."""
    if state in (_DomainState.RUNNING, _DomainState.BLOCKED, _DomainState.SHUTDOWN):
        return VmPowerState.RUNNING
    if state in (_DomainState.PAUSED, _DomainState.PMSUSPENDED):
        return VmPowerState.PAUSED
    if state in (_DomainState.SHUTOFF, _DomainState.CRASHED):
        return VmPowerState.STOPPED
    return VmPowerState.RUNNING if active else VmPowerState.STOPPED


class LibvirtHost:
    """kvmcloud's domains on one libvirt connection (``qemu:///system`` by default).

    Safe to share between threads: libvirt connections are, and opening or replacing the
    connection happens under a lock. Errors are raised as the ``vms.errors`` tree.
    """

    def __init__(
        self,
        uri: str = DEFAULT_URI,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval_s: float = POLL_INTERVAL_S,
        module: Any = None,
    ) -> None:
        self.uri = uri
        self._clock = clock
        self._sleep = sleep
        self._poll_interval_s = poll_interval_s
        self._lock = threading.Lock()
        # The libvirt module (or a stand-in in tests); imported at first use when None.
        self._module: Any = module
        self._connection: Any = None

    def close(self) -> None:
        """Close the connection (domains keep running); the next call reopens it."""
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def start(self, name: str, xml: str) -> VmPowerState:
        """Define (or redefine) domain ``name`` from ``xml`` and start it unless it runs.

        Redefining a running domain changes its next boot, not the running guest.

        Raises:
            VmFailureError: libvirt rejected the XML or could not start the domain, or a
                domain of that name exists that kvmcloud did not define.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        libvirt = self._libvirt()
        existing = self._lookup(name)
        with self._errors("read the metadata of", name):
            foreign = existing is not None and not self._is_ours(existing)
        if foreign:
            raise VmFailureError(
                f"a domain named {name!r} exists on this host and was not defined by "
                "kvmcloud; refusing to replace it"
            )
        with self._errors("define", name):
            domain = self._connect().defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
        with self._errors("start", name):
            if not domain.isActive():
                self._unless_state(domain, lambda: domain.create(), active=True)
            elif self._power_state(domain) == VmPowerState.PAUSED:
                # Someone paused it outside kvmcloud: starting the VM means running it.
                domain.resume()
            return self._power_state(domain)

    def stop(self, name: str, *, forced: bool, graceful_timeout_s: float) -> VmPowerState:
        """Stop domain ``name``: ACPI power button, then power off after the timeout.

        ``forced`` powers off at once. A domain that is not running is left as it is.

        Raises:
            VmNotFoundError: there is no kvmcloud domain of that name.
            VmFailureError: libvirt refused.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        libvirt = self._libvirt()
        domain = self._our_domain(name)
        with self._errors("stop", name):
            if not domain.isActive():
                return self._power_state(domain)
            if not forced:
                flags = libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN
                self._unless_state(domain, lambda: domain.shutdownFlags(flags), active=False)
                if self._wait_until_inactive(domain, graceful_timeout_s):
                    logger.info("domain %s shut down", name)
                    return self._power_state(domain)
                logger.info(
                    "domain %s did not shut down within %g s; powering it off",
                    name,
                    graceful_timeout_s,
                )
            self._unless_state(domain, lambda: domain.destroy(), active=False)
            return self._power_state(domain)

    def reset(self, name: str) -> VmPowerState:
        """Reset running domain ``name`` (like the reset button: no guest shutdown).

        Raises:
            VmNotFoundError: there is no kvmcloud domain of that name.
            VmFailureError: libvirt refused, e.g. the domain is not running.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        domain = self._our_domain(name)
        with self._errors("reset", name):
            domain.reset(0)
            return self._power_state(domain)

    def destroy_and_undefine(self, name: str) -> bool:
        """Power off and forget domain ``name``; return whether there was one.

        Raises:
            VmFailureError: libvirt refused.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        libvirt = self._libvirt()
        domain = self._find_ours(name)
        if domain is None:
            return False
        flags = (
            libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
            | libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
        )
        with self._errors("destroy", name):
            if domain.isActive():
                self._unless_state(domain, lambda: domain.destroy(), active=False)
            try:
                domain.undefineFlags(flags)
            except libvirt.libvirtError as exc:
                # Another command may have undefined it in the meantime: gone is gone.
                if exc.get_error_code() != _ERR_NO_DOMAIN:
                    raise
        logger.info("domain %s destroyed and undefined", name)
        return True

    def set_cdrom(self, name: str, iso_path: str | None) -> VmPowerState:
        """Insert ``iso_path`` into the domain's first CD-ROM drive, or eject it (None).

        The change is made in the persistent definition and, if the domain runs, live.

        Raises:
            VmNotFoundError: there is no kvmcloud domain of that name.
            VmFailureError: the domain has no CD-ROM drive, or libvirt refused.
            InvalidVmCommandError: ``iso_path`` is not an absolute printable path.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        libvirt = self._libvirt()
        domain = self._our_domain(name)
        with self._errors("change the CD-ROM of", name):
            target = find_cdrom_target(domain.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            if target is None:
                raise VmFailureError(f"domain {name!r} has no CD-ROM drive")
            device = cdrom_xml(iso_path, target=target)
            # FORCE: eject even when the guest has locked the tray.
            flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG | libvirt.VIR_DOMAIN_DEVICE_MODIFY_FORCE
            if domain.isActive():
                flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
            domain.updateDeviceFlags(device, flags)
            return self._power_state(domain)

    def ensure_network(self, name: str, xml: str) -> None:
        """Define network ``name`` from ``xml`` unless it exists, and start it unless active.

        An existing network of that name is reused as it is: the name holds the guest
        network's uuid, and the XML of a guest network never changes.

        Raises:
            VmFailureError: libvirt refused to define or start it (e.g. the bridge name is
                taken by an interface libvirt did not make).
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        libvirt = self._libvirt()
        network = self._lookup_network(name)
        if network is None:
            with self._errors("define", name, kind="network"):
                network = self._connect().networkDefineXML(xml)
            logger.info("network %s defined", name)
        with self._errors("start", name, kind="network"):
            if network.isActive() == 1:
                return
            try:
                network.create()
            except libvirt.libvirtError:
                # Another VM's start may have started it in the meantime: active is fine.
                if network.isActive() != 1:
                    raise
            logger.info("network %s started", name)

    def ensure_secret(self, secret_uuid: str, xml: str, value: bytes) -> None:
        """Define the secret ``secret_uuid`` from ``xml`` (again) and set its value.

        Defining an existing secret with the same uuid and usage replaces its definition,
        so this is idempotent; the value is set each time (a rotated key takes effect at
        the next VM start). The value never appears in a message.

        Raises:
            VmFailureError: libvirt refused the secret (e.g. its usage name is taken by a
                secret with another uuid).
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        with self._errors("define", secret_uuid, kind="secret"):
            secret = self._connect().secretDefineXML(xml, 0)
        with self._errors("set the value of", secret_uuid, kind="secret"):
            secret.setValue(value, 0)

    def remove_network(self, name: str) -> bool:
        """Stop and undefine network ``name``; return whether there was one.

        Raises:
            VmFailureError: libvirt refused.
            HypervisorUnavailableError: libvirt cannot be reached.
        """
        libvirt = self._libvirt()
        network = self._lookup_network(name)
        if network is None:
            return False
        with self._errors("remove", name, kind="network"):
            try:
                if network.isActive() == 1:
                    network.destroy()
                network.undefine()
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != _ERR_NO_NETWORK:
                    raise
        logger.info("network %s removed", name)
        return True

    def state(self, name: str) -> VmPowerState:
        """Return the state of domain ``name``; MISSING when kvmcloud has no such domain.

        Raises:
            HypervisorUnavailableError: libvirt cannot be reached.
            VmFailureError: libvirt failed to answer.
        """
        domain = self._find_ours(name)
        if domain is None:
            return VmPowerState.MISSING
        with self._errors("read the state of", name):
            return self._power_state(domain)

    def states(self) -> dict[str, VmPowerState]:
        """Return the state of every kvmcloud domain, by name.

        Raises:
            HypervisorUnavailableError: libvirt cannot be reached.
            VmFailureError: libvirt failed to list the domains.
        """
        libvirt = self._libvirt()
        domains = self._with_reconnect("list domains", None, lambda c: c.listAllDomains(0))
        states: dict[str, VmPowerState] = {}
        for domain in domains:
            try:
                if self._is_ours(domain):
                    states[domain.name()] = self._power_state(domain)
            except libvirt.libvirtError as exc:
                # Undefined between the listing and now: it is simply not there any more.
                if exc.get_error_code() != _ERR_NO_DOMAIN:
                    raise self._translate(exc, "read the state of", domain.name()) from exc
        return states

    # -- connection ---------------------------------------------------------------------

    def _libvirt(self) -> Any:
        """Return the libvirt module, imported on first use."""
        if self._module is None:
            self._module = _import_libvirt()
        return self._module

    def _connect(self) -> Any:
        libvirt = self._libvirt()
        with self._lock:
            connection = self._connection
            if connection is not None:
                try:
                    if connection.isAlive() == 1:
                        return connection
                except libvirt.libvirtError:
                    pass
                self._connection = None
                with contextlib.suppress(Exception):
                    connection.close()
            try:
                self._connection = libvirt.open(self.uri)
            except libvirt.libvirtError as exc:
                raise HypervisorUnavailableError(
                    f"cannot connect to libvirt at {self.uri}: {exc.get_error_message()}"
                ) from exc
            logger.info("connected to libvirt at %s", self.uri)
            return self._connection

    def _forget(self, connection: Any) -> None:
        with self._lock:
            if self._connection is connection:
                self._connection = None
        with contextlib.suppress(Exception):
            connection.close()

    def _with_reconnect(
        self,
        action: str,
        name: str | None,
        call: Callable[[Any], Any],
        *,
        kind: str = "domain",
    ) -> Any:
        """Run a read-only ``call(connection)``, once more on a new connection if it was lost.

        Only reads are retried: a lost connection after a change leaves it unknown whether
        the change happened, which the caller must hear about.
        """
        libvirt = self._libvirt()
        for attempt in range(2):
            connection = self._connect()
            try:
                return call(connection)
            except libvirt.libvirtError as exc:
                if attempt == 0 and _is_connection_lost(exc):
                    logger.info("libvirt connection lost (%s); reconnecting", exc)
                    self._forget(connection)
                    continue
                raise self._translate(exc, action, name, kind=kind) from exc
        raise AssertionError("unreachable: the second attempt returns or raises")

    # -- domains ------------------------------------------------------------------------

    def _lookup(self, name: str) -> Any:
        """Return the domain called ``name``, or None when libvirt has none."""
        libvirt = self._libvirt()

        def lookup(connection: Any) -> Any:
            try:
                return connection.lookupByName(name)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == _ERR_NO_DOMAIN:
                    return None
                raise

        return self._with_reconnect("look up", name, lookup)

    def _lookup_network(self, name: str) -> Any:
        """Return the network called ``name``, or None when libvirt has none."""
        libvirt = self._libvirt()

        def lookup(connection: Any) -> Any:
            try:
                return connection.networkLookupByName(name)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == _ERR_NO_NETWORK:
                    return None
                raise

        return self._with_reconnect("look up", name, lookup, kind="network")

    def _find_ours(self, name: str) -> Any:
        """Return kvmcloud's domain called ``name``, or None (missing, foreign or vanished)."""
        libvirt = self._libvirt()
        domain = self._lookup(name)
        if domain is None:
            return None
        try:
            return domain if self._is_ours(domain) else None
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == _ERR_NO_DOMAIN:
                return None
            raise self._translate(exc, "read the metadata of", name) from exc

    def _our_domain(self, name: str) -> Any:
        domain = self._find_ours(name)
        if domain is None:
            raise VmNotFoundError(f"there is no kvmcloud domain named {name!r} on this host")
        return domain

    def _is_ours(self, domain: Any) -> bool:
        """Tell whether the domain carries kvmcloud's metadata; libvirt's errors pass through."""
        libvirt = self._libvirt()
        try:
            domain.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NAMESPACE, 0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == _ERR_NO_DOMAIN_METADATA:
                return False
            raise
        return True

    def _power_state(self, domain: Any) -> VmPowerState:
        state, _reason = domain.state(0)
        return power_state(state, active=domain.isActive() == 1)

    def _unless_state(self, domain: Any, call: Callable[[], object], *, active: bool) -> None:
        """Run ``call``; if it fails because the domain already got there, that is fine.

        Another command, or the guest itself, may have started or stopped the domain
        between our check and our call; libvirt then refuses with "operation invalid".
        """
        libvirt = self._libvirt()
        try:
            call()
        except libvirt.libvirtError:
            if (domain.isActive() == 1) != active:
                raise

    def _wait_until_inactive(self, domain: Any, timeout_s: float) -> bool:
        deadline = self._clock() + timeout_s
        # Bounded twice: by the deadline, and by a number of polls a stuck clock cannot stretch.
        for _ in range(max(1, math.ceil(timeout_s / self._poll_interval_s)) + 1):
            if domain.isActive() != 1:
                return True
            remaining = deadline - self._clock()
            if remaining <= 0:
                break
            self._sleep(min(self._poll_interval_s, remaining))
        return bool(domain.isActive() != 1)

    # -- errors -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, action: str, name: str | None, *, kind: str = "domain") -> Iterator[None]:
        """Translate libvirt's exceptions raised inside the block into the vms tree."""
        libvirt = self._libvirt()
        try:
            yield
        except libvirt.libvirtError as exc:
            raise self._translate(exc, action, name, kind=kind) from exc

    def _translate(
        self, exc: Any, action: str, name: str | None, *, kind: str = "domain"
    ) -> VmError:
        what = f"{action} {kind} {name!r}" if name is not None else action
        message = exc.get_error_message() or str(exc)
        if _is_connection_lost(exc):
            with self._lock:
                self._connection = None
            return HypervisorUnavailableError(
                f"lost the connection to libvirt at {self.uri} trying to {what}: {message}"
            )
        if exc.get_error_code() == _ERR_NO_DOMAIN:
            return VmNotFoundError(f"cannot {what}: {message}")
        return VmFailureError(f"cannot {what}: {message}")


def _is_connection_lost(exc: Any) -> bool:
    return bool(
        exc.get_error_code() in (_ERR_INVALID_CONN, _ERR_NO_CONNECT, _ERR_RPC)
        or exc.get_error_domain() == _FROM_RPC
    )


def _import_libvirt() -> Any:
    try:
        import libvirt
    except ImportError as exc:
        raise HypervisorUnavailableError(
            "libvirt-python is not installed (pip install libvirt-python; it builds against "
            "Debian's libvirt-dev)"
        ) from exc
    # libvirt's default handler prints every error to stderr, even those we handle.
    libvirt.registerErrorHandler(_log_libvirt_error, None)
    return libvirt


def _log_libvirt_error(context: object, error: Any) -> None:
    logger.debug("libvirt: %s", error)
