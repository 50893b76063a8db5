"""`kvmcloud-server`: serve | init | db … | create-api-key | create-account | rotate-key | ca."""

import argparse
import asyncio
import logging
import os
import resource
import sys
from asyncio import sslproto
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import uvicorn
from anyio import to_thread

from kvmcloud.listeners import PeerCertificateProtocol
from kvmcloud.server import db_migrations, resealing
from kvmcloud.server.accounts import service as accounts
from kvmcloud.server.agent_pki import AgentPki, PkiStoreError
from kvmcloud.server.app import build_services, create_agent_app, create_app, utc_now
from kvmcloud.server.configuration.service import seed_definitions
from kvmcloud.server.db import Database, make_engine
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.sealing import keyfile
from kvmcloud.server.sealing.box import SecretBox, SecretsError
from kvmcloud.server.settings import ServerSettings, SettingsError
from kvmcloud.server.templates.guest_os import seed_guest_os

logger = logging.getLogger("kvmcloud.server")

TLS_READ_BUFFER_BYTES = 32 * 1024
ADMIN_PASSWORD_ENV = "KVMCLOUD_ADMIN_PASSWORD"  # noqa: S105 (a variable name)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvmcloud-server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the API and run jobs (upgrades the schema first)")
    init = sub.add_parser(
        "init", help="create or upgrade the database and print the admin's API keys"
    )
    init.add_argument(
        "--admin-password-file",
        type=Path,
        help=f"set the admin's password from this file's first line (else ${ADMIN_PASSWORD_ENV}, "
        "else a generated one is printed once)",
    )
    db = sub.add_parser("db", help="schema maintenance")
    db.add_argument("action", choices=["upgrade", "check", "revision"])
    db.add_argument("message", nargs="?", help="what a new revision changes (db revision)")
    keys = sub.add_parser("create-api-key", help="replace a user's API keys and print them")
    keys.add_argument("--user", default=accounts.ADMIN_NAME)
    keys.add_argument("--domain", default="/", type=_domain_path, help="the user's domain path")
    account = sub.add_parser("create-account", help="create a non-admin account and print its keys")
    account.add_argument("name")
    account.add_argument("--domain", default="/", type=_domain_path, help="a domain path: /a/b/")
    sub.add_parser(
        "rotate-key",
        help="seal every secret under a new key, then retire the old one (safe to re-run)",
    )
    ca = sub.add_parser("ca", help="the agent CA and this server's certificate")
    ca.add_argument("action", choices=["show", "renew-server-cert"])
    return parser


def _database(settings: ServerSettings) -> Database:
    if settings.database_url.startswith("sqlite:///"):
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
    return Database(make_engine(settings.database_url))


def _init(database: Database, box: SecretBox) -> accounts.ApiKeys:
    db_migrations.upgrade(database.engine)
    # The data step of migration 0006: migrations never see the key, so secrets still in
    # clear (or under a retired-in-progress key) are sealed here, after every upgrade.
    sealed = resealing.seal_all(database, box)
    if sealed.total:
        logger.warning("sealed %d secrets under key %s", sealed.total, box.current)
    with database.transaction() as session:
        now = utc_now()
        seed_definitions(session, now)
        seed_guest_os(session)
        return accounts.ensure_admin(session, now, box)


def _admin_password(args: argparse.Namespace) -> tuple[str | None, str]:
    """The admin password asked for at init, and where it came from (None: generate)."""
    path: Path | None = args.admin_password_file
    if path is not None:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SystemExit(f"kvmcloud-server: cannot read {path}: {exc.strerror}") from None
        if not lines or not lines[0]:
            raise SystemExit(f"kvmcloud-server: {path} holds no password on its first line")
        return lines[0], str(path)
    given = os.environ.get(ADMIN_PASSWORD_ENV)
    if given:
        return given, f"${ADMIN_PASSWORD_ENV}"
    return None, ""


def _set_admin_password(database: Database, password: str | None, source: str) -> None:
    with database.transaction() as session:
        generated = accounts.ensure_admin_password(session, password)
    if generated is not None:
        # Printed this once only: what is stored is a salted hash.
        print(f"password:   {generated}")
        print("the admin's password is shown only now: keep it", file=sys.stderr)
    elif password is not None:
        print(f"set the admin's password from {source}", file=sys.stderr)


def _box(settings: ServerSettings, *, create: bool = False) -> SecretBox:
    path = keyfile.key_file_path(settings.config_dir)
    if create and keyfile.ensure_key_file(path):
        print(
            f"created the secrets key file {path}: back it up apart from the database",
            file=sys.stderr,
        )
    return keyfile.load_box(path)


def _rotate_key(settings: ServerSettings, database: Database) -> None:
    """Seal everything under a new key, then drop the old one; resumes an interrupted run."""
    path = keyfile.key_file_path(settings.config_dir)
    box = keyfile.add_key(path)
    sealed = resealing.seal_all(database, box)
    left = resealing.count_not_current(database, box)
    if left:
        raise SecretsError(
            f"{left} secrets are still sealed under an older key (written by a running "
            "server?); stop the servers and run rotate-key again"
        )
    retired = sorted(set(box.keys) - {box.current})
    keyfile.retire_old_keys(path)
    print(
        f"re-sealed {sealed.secret_keys} API secret keys, {sealed.agent_keys} agent keys and "
        f"{sealed.headers} HTTP_HEADER values under key {box.current}"
    )
    print(f"retired key(s): {', '.join(retired) or 'none'}")


def _init_pki(settings: ServerSettings) -> AgentPki:
    try:
        return AgentPki.init(settings.pki_dir, [settings.agent_host], utc_now())
    except PkiStoreError as exc:
        raise SystemExit(f"kvmcloud-server: {exc}") from exc


def _ca(settings: ServerSettings, action: str) -> int:
    try:
        store = AgentPki.load(settings.pki_dir)
        if action == "renew-server-cert":
            store.ensure_server_certificate([settings.agent_host], utc_now(), force=True)
            print("issued a new server certificate; running servers pick it up within an hour")
        for info in store.describe():
            print(f"{info.name}: {info.subject}")
            print(f"  sha256:     {info.fingerprint}")
            since, until = f"{info.not_before:%Y-%m-%d %H:%M}", f"{info.not_after:%Y-%m-%d %H:%M}"
            print(f"  valid:      {since} to {until} UTC")
            if info.addresses:
                print(f"  names:      {', '.join(info.addresses)}")
    except PkiStoreError as exc:
        print(f"kvmcloud-server: {exc}", file=sys.stderr)
        return 1
    return 0


def _serve(settings: ServerSettings, store: AgentPki, box: SecretBox) -> None:
    """Serve /client/api on the API port and /agent/v1 on the agent port (mutual TLS)."""
    _raise_open_files_limit()
    # asyncio gives each TLS connection a read buffer of SSLProtocol.max_size, 256 KiB, and
    # each host keeps one open: 2.5 GiB for 10,000 hosts. A heartbeat is a few KiB; two
    # TLS records' worth serve it (the agent listener is this process's only TLS server).
    sslproto.SSLProtocol.max_size = TLS_READ_BUFFER_BYTES
    services = build_services(settings, agent_pki=store, box=box)
    # No access log: a request line carries the query, and with it API keys and URLs.
    api = uvicorn.Config(
        create_app(services),
        host=settings.listen_host,
        port=settings.listen_port,
        log_level="warning",
        access_log=False,
    )
    context = store.server_context()
    agents = uvicorn.Config(
        create_agent_app(services),
        host=settings.listen_host,
        port=settings.agent_listen_port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ssl_context_factory=lambda _config, _default: context,
        http=PeerCertificateProtocol,
        # Agents keep their heartbeat connection open between beats (one per host).
        timeout_keep_alive=settings.agent_keepalive_s,
    )
    servers: list[uvicorn.Server] = []
    servers.extend([_LinkedServer(api, servers), _LinkedServer(agents, servers)])

    async def serve_both() -> None:
        # Both listeners run their handlers on this loop's thread pool: its size is what
        # the database pool was sized for (ServerSettings.database_connections).
        to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        await asyncio.gather(*(server.serve() for server in servers))

    asyncio.run(serve_both())


def _raise_open_files_limit() -> None:
    """Raise the soft limit of open files to the hard one: each host keeps a connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            logger.warning("cannot raise the open files limit from %d to %d: %s", soft, hard, exc)
            return
        soft = hard
    logger.info("open files limit: %s (about one per connected host)", soft)


class _LinkedServer(uvicorn.Server):
    """A uvicorn server that stops its siblings too: one signal handler wins, both stop."""

    def __init__(self, config: uvicorn.Config, siblings: list[uvicorn.Server]) -> None:
        super().__init__(config)
        self._siblings = siblings

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        for sibling in self._siblings:
            sibling.should_exit = True
        super().handle_exit(sig, frame)


def _domain_path(text: str) -> str:
    # As login's `domain`: "/", "a/b" and "/a/b/" all name paths the way they are stored.
    inner = text.strip().strip("/")
    return f"/{inner}/" if inner else "/"


def _print_keys(keys: accounts.ApiKeys) -> None:
    print(f"user:       {keys.username}")
    print(f"api key:    {keys.api_key}")
    print(f"secret key: {keys.secret_key}")


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the chosen sub-command with ``environ``'s settings (the process's by default)."""
    args = _parser().parse_args(argv)
    try:
        settings = ServerSettings.from_env(os.environ if environ is None else environ)
    except SettingsError as exc:
        print(f"kvmcloud-server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "ca":
        return _ca(settings, args.action)
    database = _database(settings)
    try:
        return _run(args, settings, database)
    except SecretsError as exc:
        print(f"kvmcloud-server: {exc}", file=sys.stderr)
        return 2
    except InvalidParameterError as exc:
        print(f"kvmcloud-server: {exc.message}", file=sys.stderr)
        return 1
    finally:
        # Close pooled connections now, not at garbage collection (kvmcloud-setup-database
        # runs init in its own process and goes on).
        database.engine.dispose()


def _run(args: argparse.Namespace, settings: ServerSettings, database: Database) -> int:
    if args.command == "init":
        _init_pki(settings)
        password, source = _admin_password(args)
        _print_keys(_init(database, _box(settings, create=True)))
        _set_admin_password(database, password, source)
    elif args.command == "db" and args.action == "upgrade":
        db_migrations.upgrade(database.engine)
    elif args.command == "db" and args.action == "revision":
        db_migrations.write_revision(database.engine, args.message or "schema change")
    elif args.command == "db":
        differences = db_migrations.pending_differences(database.engine)
        for difference in differences:
            print(difference)
        return 1 if differences else 0
    elif args.command == "create-api-key":
        box = _box(settings)
        with database.transaction() as session:
            _print_keys(accounts.regenerate_keys(session, args.user, box, args.domain))
    elif args.command == "create-account":
        box = _box(settings)
        with database.transaction() as session:
            _print_keys(
                accounts.create_user_account(session, args.name, utc_now(), box, args.domain)
            )
    elif args.command == "rotate-key":
        _rotate_key(settings, database)
    else:
        store = _init_pki(settings)
        box = _box(settings)
        _init(database, box)
        database.engine.dispose()
        _serve(settings, store, box)
    return 0


if __name__ == "__main__":
    sys.exit(main())
