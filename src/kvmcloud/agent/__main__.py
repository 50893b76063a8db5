"""``kvmcloud-agent``: serve over TLS; show-token, new-token and reset-enrolment on the host.

SIGTERM (or SIGINT) drains the agent: it stops taking commands, cancels running downloads
(their temp files are removed), sends a final heartbeat marked ``shutting_down`` and exits 0.
VMs are not touched: they are libvirtd's, keep running, and are reported again by the
next agent's heartbeats.
"""

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

import uvicorn

from kvmcloud.agent.app import agent_runtime, create_app
from kvmcloud.agent.enrollment import (
    EnrollmentStateError,
    StoredToken,
    create_enroll_token,
    forget_enrollment,
    load_enroll_token,
    load_or_create_enroll_token,
)
from kvmcloud.agent.settings import AgentSettings, SettingsError
from kvmcloud.agent.tls_identity import TlsIdentity, reset_identity
from kvmcloud.listeners import PeerCertificateProtocol
from kvmcloud.protocol.enrolment_tokens import EnrolmentToken

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
    """Run the agent (or one of its host commands); return the process exit status."""
    args = _parser().parse_args(argv)
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
    try:
        if args.command == "show-token":
            return _show_token(settings, make=False)
        if args.command == "new-token":
            return _show_token(settings, make=True)
        if args.command == "reset-enrolment":
            return _reset(settings)
        return _serve(settings)
    except EnrollmentStateError as exc:
        # A damaged state file (host tag, enrolment, keys): a person must look, not a traceback.
        print(f"kvmcloud-agent: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvmcloud-agent",
        description="kvmcloud's KVM host agent. Configured by KVMCLOUD_AGENT_* environment "
        "variables (see docs/install.md); prints its enrolment token at start until enrolled.",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the agent (the default)")
    sub.add_parser("show-token", help="print the current enrolment token and its expiry")
    sub.add_parser(
        "new-token", help="make a new enrolment token (the old one stops working) and print it"
    )
    sub.add_parser(
        "reset-enrolment",
        help="forget the server, its key and this agent's certificates, so the agent can be "
        "enrolled again (restart the agent afterwards)",
    )
    return parser


def token_line(settings: AgentSettings, token: StoredToken, fingerprint: str) -> str:
    """The line that gives the operator the enrolment token and its expiry."""
    expires = datetime.fromtimestamp(token.created_s + settings.enroll_token_ttl_s, UTC)
    full = EnrolmentToken(secret=token.secret, fingerprint=fingerprint)
    return (
        f"enrolment token: {full}; pass it to addHost as password= "
        f"(valid until {expires:%Y-%m-%d %H:%M:%S} UTC, once)"
    )


def _show_token(settings: AgentSettings, *, make: bool) -> int:
    now = datetime.now(UTC)
    identity = TlsIdentity.open(settings.state_dir, now)
    if identity.issued:
        print(
            "kvmcloud-agent: this agent is enrolled; run 'kvmcloud-agent reset-enrolment' "
            "first to enrol it again",
            file=sys.stderr,
        )
        return 1
    if make:
        token = create_enroll_token(settings.state_dir, now.timestamp())
    else:
        stored = load_enroll_token(settings.state_dir)
        if stored is None:
            print(
                "kvmcloud-agent: no enrolment token; run 'kvmcloud-agent new-token'",
                file=sys.stderr,
            )
            return 1
        token = stored
    print(token_line(settings, token, identity.fingerprint))
    return 0


def _reset(settings: AgentSettings) -> int:
    forget_enrollment(settings.state_dir)
    reset_identity(settings.state_dir)
    now = datetime.now(UTC)
    identity = TlsIdentity.open(settings.state_dir, now)
    token = create_enroll_token(settings.state_dir, now.timestamp())
    print("enrolment reset: the server's key and this agent's certificates are removed.")
    print("Restart the agent (e.g. systemctl restart kvmcloud-agent), then add the host again.")
    print(token_line(settings, token, identity.fingerprint))
    return 0


def _serve(settings: AgentSettings) -> int:
    now = datetime.now(UTC)
    identity = TlsIdentity.open(settings.state_dir, now)
    if not identity.issued:
        token, created = load_or_create_enroll_token(settings.state_dir, now.timestamp())
        where = "made" if created else "kept"
        print(
            f"{token_line(settings, token, identity.fingerprint)} ({where} in "
            f"{settings.state_dir})",
            file=sys.stderr,
            flush=True,
        )
    logger.info("starting with %r", settings)
    app = create_app(settings, identity=identity)
    context = identity.server_context()
    config = uvicorn.Config(
        app,
        host=settings.listen_host,
        port=settings.listen_port,
        lifespan="on",
        log_config=None,
        log_level=settings.log_level_number,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        # TLS only, with the context TlsIdentity changes in place at enrolment and renewal;
        # the protocol hands the client's certificate to the routes.
        ssl_context_factory=lambda _config, _default: context,
        http=PeerCertificateProtocol,
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
