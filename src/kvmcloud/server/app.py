"""Composition root: build_services() and create_app() wire database, agents, jobs, routes."""

import contextlib
import logging
import random
import socket
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import httpx
from starlette.applications import Starlette

from kvmcloud.server.agent_client import AgentClient, HttpAgentClient
from kvmcloud.server.api import discovery
from kvmcloud.server.api.agent_routes import agent_routes
from kvmcloud.server.api.dispatch import Dispatcher
from kvmcloud.server.api.registry import Registry
from kvmcloud.server.api.routes import api_routes
from kvmcloud.server.certificates import api as certificates_api
from kvmcloud.server.certificates import jobs as certificates_jobs
from kvmcloud.server.certificates import service as certificates_service
from kvmcloud.server.configuration import api as configuration_api
from kvmcloud.server.configuration.definitions import (
    CERTIFICATE_SYNC_INTERVAL_H,
    STORAGE_CLEANUP_ENABLED,
    STORAGE_CLEANUP_INTERVAL_S,
)
from kvmcloud.server.configuration.service import get_value
from kvmcloud.server.db import Database, make_engine
from kvmcloud.server.infrastructure import api as infrastructure_api
from kvmcloud.server.infrastructure.jobs import update_host_states
from kvmcloud.server.jobs import api as jobs_api
from kvmcloud.server.jobs import queue
from kvmcloud.server.jobs.periodic import PeriodicTask, Scheduler
from kvmcloud.server.jobs.runner import JobHandler, JobRunner
from kvmcloud.server.offerings import api as offerings_api
from kvmcloud.server.settings import ServerSettings
from kvmcloud.server.templates import api as templates_api
from kvmcloud.server.templates import jobs as templates_jobs
from kvmcloud.server.templates import service as templates_service
from kvmcloud.server.vms import api as vms_api
from kvmcloud.server.vms import jobs as vms_jobs
from kvmcloud.server.vms import service as vms_service

logger = logging.getLogger(__name__)

HOST_STATE_INTERVAL_S = 5.0


def utc_now() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


def build_registry() -> Registry:
    """Gather every feature's API commands."""
    return Registry(
        [
            discovery.commands,
            infrastructure_api.commands,
            templates_api.commands,
            vms_api.commands,
            offerings_api.commands,
            configuration_api.commands,
            jobs_api.commands,
            certificates_api.commands,
        ]
    )


JOB_HANDLERS: dict[str, JobHandler] = {
    templates_service.DIRECT_DOWNLOAD_JOB: templates_jobs.run_direct_download,
    templates_api.DELETE_TEMPLATE_JOB: templates_jobs.run_delete_template,
    templates_service.STORAGE_CLEANUP_JOB: templates_jobs.run_storage_cleanup,
    vms_service.DEPLOY_JOB: vms_jobs.run_deploy_vm,
    vms_service.START_JOB: vms_jobs.run_start_vm,
    vms_service.STOP_JOB: vms_jobs.run_stop_vm,
    vms_service.REBOOT_JOB: vms_jobs.run_reboot_vm,
    vms_service.DESTROY_JOB: vms_jobs.run_destroy_vm,
    vms_service.ATTACH_ISO_JOB: vms_jobs.run_attach_iso,
    certificates_service.CERTIFICATE_SYNC_JOB: certificates_jobs.run_certificate_sync,
}


@dataclass
class Services:
    """Everything the running server holds, so tests can reach the pieces."""

    settings: ServerSettings
    db: Database
    agents: AgentClient
    clock: Callable[[], datetime]
    runners: list[JobRunner] = field(default_factory=list)
    scheduler: Scheduler | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start_background(self) -> None:
        """Start the job runner threads and the periodic scheduler."""
        for index, runner in enumerate(self.runners):
            self._spawn(f"job-runner-{index}", partial(runner.run_forever, self.stop))
        if self.scheduler is not None:
            self._spawn("scheduler", partial(self.scheduler.run_forever, self.stop))

    def stop_background(self, timeout_s: float = 10.0) -> None:
        """Ask the threads to stop and wait for them (bounded)."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=timeout_s)

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)


def build_services(
    settings: ServerSettings,
    *,
    agents: AgentClient | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> Services:
    """Construct the database, agent client, job runners and periodic tasks."""
    db = Database(make_engine(settings.database_url))
    agent_client = agents or HttpAgentClient(
        httpx.Client(headers={"User-Agent": "kvmcloud-server"})
    )
    owner_base = f"{socket.gethostname()}:{settings.listen_port}"
    services = Services(settings=settings, db=db, agents=agent_client, clock=clock)
    services.runners = [
        JobRunner(
            db=db,
            agents=agent_client,
            clock=clock,
            settings=settings,
            handlers=JOB_HANDLERS,
            owner=f"{owner_base}/{index}",
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
            templates_service.queue_storage_cleanup(session, clock())

    def certificate_sync_interval_s() -> float:
        with db.transaction() as session:
            return float(get_value(session, CERTIFICATE_SYNC_INTERVAL_H)) * 3600.0

    def queue_certificate_sync() -> None:
        # A job row: whichever runner claims it (compare-and-set) is the one that pushes.
        with db.transaction() as session:
            certificates_service.queue_sync_all(session, clock())

    tasks = [
        PeriodicTask(
            "host-states", lambda: HOST_STATE_INTERVAL_S, lambda: update_host_states(db, clock)
        ),
        PeriodicTask("storage-cleanup", storage_cleanup_interval_s, queue_storage_cleanup),
        PeriodicTask("certificate-sync", certificate_sync_interval_s, queue_certificate_sync),
    ]
    services.scheduler = Scheduler(tasks, tick_s=settings.periodic_tick_s)
    return services


def recover_after_restart(services: Services) -> None:
    """Fail work a previous run of this server left half done, with a reason people can read."""
    reason = "interrupted by a management server restart; run it again"
    with services.db.transaction() as session:
        orphans = queue.fail_orphans(session, services.clock(), reason)
        refs = templates_service.fail_interrupted_downloads(session, services.clock())
        vms = vms_service.recover_interrupted_vms(session, services.clock())
    if orphans or refs or vms:
        logger.warning(
            "failed %d interrupted jobs and %d interrupted downloads; settled %d VMs",
            len(orphans),
            refs,
            vms,
        )


def create_app(services: Services, *, run_background: bool = True) -> Starlette:
    """Build the Starlette application serving /client/api and /agent/v1."""
    dispatcher = Dispatcher(
        registry=build_registry(),
        db=services.db,
        agents=services.agents,
        clock=services.clock,
        settings=services.settings,
        rng=random.SystemRandom(),
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

    routes = [*api_routes(dispatcher), *agent_routes(services.db, services.clock)]
    return Starlette(routes=routes, lifespan=lifespan)
