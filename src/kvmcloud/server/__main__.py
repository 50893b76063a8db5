"""`kvmcloud-server`: serve | init | db … | create-api-key | create-account | rotate-key."""

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn

from kvmcloud.server import db_migrations, resealing
from kvmcloud.server.accounts import service as accounts
from kvmcloud.server.app import build_services, create_app, utc_now
from kvmcloud.server.configuration.service import seed_definitions
from kvmcloud.server.db import Database, make_engine
from kvmcloud.server.sealing import keyfile
from kvmcloud.server.sealing.box import SecretBox, SecretsError
from kvmcloud.server.settings import ServerSettings, SettingsError
from kvmcloud.server.templates.guest_os import seed_guest_os

logger = logging.getLogger("kvmcloud.server")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvmcloud-server", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the API and run jobs (upgrades the schema first)")
    sub.add_parser("init", help="create or upgrade the database and print the admin's API keys")
    db = sub.add_parser("db", help="schema maintenance")
    db.add_argument("action", choices=["upgrade", "check", "revision"])
    db.add_argument("message", nargs="?", help="what a new revision changes (db revision)")
    keys = sub.add_parser("create-api-key", help="replace a user's API keys and print them")
    keys.add_argument("--user", default=accounts.ADMIN_NAME)
    account = sub.add_parser("create-account", help="create a non-admin account and print its keys")
    account.add_argument("name")
    sub.add_parser(
        "rotate-key",
        help="seal every secret under a new key, then retire the old one (safe to re-run)",
    )
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


def _print_keys(keys: accounts.ApiKeys) -> None:
    print(f"user:       {keys.username}")
    print(f"api key:    {keys.api_key}")
    print(f"secret key: {keys.secret_key}")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sub-command."""
    args = _parser().parse_args(argv)
    try:
        settings = ServerSettings.from_env(os.environ)
    except SettingsError as exc:
        print(f"kvmcloud-server: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    database = _database(settings)
    try:
        return _run(args, settings, database)
    except SecretsError as exc:
        print(f"kvmcloud-server: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: ServerSettings, database: Database) -> int:
    if args.command == "init":
        _print_keys(_init(database, _box(settings, create=True)))
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
            _print_keys(accounts.regenerate_keys(session, args.user, box))
    elif args.command == "create-account":
        box = _box(settings)
        with database.transaction() as session:
            _print_keys(accounts.create_user_account(session, args.name, utc_now(), box))
    elif args.command == "rotate-key":
        _rotate_key(settings, database)
    else:
        box = _box(settings)
        _init(database, box)
        database.engine.dispose()
        services = build_services(settings, box=box)
        app = create_app(services)
        uvicorn.run(app, host=settings.listen_host, port=settings.listen_port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
