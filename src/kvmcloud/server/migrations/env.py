"""Alembic environment: runs migrations on the connection or URL given by kvmcloud.server.db_migrations."""

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, create_engine

from kvmcloud.server import db_mariadb, models_index
from kvmcloud.server.db import Base, StrEnumType

models_index.load_all()
config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run migrations with a live connection; SQLite needs batch mode to alter tables."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)


def _render_item(kind: str, obj: Any, _autogen_context: AutogenContext) -> str | Literal[False]:
    # Enum columns are plain strings in the schema; the enum lives in the model only.
    if kind == "type" and isinstance(obj, StrEnumType):
        return f"sa.String(length={obj.length})"
    return False


def _run(connection: Connection) -> None:
    mariadb = db_mariadb.is_mariadb(connection)
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
        # MariaDB's live-name indexes differ from the models by design (db_mariadb).
        include_object=db_mariadb.include_in_comparison if mariadb else None,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
