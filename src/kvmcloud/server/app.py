"""Composition root: build_services() and create_app() wire database, agents, jobs, routes."""

import contextlib
import logging
import random
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
from sqlalchemy.orm import Session
from starlette.applications import Starlette

from kvmcloud import __version__
from kvmcloud.server.absent import api as absent_api
from kvmcloud.server.accounts.callers import Caller
from kvmcloud.server.accounts.session_rules import SessionPolicy
from kvmcloud.server.accounts.throttle import LoginLimits
from kvmcloud.server.agent_client import AgentClient, HttpAgentClient, KeyOpeningAgentClient
from kvmcloud.server.agent_pki import AgentPki
from kvmcloud.server.api import capabilities, discovery
from kvmcloud.server.api.agent_routes import agent_routes
from kvmcloud.server.api.dispatch import Dispatcher
from kvmcloud.server.api.extract_routes import extract_routes
from kvmcloud.server.api.registry import Registry
from kvmcloud.server.api.routes import api_routes
from kvmcloud.server.api.session_auth import SessionGate
from kvmcloud.server.certificates import api as certificates_api
from kvmcloud.server.certificates import jobs as certificates_jobs
from kvmcloud.server.certificates import service as certificates_service
from kvmcloud.server.configuration import api as configuration_api
from kvmcloud.server.configuration.cache import SettingsCache
from kvmcloud.server.configuration.definitions import (
    CERTIFICATE_SYNC_INTERVAL_H,
    LOGIN_FAILURES_PER_ADDRESS,
    LOGIN_FAILURES_PER_USER,
    LOGIN_FAILURES_WINDOW_S,
    PING_INTERVAL_S,
    PING_TIMEOUT,
    SESSION_ABSOLUTE_TIMEOUT_S,
    SESSION_TIMEOUT_S,
    STORAGE_CLEANUP_ENABLED,
    STORAGE_CLEANUP_INTERVAL_S,
)
from kvmcloud.server.configuration.service import get_value
from kvmcloud.server.db import Database, make_engine
from kvmcloud.server.directory import api as directory_api
from kvmcloud.server.directory import jobs as directory_jobs
from kvmcloud.server.directory import removal as directory_removal
from kvmcloud.server.directory.removal import AccountResources, ResourceStep
from kvmcloud.server.entities import known_ids
from kvmcloud.server.events import api as events_api
from kvmcloud.server.events.catalog import EventType, ResourceType
from kvmcloud.server.events.jobs import with_event
from kvmcloud.server.events.service import CommandEvents
from kvmcloud.server.hooks import Hooks
from kvmcloud.server.infrastructure import api as infrastructure_api
from kvmcloud.server.infrastructure import jobs as infrastructure_jobs
from kvmcloud.server.infrastructure import service as infrastructure_service
from kvmcloud.server.infrastructure.heartbeats import HeartbeatListener, Heartbeats
from kvmcloud.server.infrastructure.jobs import update_host_states
from kvmcloud.server.infrastructure.last_seen import LastSeen, flush_interval_s
from kvmcloud.server.infrastructure.renewal import RENEW_CERTIFICATE_JOB
from kvmcloud.server.jobs import api as jobs_api
from kvmcloud.server.jobs import servers
from kvmcloud.server.jobs.leases import renew_interval_s
from kvmcloud.server.jobs.periodic import PeriodicTask, Scheduler
from kvmcloud.server.jobs.runner import JobHandler, JobRunner
from kvmcloud.server.limits import api as limits_api
from kvmcloud.server.metrics import api as metrics_api
from kvmcloud.server.networks import api as networks_api
from kvmcloud.server.networks import jobs as networks_jobs
from kvmcloud.server.networks import service as networks_service
from kvmcloud.server.offerings import api as offerings_api
from kvmcloud.server.pools import api as pools_api
from kvmcloud.server.pools import jobs as pools_jobs
from kvmcloud.server.pools import service as pools_service
from kvmcloud.server.regions import api as regions_api
from kvmcloud.server.roles import api as roles_api
from kvmcloud.server.sealing.box import SecretBox
from kvmcloud.server.sealing.keyfile import key_file_path, load_box
from kvmcloud.server.settings import ServerSettings
from kvmcloud.server.templates import api as templates_api
from kvmcloud.server.templates import copies as templates_copies
from kvmcloud.server.templates import deletion as templates_deletion
from kvmcloud.server.templates import extraction as templates_extraction
from kvmcloud.server.templates import inventory as templates_inventory
from kvmcloud.server.templates import jobs as templates_jobs
from kvmcloud.server.templates import zone_copies as templates_zone_copies
from kvmcloud.server.vms import actions as vms_actions
from kvmcloud.server.vms import api as vms_api
from kvmcloud.server.vms import jobs as vms_jobs
from kvmcloud.server.vms import service as vms_service
from kvmcloud.server.webui.routes import webui_routes

logger = logging.getLogger(__name__)

HOST_STATE_INTERVAL_S = 5.0
# How often the last-seen flusher wakes; it writes at its flush interval (last_seen.py).
LAST_SEEN_CHECK_S = 0.1
# Certificates live a year and are renewed with four months left: hourly checks suffice.
CERTIFICATE_RENEWAL_INTERVAL_S = 3600.0


def utc_now() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def session_policy(session: Session) -> SessionPolicy:
    """The session timeouts and login limits, from the global settings."""
    return SessionPolicy(
        idle_s=get_value(session, SESSION_TIMEOUT_S),
        absolute_s=get_value(session, SESSION_ABSOLUTE_TIMEOUT_S),
        limits=LoginLimits(
            per_user=get_value(session, LOGIN_FAILURES_PER_USER),
            per_address=get_value(session, LOGIN_FAILURES_PER_ADDRESS),
            window_s=get_value(session, LOGIN_FAILURES_WINDOW_S),
        ),
    )


def build_registry() -> Registry:
    """Gather every feature's API commands."""
    return Registry(
        [
            discovery.commands,
            directory_api.commands,
            roles_api.commands,
            capabilities.commands,
            infrastructure_api.commands,
            pools_api.commands,
            templates_api.commands,
            vms_api.commands,
            offerings_api.commands,
            networks_api.commands,
            configuration_api.commands,
            jobs_api.commands,
            certificates_api.commands,
            events_api.commands,
            absent_api.commands,
            regions_api.commands,
            limits_api.commands,
            metrics_api.commands,
        ]
    )


# What deleting and disabling an account do to what it owns, through those features' jobs.
ACCOUNT_RESOURCES = AccountResources(
    expunge_vms=ResourceStep(
        job_kind=vms_service.DESTROY_JOB,
        find=vms_service.account_vms,
        queue=vms_actions.queue_expunge_for_owner_removal,
        failed_verb="destroyed",
    ),
    delete_networks=ResourceStep(
        job_kind=networks_service.DELETE_NETWORK_JOB,
        find=networks_service.account_networks,
        queue=networks_service.queue_delete_for_owner_removal,
        failed_verb="deleted",
    ),
    delete_images=ResourceStep(
        job_kind=templates_deletion.DELETE_TEMPLATE_JOB,
        find=templates_deletion.account_images,
        queue=templates_deletion.queue_deletion_for_owner_removal,
        failed_verb="deleted",
    ),
    stop_vms=ResourceStep(
        job_kind=vms_service.STOP_JOB,
        find=vms_service.account_running_vms,
        queue=vms_actions.queue_stop_for_owner_disabling,
        failed_verb="stopped",
    ),
)

VM = ResourceType.VIRTUAL_MACHINE
JOB_HANDLERS: dict[str, JobHandler] = {
    templates_copies.DIRECT_DOWNLOAD_JOB: templates_jobs.run_direct_download,
    templates_zone_copies.COPY_TEMPLATE_JOB: templates_jobs.run_copy_template,
    templates_extraction.EXTRACT_TEMPLATE_JOB: with_event(
        EventType.TEMPLATE_EXTRACT, ResourceType.TEMPLATE, templates_jobs.run_extract
    ),
    templates_extraction.EXTRACT_ISO_JOB: with_event(
        EventType.ISO_EXTRACT, ResourceType.ISO, templates_jobs.run_extract
    ),
    templates_deletion.DELETE_TEMPLATE_JOB: partial(
        templates_jobs.run_delete_template, pools_in_use=vms_service.pools_in_use
    ),
    templates_deletion.STORAGE_CLEANUP_JOB: partial(
        templates_jobs.run_storage_cleanup, pools_in_use=vms_service.pools_in_use
    ),
    vms_service.DEPLOY_JOB: with_event(EventType.VM_CREATE, VM, vms_jobs.run_deploy_vm),
    vms_service.START_JOB: with_event(EventType.VM_START, VM, vms_jobs.run_start_vm),
    vms_service.STOP_JOB: with_event(EventType.VM_STOP, VM, vms_jobs.run_stop_vm),
    vms_service.REBOOT_JOB: with_event(EventType.VM_REBOOT, VM, vms_jobs.run_reboot_vm),
    vms_service.DESTROY_JOB: with_event(EventType.VM_DESTROY, VM, vms_jobs.run_destroy_vm),
    vms_service.ATTACH_ISO_JOB: vms_jobs.run_attach_iso,
    certificates_service.CERTIFICATE_SYNC_JOB: certificates_jobs.run_certificate_sync,
    networks_service.UPDATE_NETWORK_JOB: with_event(
        EventType.NETWORK_UPDATE, ResourceType.NETWORK, networks_jobs.run_update_network
    ),
    networks_service.DELETE_NETWORK_JOB: with_event(
        EventType.NETWORK_DELETE,
        ResourceType.NETWORK,
        partial(networks_jobs.run_delete_network, users=vms_service.network_users),
    ),
    RENEW_CERTIFICATE_JOB: infrastructure_jobs.run_certificate_renewal,
    pools_service.MAINTENANCE_JOB: with_event(
        EventType.MAINTENANCE_PREPARE_PRIMARY_STORAGE,
        ResourceType.STORAGE_POOL,
        pools_jobs.run_maintenance,
    ),
    pools_service.CANCEL_MAINTENANCE_JOB: with_event(
        EventType.MAINTENANCE_CANCEL_PRIMARY_STORAGE,
        ResourceType.STORAGE_POOL,
        pools_jobs.run_cancel_maintenance,
    ),
    directory_removal.DELETE_ACCOUNT_JOB: with_event(
        EventType.ACCOUNT_DELETE,
        ResourceType.ACCOUNT,
        partial(directory_jobs.run_delete_account, resources=ACCOUNT_RESOURCES),
    ),
    directory_removal.DELETE_DOMAIN_JOB: with_event(
        EventType.DOMAIN_DELETE,
        ResourceType.DOMAIN,
        partial(directory_jobs.run_delete_domain, resources=ACCOUNT_RESOURCES),
    ),
    directory_removal.DISABLE_ACCOUNT_JOB: with_event(
        EventType.ACCOUNT_DISABLE,
        ResourceType.ACCOUNT,
        partial(directory_jobs.run_disable_account, resources=ACCOUNT_RESOURCES),
    ),
    directory_removal.DISABLE_USER_JOB: with_event(
        EventType.USER_DISABLE, ResourceType.USER, directory_jobs.run_disable_user
    ),
}

# What API handlers of a feature need from the features built on it (see hooks.py).
HOOKS = Hooks(
    queue_new_host_sync=certificates_service.queue_new_host_sync,
    count_template_users=vms_service.count_users,
    find_zone=infrastructure_service.zone_id_by_uuid,
    offering_volume_pools=vms_service.offering_volume_pools,
    offering_vm_hosts=vms_service.offering_vm_hosts,
    pool_allocated_bytes=pools_service.allocated_bytes,
)


def heartbeat_listeners() -> tuple[HeartbeatListener, ...]:
    """What each feature does with a heartbeat, in this order, in the heartbeat's transaction.

    Built per agent listener: the certificates' listener remembers what each host held.
    """
    return (
        vms_service.after_heartbeat,
        certificates_service.CertificateChecks().after_heartbeat,
        templates_inventory.after_heartbeat,
    )


# Jobs a live management server resumes when the server running them died: each picks up
# from what the database and the agents say (a download re-sends its command id, which
# the agent answers with the transfer already under way or done). Stop, reboot and
# destroy are not repeated behind the operator's back: they fail with the reason.
RESUMABLE_JOBS = frozenset(
    {
        templates_copies.DIRECT_DOWNLOAD_JOB,
        # Adding zone records again changes nothing.
        templates_zone_copies.COPY_TEMPLATE_JOB,
        # Signing a URL again changes nothing.
        templates_extraction.EXTRACT_TEMPLATE_JOB,
        templates_extraction.EXTRACT_ISO_JOB,
        templates_deletion.DELETE_TEMPLATE_JOB,
        templates_deletion.STORAGE_CLEANUP_JOB,
        vms_service.DEPLOY_JOB,
        vms_service.START_JOB,
        vms_service.ATTACH_ISO_JOB,
        certificates_service.CERTIFICATE_SYNC_JOB,
        RENEW_CERTIFICATE_JOB,
        # A pool's state says how far these got: running one again repeats nothing.
        pools_service.MAINTENANCE_JOB,
        pools_service.CANCEL_MAINTENANCE_JOB,
        # These look at what is left each time they run: resuming one repeats nothing.
        directory_removal.DELETE_ACCOUNT_JOB,
        directory_removal.DELETE_DOMAIN_JOB,
        directory_removal.DISABLE_ACCOUNT_JOB,
        directory_removal.DISABLE_USER_JOB,
    }
)
# A job resumed this often is failed instead: something about it kills servers.
MAX_TAKEOVERS = 3


@dataclass
class Services:
    """Everything the running server holds, so tests can reach the pieces."""

    settings: ServerSettings
    db: Database
    agents: AgentClient
    clock: Callable[[], datetime]
    box: SecretBox
    msid: str = field(default_factory=lambda: str(uuid.uuid4()))
    name: str = ""
    runners: list[JobRunner] = field(default_factory=list)
    scheduler: Scheduler | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    # Set when this server queues a job: idle runners start it at once.
    wake: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    # Heartbeat times received here, written in batches (infrastructure.last_seen).
    last_seen: LastSeen = field(default_factory=LastSeen)
    # Global settings for hot paths; invalidated when updateConfiguration succeeds here.
    settings_cache: SettingsCache = field(init=False)

    def __post_init__(self) -> None:
        self.settings_cache = SettingsCache(self.db)

    def start_background(self) -> None:
        """Start the lease keeper, the job runners, the scheduler and the last-seen flusher."""
        self._spawn("lease-keeper", self._keep_lease)
        self._spawn("last-seen-flusher", self._flush_last_seen)
        for index, runner in enumerate(self.runners):
            self._spawn(
                f"job-runner-{index}", partial(runner.run_forever, self.stop, wake=self.wake)
            )
        if self.scheduler is not None:
            self._spawn("scheduler", partial(self.scheduler.run_forever, self.stop))

    def stop_background(self, timeout_s: float = 10.0) -> None:
        """Ask the threads to stop and wait for them (bounded)."""
        self.stop.set()
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout=timeout_s)
        if self.threads:
            try:
                self.last_seen.flush(self.db)
            except Exception:
                logger.exception("could not write the last heartbeat times")
            try:
                with self.db.transaction() as session:
                    servers.mark_stopped(session, self.msid, self.clock())
            except Exception:
                # Then the lease simply runs out and the others take over a little later.
                logger.exception("could not record this management server's shutdown")

    def _keep_lease(self) -> None:
        interval_s = renew_interval_s(self.settings.lease_s)
        while not self.stop.wait(interval_s):
            try:
                with self.db.transaction() as session:
                    was_up = servers.renew(session, self.msid, self.clock())
                if not was_up:
                    logger.error(
                        "management server %s lost its lease (database unreachable for over "
                        "%d s?); other servers may have taken over its jobs",
                        self.name,
                        self.settings.lease_s,
                    )
            except Exception:
                logger.exception("could not renew the lease of management server %s", self.name)

    def _flush_last_seen(self) -> None:
        # The interval follows ping.interval, read again every second: after the setting
        # shrinks, the next flush is not a whole old interval away.
        last_flush = time.monotonic()
        while not self.stop.wait(LAST_SEEN_CHECK_S):
            try:
                interval_s = flush_interval_s(
                    self.settings_cache.get(PING_INTERVAL_S),
                    self.settings_cache.get(PING_TIMEOUT),
                )
            except Exception:
                logger.exception("could not read ping.interval; writing heartbeat times now")
                interval_s = 0.0
            if time.monotonic() - last_flush + LAST_SEEN_CHECK_S / 2 < interval_s:
                continue
            last_flush = time.monotonic()
            try:
                self.last_seen.flush(self.db)
            except Exception:
                # Kept for the next round: a late last_ping only delays a state change.
                logger.exception("could not write the last heartbeat times")

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)


def build_services(
    settings: ServerSettings,
    *,
    agents: AgentClient | None = None,
    clock: Callable[[], datetime] = utc_now,
    agent_pki: AgentPki | None = None,
    box: SecretBox | None = None,
) -> Services:
    """Construct the database, agent client, job runners and periodic tasks.

    Without ``agents``, agents are called over mutual TLS with ``agent_pki``'s contexts.
    ``box`` defaults to the secrets key file in ``settings.config_dir``.

    Raises:
        KeyFileError: the key file is missing, malformed or readable by others.
    """
    box = box if box is not None else load_box(key_file_path(settings.config_dir))
    wake = threading.Event()
    db = Database(
        make_engine(settings.database_url, pool_size=settings.database_connections),
        on_jobs_queued=wake.set,
    )
    if agents is None:
        assert agent_pki is not None, "the HTTP agent client needs the agent PKI"
        agents = HttpAgentClient(
            httpx.Client(
                headers={"User-Agent": "kvmcloud-server"}, verify=agent_pki.client_context()
            )
        )
    # Hosts' agent keys are sealed in the database: opened only to make each request.
    agent_client = KeyOpeningAgentClient(agents, box)
    name = f"{socket.gethostname()}:{settings.listen_port}"
    services = Services(
        settings=settings, db=db, agents=agent_client, clock=clock, box=box, name=name, wake=wake
    )
    services.runners = [
        JobRunner(
            db=db,
            agents=agent_client,
            clock=clock,
            settings=settings,
            handlers=JOB_HANDLERS,
            owner=f"{name}/{index}",
            msid=services.msid,
            box=box,
        )
        for index in range(settings.job_workers)
    ]

    def storage_cleanup_interval_s() -> float:
        with db.transaction() as session:
            if not get_value(session, STORAGE_CLEANUP_ENABLED):
                return 0.0
            return float(get_value(session, STORAGE_CLEANUP_INTERVAL_S))

    def queue_storage_cleanup() -> None:
        with db.transaction() as session:
            templates_deletion.queue_storage_cleanup(session, clock())

    def certificate_sync_interval_s() -> float:
        with db.transaction() as session:
            return float(get_value(session, CERTIFICATE_SYNC_INTERVAL_H)) * 3600.0

    def queue_certificate_sync() -> None:
        # A job row: whichever runner claims it (compare-and-set) is the one that pushes.
        with db.transaction() as session:
            certificates_service.queue_sync_all(session, clock())

    def may_run(task_name: str, interval_s: float) -> bool:
        return servers.claim_periodic_run(
            db, name=task_name, interval_s=interval_s, msid=services.msid, now=clock()
        )

    tasks = [
        PeriodicTask(
            "host-states",
            lambda: HOST_STATE_INTERVAL_S,
            lambda: update_host_states(db, clock, services.last_seen),
        ),
        PeriodicTask(
            "job-takeover",
            lambda: renew_interval_s(settings.lease_s),
            lambda: take_over_lost_work(services),
        ),
        PeriodicTask("storage-cleanup", storage_cleanup_interval_s, queue_storage_cleanup),
        PeriodicTask("certificate-sync", certificate_sync_interval_s, queue_certificate_sync),
        PeriodicTask(
            "agent-certificate-renewal",
            lambda: CERTIFICATE_RENEWAL_INTERVAL_S,
            lambda: infrastructure_jobs.queue_certificate_renewals(db, clock),
        ),
    ]
    if agent_pki is not None:
        server_pki = agent_pki
        # Each server renews its own certificate: not shared between servers.
        tasks.append(
            PeriodicTask(
                "server-certificate-renewal",
                lambda: CERTIFICATE_RENEWAL_INTERVAL_S,
                lambda: renew_server_certificate(server_pki, settings, clock),
                shared=False,
            )
        )
    services.scheduler = Scheduler(tasks, tick_s=settings.periodic_tick_s, gate=may_run)
    return services


def renew_server_certificate(
    store: AgentPki, settings: ServerSettings, clock: Callable[[], datetime]
) -> None:
    """Issue this server a new certificate when it is due (or lacks the agent host name)."""
    if store.ensure_server_certificate([settings.agent_host], clock()):
        logger.info("renewed this management server's certificate")


def recover_after_restart(services: Services) -> None:
    """Register this server run, then take over what an earlier run of it left half done."""
    with services.db.transaction() as session:
        retired = servers.register(
            session,
            msid=services.msid,
            name=services.name,
            version=__version__,
            now=services.clock(),
        )
    if retired:
        logger.warning("an earlier run of %s did not stop cleanly", services.name)
    take_over_lost_work(services)


def take_over_lost_work(services: Services) -> None:
    """Declare servers whose lease ran out Down; resume or fail their jobs; settle leftovers.

    Runs at start and periodically (on one server at a time). Download claims and VM
    transitions belong to jobs: those whose job ended without finishing are settled with
    a reason, those whose job was resumed are left to it.
    """
    now = services.clock()
    with services.db.transaction() as session:
        lost = servers.declare_lost(
            session, self_msid=services.msid, now=now, lease_s=services.settings.lease_s
        )
        done = servers.take_over_orphans(
            session, now=now, resumable=RESUMABLE_JOBS, max_takeovers=MAX_TAKEOVERS
        )
        refs = templates_copies.fail_abandoned_downloads(session, now)
        vms = vms_service.settle_vms_without_jobs(session, now)
    if lost:
        logger.warning("management server(s) %s lost their lease", ", ".join(lost))
    if done.resumed or done.failed or refs or vms:
        logger.warning(
            "took over jobs of stopped management servers: resumed %d, failed %d; "
            "failed %d abandoned downloads; settled %d VMs",
            len(done.resumed),
            len(done.failed),
            refs,
            vms,
        )


def create_app(services: Services, *, run_background: bool = True) -> Starlette:
    """Build the Starlette application serving /client/api and /client/extract (the API port)."""
    events = CommandEvents(services.db, services.clock)

    def observe(
        caller: Caller, command: str, item: Mapping[str, Any] | None, target_id: str | None
    ) -> None:
        # This server sees its own setting changes at once; others within their cache age.
        if command == "updateConfiguration":
            services.settings_cache.invalidate()
        events(caller, command, item, target_id)

    dispatcher = Dispatcher(
        registry=build_registry(),
        db=services.db,
        agents=services.agents,
        clock=services.clock,
        settings=services.settings,
        rng=random.SystemRandom(),
        hooks=HOOKS,
        box=services.box,
        known_ids=known_ids,
        sessions=SessionGate(services.db, services.clock, session_policy, observe=events),
        observe=observe,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if run_background:
            recover_after_restart(services)
            services.start_background()
        try:
            yield
        finally:
            services.stop_background()

    downloads = templates_extraction.ExtractDownloads(
        services.db, services.agents, services.box, services.clock
    )
    routes = api_routes(dispatcher) + extract_routes(downloads.open) + webui_routes()
    return Starlette(routes=routes, lifespan=lifespan)


def create_agent_app(services: Services, *, require_client_certificate: bool = True) -> Starlette:
    """Build the application of the agent listener: /agent/v1 only (mutual TLS, port 8250)."""
    heartbeats = Heartbeats(
        services.db,
        services.clock,
        heartbeat_listeners(),
        settings=services.settings_cache,
        last_seen=services.last_seen,
    )
    routes = agent_routes(
        heartbeats.authenticate,
        heartbeats.receive,
        require_client_certificate=require_client_certificate,
    )
    return Starlette(routes=routes)
