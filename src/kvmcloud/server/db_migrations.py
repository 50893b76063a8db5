"""Upgrade the schema to head and check models and migrations agree (Alembic, programmatic)."""

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from kvmcloud.server import models_index
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
    """Return differences between the models and the upgraded schema (empty when in step)."""
    models_index.load_all()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))
