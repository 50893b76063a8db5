"""``kvmcloud-setup-database``: make the database and server.conf, then run ``init``."""

import argparse
import os
import pwd
import secrets
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from kvmcloud import env_files
from kvmcloud.server import __main__ as server_cli
from kvmcloud.server.database_setup_rules import (
    DEFAULT_SQLITE_PATH,
    SERVER_CONF_NAME,
    ServerTarget,
    SetupError,
    kept_password,
    mariadb_target,
    postgres_target,
    sql_literal,
    sqlite_url,
)
from kvmcloud.server.sealing import keyfile
from kvmcloud.server.settings import DEFAULT_CONFIG_DIR

PROG = "kvmcloud-setup-database"
SERVICE_USER = "kvmcloud"
_CONNECT_TIMEOUT_S = 10
# What every MariaDB table of kvmcloud names (db_mariadb.TABLE_OPTIONS): the database's
# defaults match it, so that a table or column made by hand does too.
_MARIADB_CHARSET = "utf8mb4"
_MARIADB_COLLATION = "utf8mb4_nopad_bin"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Create kvmcloud's database (and its user), write server.conf, create "
        "the secrets key and the admin account. Safe to run again: what exists is kept.",
    )
    parser.add_argument(
        "--config-dir",
        type=Path,
        default=Path(os.environ.get("KVMCLOUD_CONFIG_DIR") or DEFAULT_CONFIG_DIR),
        help="where server.conf, secrets.key and the agent CA live (/etc/kvmcloud)",
    )
    parser.add_argument(
        "--service-user",
        default=SERVICE_USER,
        help="the user kvmcloud-server runs as, who gets the key, the CA and an SQLite "
        f"database ({SERVICE_USER})",
    )
    parser.add_argument(
        "--admin-password-file",
        type=Path,
        help="set the admin's password from this file's first line (else one is generated "
        "and printed once)",
    )
    engines = parser.add_subparsers(
        dest="engine", required=True, metavar="{sqlite,postgresql,mariadb}"
    )
    sqlite = engines.add_parser("sqlite", help="one file on this machine (one server only)")
    sqlite.add_argument("--path", type=Path, default=DEFAULT_SQLITE_PATH)
    postgres = engines.add_parser("postgresql", help="PostgreSQL (several servers may share it)")
    postgres.add_argument("--host", default="localhost")
    postgres.add_argument("--port", type=int, default=5432)
    postgres.add_argument("--name", default="kvmcloud", help="the database (kvmcloud)")
    postgres.add_argument("--db-user", default="kvmcloud", help="the role the server uses")
    postgres.add_argument(
        "--password-file",
        type=Path,
        help="the role's password, first line (else the one server.conf has, else generated)",
    )
    postgres.add_argument(
        "--deploy-as",
        metavar="ADMIN_URL",
        help="a superuser's URL, e.g. postgresql+psycopg://postgres:secret@localhost/postgres: "
        "creates the role and the database (else they must exist)",
    )
    mariadb = engines.add_parser("mariadb", help="MariaDB (several servers may share it)")
    mariadb.add_argument("--host", default="localhost", help="localhost: the unix socket")
    mariadb.add_argument("--port", type=int, default=3306)
    mariadb.add_argument("--name", default="kvmcloud", help="the database (kvmcloud)")
    mariadb.add_argument("--db-user", default="kvmcloud", help="the user the server uses")
    mariadb.add_argument(
        "--db-user-host",
        default="%",
        help="where that user may connect from, with --deploy-as (%%: anywhere)",
    )
    mariadb.add_argument(
        "--password-file",
        type=Path,
        help="the user's password, first line (else the one server.conf has, else generated)",
    )
    mariadb.add_argument(
        "--deploy-as",
        metavar="ADMIN_URL",
        help="an administrator's URL, e.g. mysql+mysqldb://root@localhost/mysql?unix_socket="
        "/run/mysqld/mysqld.sock: creates the database and the user, and grants it the "
        "database (else they must exist)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Set the database up; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _setup(args)
    except (SetupError, env_files.EnvFileError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1


def _setup(args: argparse.Namespace) -> int:
    config_dir: Path = args.config_dir
    if not config_dir.is_absolute():
        raise SetupError(f"--config-dir must be absolute, not {str(config_dir)!r}")
    owner = _owner(args.service_user)
    _make_dir(config_dir, owner, mode=0o750, group_only=True)
    conf = config_dir / SERVER_CONF_NAME
    old = conf.read_text(encoding="utf-8") if conf.exists() else ""
    existing = env_files.parse(old)
    if args.engine == "sqlite":
        url = sqlite_url(args.path)
        _make_dir(args.path.parent, owner, mode=0o750, group_only=False)
    else:
        url = _server(args, existing.get("KVMCLOUD_DATABASE_URL")).url()
    new = env_files.set_values(
        old, {"KVMCLOUD_DATABASE_URL": url, "KVMCLOUD_CONFIG_DIR": str(config_dir)}
    )
    if new != old:
        _write_conf(conf, new, owner)
        print(f"{PROG}: wrote {conf}", file=sys.stderr)
    else:
        print(f"{PROG}: {conf} is up to date", file=sys.stderr)
    environ = {**os.environ, **env_files.parse(new)}
    init = ["init"]
    if args.admin_password_file is not None:
        init += ["--admin-password-file", str(args.admin_password_file)]
    if server_cli.main(init, environ) != 0:
        raise SetupError("kvmcloud-server init failed (see above)")
    if owner is not None:
        _hand_over(config_dir, args.path if args.engine == "sqlite" else None, owner)
    print(
        f"{PROG}: done; start the server with `systemctl restart kvmcloud-management`",
        file=sys.stderr,
    )
    return 0


def _owner(user: str) -> tuple[int, int] | None:
    """The uid and gid files must belong to, or None when they are the caller's already."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SetupError(
            f"there is no user {user!r}: install kvmcloud-management (which creates it), "
            "or give --service-user the user kvmcloud-server runs as"
        ) from None
    if entry.pw_uid == os.geteuid():
        return None
    if os.geteuid() != 0:
        raise SetupError(f"run as root: the files it makes must belong to {user!r}")
    return entry.pw_uid, entry.pw_gid


def _make_dir(path: Path, owner: tuple[int, int] | None, *, mode: int, group_only: bool) -> None:
    if path.is_dir():
        if owner is not None and group_only:
            # /etc/kvmcloud: root's, readable by the server's group only.
            os.chown(path, 0, owner[1])
            path.chmod(mode)
        return
    path.mkdir(mode=mode, parents=True)
    if owner is not None:
        os.chown(path, 0 if group_only else owner[0], owner[1])


def _server(args: argparse.Namespace, existing_url: str | None) -> ServerTarget:
    """Check (with --deploy-as: first create) the PostgreSQL or MariaDB database."""
    make_target = mariadb_target if args.engine == "mariadb" else postgres_target
    probe = make_target(args.host, args.port, args.name, args.db_user, "-")
    password = _read_first_line(args.password_file) if args.password_file else None
    password = password or kept_password(existing_url, probe) or secrets.token_urlsafe(24)
    target = make_target(args.host, args.port, args.name, args.db_user, password)
    if args.deploy_as:
        if args.engine == "mariadb":
            _deploy_mariadb(args.deploy_as, target, args.db_user_host)
        else:
            _deploy(args.deploy_as, target)
    _check_connection(target)
    return target


def _connect_args(url: str) -> dict[str, object]:
    arguments: dict[str, object] = {"connect_timeout": _CONNECT_TIMEOUT_S}
    if url.startswith(("mysql", "mariadb")) and "charset=" not in url:
        arguments["charset"] = _MARIADB_CHARSET
    return arguments


def _engine(url: str, **options: Any) -> Engine:
    try:
        return create_engine(url, connect_args=_connect_args(url), **options)
    except ImportError as exc:
        # The driver is an optional extra (mysqlclient for MariaDB, psycopg for PostgreSQL).
        raise SetupError(
            f"the database driver {exc.name or 'module'!r} is not installed: install kvmcloud "
            "with the extra of this engine (mariadb or postgres), or use the Debian packages"
        ) from None


def _deploy_mariadb(admin_url: str, target: ServerTarget, user_host: str) -> None:
    """Create the database and the user unless they exist, set the password, grant."""
    if not user_host or len(user_host) > 255:
        raise SetupError(f"--db-user-host {user_host!r} is not a host, address or pattern")
    if not admin_url.startswith(("mysql", "mariadb")):
        raise SetupError("--deploy-as must be a mysql+mysqldb:// URL for mariadb")
    engine = _engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            # The names are checked identifiers; the user, host and password are bound
            # (mysqlclient quotes them for the connection's SQL mode).
            connection.exec_driver_sql(
                f"CREATE DATABASE IF NOT EXISTS `{target.name}`"
                f" CHARACTER SET {_MARIADB_CHARSET} COLLATE {_MARIADB_COLLATION}"
            )
            account = (target.user, user_host)
            connection.exec_driver_sql(
                "CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (*account, target.password)
            )
            connection.exec_driver_sql(
                "ALTER USER %s@%s IDENTIFIED BY %s", (*account, target.password)
            )
            # The migrations create, alter and drop tables, indexes and virtual columns.
            connection.exec_driver_sql(
                f"GRANT ALL PRIVILEGES ON `{target.name}`.* TO %s@%s", account
            )
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc)
        raise SetupError(
            f"--deploy-as: cannot create the database and the user: {reason.strip()}"
        ) from None
    finally:
        engine.dispose()


def _deploy(admin_url: str, target: ServerTarget) -> None:
    """Create (or update) the role and create the database unless it exists."""
    try:
        engine = create_engine(
            admin_url,
            isolation_level="AUTOCOMMIT",
            connect_args={"connect_timeout": _CONNECT_TIMEOUT_S},
        )
        try:
            with engine.connect() as connection:
                role = connection.execute(
                    text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": target.user}
                ).first()
                verb = "ALTER" if role else "CREATE"
                # DDL takes no bound parameters: the name is a checked identifier, the password
                # a quoted literal.
                connection.exec_driver_sql(
                    f'{verb} ROLE "{target.user}" LOGIN PASSWORD {sql_literal(target.password)}'
                )
                database = connection.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.name}
                ).first()
                if not database:
                    connection.exec_driver_sql(
                        f'CREATE DATABASE "{target.name}" OWNER "{target.user}"'
                    )
        finally:
            engine.dispose()
    except (SQLAlchemyError, ValueError) as exc:
        raise SetupError(f"--deploy-as: cannot create the role and database: {exc}") from None


def _check_connection(target: ServerTarget) -> None:
    engine = _engine(target.url())
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        # DBAPIError carries the driver's own message, without SQLAlchemy's footer.
        reason = str(getattr(exc, "orig", None) or exc)
        mariadb = target.driver.startswith("mysql")
        who, admin = ("user", "an administrator") if mariadb else ("role", "a superuser")
        raise SetupError(
            f"cannot connect to database {target.name!r} on {target.host}:{target.port} as "
            f"{target.user!r}: {reason.strip()}; create the {who} and the database, or give "
            f"--deploy-as with {admin}'s URL"
        ) from None
    finally:
        engine.dispose()


def _read_first_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SetupError(f"cannot read {path}: {exc.strerror}") from None
    if not lines or not lines[0]:
        raise SetupError(f"{path} holds nothing on its first line")
    return lines[0]


def _write_conf(conf: Path, content: str, owner: tuple[int, int] | None) -> None:
    # It holds the database password: root's, readable by the server's group, replaced
    # whole so that a reader never sees half of it.
    temporary = conf.with_name(f".{conf.name}.new")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(content)
    if owner is not None:
        os.chown(temporary, 0, owner[1])
    os.replace(temporary, conf)


def _hand_over(config_dir: Path, sqlite_path: Path | None, owner: tuple[int, int]) -> None:
    """Give the server's user what it reads and writes: the key, the CA, an SQLite file."""
    uid, gid = owner
    paths = [keyfile.key_file_path(config_dir)]
    pki = config_dir / "pki"
    if pki.is_dir():
        paths += [pki, *sorted(pki.rglob("*"))]
    if sqlite_path is not None:
        paths += [
            sqlite_path.with_name(sqlite_path.name + suffix)
            for suffix in ("", "-wal", "-shm", "-journal")
        ]
    for path in paths:
        if path.exists():
            os.chown(path, uid, gid)


if __name__ == "__main__":
    sys.exit(main())
