"""Upgrade the schema to head and check models and migrations agree (Alembic, programmatic)."""

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from kvmcloud.server import db_mariadb, models_index
from kvmcloud.server.db import Base

SCRIPT_LOCATION = "kvmcloud.server:migrations"


def alembic_config(url: str) -> Config:
    """Build Alembic's configuration without an ini file."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine) -> None:
    """Apply every pending migration."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def write_revision(engine: Engine, message: str) -> None:
    """Autogenerate a new revision from the difference between models and ``engine``."""
    models_index.load_all()
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        # Numbered ids (0001, 0002, …) keep the history readable in a directory listing.
        versions = Path(__file__).parent / "migrations" / "versions"
        number = len(list(versions.glob("[0-9][0-9][0-9][0-9]_*.py"))) + 1
        command.revision(config, message=message, autogenerate=True, rev_id=f"{number:04d}")


def pending_differences(engine: Engine) -> list[object]:
    """Return differences between the models and the upgraded schema (empty when in step).

    On MariaDB the live-name indexes differ from the models by design (db_mariadb): they
    are checked on their own instead.
    """
    models_index.load_all()
    mariadb = engine.dialect.name in db_mariadb.DIALECTS
    with engine.connect() as connection:
        opts: dict[str, object] = {"compare_type": True}
        if mariadb:
            opts["include_object"] = db_mariadb.include_in_comparison
        context = MigrationContext.configure(connection, opts=opts)
        differences: list[object] = list(compare_metadata(context, Base.metadata))
        if mariadb:
            differences.extend(_live_index_differences(engine))
        return differences


def _live_index_differences(engine: Engine) -> list[object]:
    inspector = inspect(engine)
    found: list[object] = []
    for name, (table, live) in db_mariadb.LIVE_UNIQUE_INDEXES.items():
        model = next(index for index in Base.metadata.tables[table].indexes if index.name == name)
        expected = [*[column.name for column in model.columns][:-1], live]
        indexes = {index["name"]: index for index in inspector.get_indexes(table)}
        index = indexes.get(name)
        if index is None or list(index["column_names"]) != expected or not index["unique"]:
            found.append(("live_unique_index", table, name, expected, index))
    return found
