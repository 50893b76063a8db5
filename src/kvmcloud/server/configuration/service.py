"""Read and change global settings; seed missing rows with their defaults."""

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kvmcloud.server.configuration.definitions import (
    BY_NAME,
    DEFAULT_PAGE_SIZE,
    DEFINITIONS,
    ConfigKey,
    ConfigValueError,
)
from kvmcloud.server.configuration.models import ConfigurationValue
from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.paging import PageRequest, page_window

T = TypeVar("T")


def seed_definitions(session: Session, now: datetime) -> None:
    """Insert a row with the default value for every setting that has none yet."""
    existing = set(session.scalars(select(ConfigurationValue.name)))
    for key in DEFINITIONS:
        if key.name not in existing:
            session.add(
                ConfigurationValue(
                    name=key.name,
                    value=key.default,
                    category=key.category,
                    description=key.description,
                    default_value=key.default,
                    is_dynamic=key.is_dynamic,
                    updated=now,
                )
            )


def get_value(session: Session, key: ConfigKey[T]) -> T:
    """Return the typed current value of ``key`` (its default when unset or unparsable)."""
    row = session.get(ConfigurationValue, key.name)
    text = row.value if row is not None and row.value is not None else key.default
    try:
        return key.parse(text)
    except ConfigValueError:
        return key.parse(key.default)


def list_configurations(
    db: Database,
    page: PageRequest,
    *,
    name: str | None,
    category: str | None,
    keyword: str | None,
) -> tuple[list[ConfigurationValue], int]:
    """Return one page of the settings matching the filters, ordered by name, and the total.

    The page is bounded by default.page.size read here: server.queries builds on this
    module, so it cannot serve it.
    """
    query = select(ConfigurationValue)
    if name:
        query = query.where(ConfigurationValue.name == name)
    if category:
        query = query.where(ConfigurationValue.category == category)
    if keyword:
        query = query.where(ConfigurationValue.name.contains(keyword))
    with db.transaction() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        window = page_window(page.page, page.page_size, get_value(session, DEFAULT_PAGE_SIZE))
        query = query.order_by(ConfigurationValue.name).offset(window.offset).limit(window.limit)
        return list(session.scalars(query)), total


def update_configuration(
    db: Database, name: str, value: str | None, clock: Callable[[], datetime]
) -> ConfigurationValue:
    """Change a global setting; no value restores its default.

    Raises:
        InvalidParameterError: unknown name, or a value the setting cannot take.
    """
    key = BY_NAME.get(name)
    text = value if value is not None else (key.default if key else "")
    with db.transaction() as session:
        return update_value(session, name, text, clock())


def update_value(session: Session, name: str, value: str, now: datetime) -> ConfigurationValue:
    """Validate and store a new value for a known setting.

    Raises:
        InvalidParameterError: unknown name, or a value the setting cannot take.
    """
    key = BY_NAME.get(name)
    row = session.get(ConfigurationValue, name)
    if key is None or row is None:
        raise InvalidParameterError("name", f"Configuration {name!r} does not exist")
    try:
        key.parse(value)
    except ConfigValueError as exc:
        raise InvalidParameterError("value", f"Invalid value for {name}: {value!r} {exc}") from None
    row.value = value.strip()
    row.updated = now
    return row
