"""Read and change global settings and zone overrides; seed missing rows with defaults."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kvmcloud.protocol.agent_messages import EgressRules
from kvmcloud.protocol.egress import EgressPolicy
from kvmcloud.server.configuration.definitions import (
    BY_NAME,
    DEFAULT_PAGE_SIZE,
    DEFINITIONS,
    EGRESS_ALLOW,
    EGRESS_DENY,
    ConfigKey,
    ConfigValueError,
    Scope,
)
from kvmcloud.server.configuration.models import ConfigurationValue, ZoneConfigurationValue
from kvmcloud.server.db import Database
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.paging import PageRequest, page_window

T = TypeVar("T")

FindZone = Callable[[Session, str, str], int]
"""``find_zone(session, zone_uuid, command)`` → the zone's id, or 431 naming ``zoneid``."""


@dataclass(frozen=True, slots=True)
class Setting:
    """A setting as listed or updated: its row, and the zone's own view when asked per zone.

    ``zone_uuid`` set: ``value`` is what the zone uses (its override, else the global
    value).
    """

    row: ConfigurationValue
    value: str | None
    zone_uuid: str | None = None


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
                    scope=key.scope.value,
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


def get_zone_value(session: Session, key: ConfigKey[T], zone_id: int) -> T:
    """Return the typed value of a zone-scoped ``key`` in a zone: its own, else the global."""
    row = session.get(ZoneConfigurationValue, (zone_id, key.name))
    if row is not None:
        try:
            return key.parse(row.value)
        except ConfigValueError:
            pass
    return get_value(session, key)


def egress_rules(session: Session, zone_id: int) -> EgressRules:
    """Return the egress allow and deny entries of a zone, as commands carry them."""
    allow: tuple[str, ...] = get_zone_value(session, EGRESS_ALLOW, zone_id)
    deny: tuple[str, ...] = get_zone_value(session, EGRESS_DENY, zone_id)
    return EgressRules(allow=list(allow), deny=list(deny))


def egress_policy(session: Session, zone_id: int) -> EgressPolicy:
    """Return the egress policy of a zone (entries are validated when they are stored)."""
    rules = egress_rules(session, zone_id)
    return EgressPolicy.parse(rules.allow, rules.deny)


def list_configurations(
    db: Database,
    page: PageRequest,
    *,
    name: str | None,
    category: str | None,
    keyword: str | None,
    zone_uuid: str | None = None,
    find_zone: FindZone | None = None,
) -> tuple[list[Setting], int]:
    """Return one page of the settings matching the filters, ordered by name, and the total.

    With ``zone_uuid``, only zone-scoped settings, each with the zone's value (as
    CloudStack's listConfigurations zoneid=…). The page is bounded by default.page.size
    read here: server.queries builds on this module, so it cannot serve it.
    """
    query = select(ConfigurationValue)
    if zone_uuid is not None:
        query = query.where(ConfigurationValue.scope == Scope.ZONE.value)
    if name:
        query = query.where(ConfigurationValue.name == name)
    if category:
        query = query.where(ConfigurationValue.category == category)
    if keyword:
        query = query.where(ConfigurationValue.name.contains(keyword))
    with db.transaction() as session:
        zone_id = _zone_id(session, zone_uuid, find_zone, "listConfigurations")
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        window = page_window(page.page, page.page_size, get_value(session, DEFAULT_PAGE_SIZE))
        query = query.order_by(ConfigurationValue.name).offset(window.offset).limit(window.limit)
        rows = list(session.scalars(query))
        if zone_id is None:
            return [Setting(row, row.value) for row in rows], total
        overrides = _zone_values(session, zone_id)
        return [Setting(row, overrides.get(row.name, row.value), zone_uuid) for row in rows], total


def update_configuration(
    db: Database,
    name: str,
    value: str | None,
    clock: Callable[[], datetime],
    *,
    zone_uuid: str | None = None,
    find_zone: FindZone | None = None,
) -> Setting:
    """Change a global setting, or a zone's own value of a zone-scoped one.

    No value restores the default (globally) or the global value (in the zone).

    Raises:
        InvalidParameterError: unknown name or zone, a global setting given a zone, or a
            value the setting cannot take.
    """
    key = BY_NAME.get(name)
    with db.transaction() as session:
        zone_id = _zone_id(session, zone_uuid, find_zone, "updateConfiguration")
        if zone_id is None:
            text = value if value is not None else (key.default if key else "")
            row = update_value(session, name, text, clock())
            return Setting(row, row.value)
        row = update_zone_value(session, name, value, zone_id, clock())
        return Setting(row, _zone_values(session, zone_id).get(name, row.value), zone_uuid)


def update_zone_value(
    session: Session, name: str, value: str | None, zone_id: int, now: datetime
) -> ConfigurationValue:
    """Validate and store a zone's own value of a zone-scoped setting (None: remove it).

    Returns the setting's global row.

    Raises:
        InvalidParameterError: unknown name, a global setting, or a bad value.
    """
    key = BY_NAME.get(name)
    row = session.get(ConfigurationValue, name)
    if key is None or row is None:
        raise InvalidParameterError("name", f"Configuration {name!r} does not exist")
    if key.scope is not Scope.ZONE:
        raise InvalidParameterError("zoneid", f"Configuration {name} is global: it takes no zoneid")
    override = session.get(ZoneConfigurationValue, (zone_id, name))
    if value is None:
        if override is not None:
            session.delete(override)
            session.flush()
        return row
    try:
        key.parse(value)
    except ConfigValueError as exc:
        raise InvalidParameterError("value", f"Invalid value for {name}: {value!r} {exc}") from None
    if override is None:
        override = ZoneConfigurationValue(zone_id=zone_id, name=name, value=value.strip())
        session.add(override)
    override.value = value.strip()
    override.updated = now
    session.flush()
    return row


def _zone_id(
    session: Session, zone_uuid: str | None, find_zone: FindZone | None, command: str
) -> int | None:
    if zone_uuid is None:
        return None
    assert find_zone is not None, "a zone uuid needs find_zone"
    return find_zone(session, zone_uuid, command)


def _zone_values(session: Session, zone_id: int) -> dict[str, str]:
    rows = session.scalars(
        select(ZoneConfigurationValue).where(ZoneConfigurationValue.zone_id == zone_id)
    )
    return {row.name: row.value for row in rows}


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
