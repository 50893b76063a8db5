"""``kvmcloud-agent``: read settings from the environment, build the app, serve it.

SIGTERM (or SIGINT) drains the agent: it stops taking commands, cancels running downloads
(their temp files are removed), sends a final heartbeat marked ``shutting_down`` and exits 0.
VMs are not touched: they are libvirtd's, keep running, and are reported again by the
next agent's heartbeats.
"""

import argparse
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn

from kvmcloud.agent.app import agent_runtime, create_app
from kvmcloud.agent.enrollment import EnrollmentStateError, load_or_create_enroll_token
from kvmcloud.agent.settings import AgentSettings, SettingsError

logger = logging.getLogger(__name__)

GRACEFUL_SHUTDOWN_S = 5


class _AgentServer(uvicorn.Server):
    """uvicorn's server, telling the agent to drain the moment a signal arrives.

    uvicorn only runs the lifespan shutdown after open requests finish; long polls would
    hold it up for up to a minute, so they are released first.
    """

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Signal handlers must not block or take locks the interrupted code may hold.
        threading.Thread(target=self._on_exit, name="drain", daemon=True).start()
        super().handle_exit(sig, frame)


def _ignore_signal(sig: int, frame: FrameType | None) -> None:
    """Absorb the signal uvicorn re-raises after its own graceful shutdown."""


def main(argv: list[str] | None = None) -> int:
    """Run the agent until SIGTERM; return the process exit status."""
    argparse.ArgumentParser(
        prog="kvmcloud-agent",
        description="kvmcloud's KVM host agent. Configured by KVMCLOUD_AGENT_* environment "
        "variables (see docs/install.md); prints its enrolment token at start when none is set.",
    ).parse_args(argv)
    try:
        settings = AgentSettings.from_env(os.environ)
    except SettingsError as exc:
        print(f"kvmcloud-agent: invalid setting {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level_number,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request at INFO: one line per heartbeat is noise, not news.
    logging.getLogger("httpx").setLevel(max(settings.log_level_number, logging.WARNING))
    if settings.enroll_token is None:
        try:
            token, created = load_or_create_enroll_token(settings.state_dir)
        except EnrollmentStateError as exc:
            print(f"kvmcloud-agent: {exc}", file=sys.stderr)
            return 2
        where = "generated" if created else "kept"
        print(
            f"enrolment token: {token}; pass it to addHost as password= "
            f"({where} in {settings.state_dir})",
            file=sys.stderr,
            flush=True,
        )
        settings = dataclasses.replace(settings, enroll_token=token)
    logger.info("starting with %r", settings)
    try:
        app = create_app(settings)
    except EnrollmentStateError as exc:
        # A damaged state file (host tag, enrolment): a person must look, not a traceback.
        print(f"kvmcloud-agent: {exc}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.listen_host,
        port=settings.listen_port,
        lifespan="on",
        log_config=None,
        log_level=settings.log_level_number,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = _AgentServer(config, on_exit=agent_runtime(app).begin_shutdown)
    # uvicorn restores the previous handlers and re-raises the signal it caught once it has
    # shut down; with these in place that re-raise is absorbed and SIGTERM exits 0.
    signal.signal(signal.SIGTERM, _ignore_signal)
    signal.signal(signal.SIGINT, _ignore_signal)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
