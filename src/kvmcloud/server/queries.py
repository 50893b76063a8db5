"""Query helpers every feature uses: a live row by uuid, rows by id, one page, the page window."""

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Select, false, func, inspect, select
from sqlalchemy.orm import Session

from kvmcloud.server.configuration.definitions import DEFAULT_PAGE_SIZE
from kvmcloud.server.configuration.service import get_value
from kvmcloud.server.errors import NotFoundError
from kvmcloud.server.paging import PageRequest, PageWindow, page_window

M = TypeVar("M")


def get_by_uuid(session: Session, model: type[M], uuid: str, *, command: str, param: str) -> M:
    """Load a live object by uuid or raise CloudStack's 431 naming the parameter."""
    query = select(model).where(model.uuid == uuid)  # type: ignore[attr-defined]
    if hasattr(model, "removed"):
        query = query.where(model.removed.is_(None))  # type: ignore[attr-defined]
    row = session.scalars(query).first()
    if row is None:
        raise NotFoundError(command, param, uuid)
    return row


def get_by_uuid_if_given(
    session: Session, model: type[M], uuid: str | None, *, command: str, param: str
) -> M | None:
    """Like get_by_uuid for an optional parameter: None when no uuid was given."""
    return get_by_uuid(session, model, uuid, command=command, param=param) if uuid else None


def table_columns(model: type[Any], names: Sequence[str]) -> tuple[Column[Any], ...]:
    """Return the table columns behind ``model``'s attributes ``names``, in that order.

    A select of table columns (no ORM attribute or entity) is a plain Core query: its rows
    skip the ORM's per-row loading, which is most of a 500-row page's time.
    """
    mapped = inspect(model).columns
    return tuple(mapped[name] for name in names)


def known_uuids(session: Session, column: Any, uuids: Iterable[str]) -> set[str]:
    """Return which of ``uuids`` are in ``column``, removed rows included (as CloudStack)."""
    wanted = set(uuids)
    return set(session.scalars(select(column).where(column.in_(wanted)))) if wanted else set()


def rows_by_id(session: Session, model: type[M], ids: Iterable[int | None]) -> dict[int, M]:
    """Load the rows of ``model`` with these ids (None skipped) in one query, keyed by id."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.scalars(select(model).where(model.id.in_(wanted)))  # type: ignore[attr-defined]
    return {row.id: row for row in rows}  # type: ignore[attr-defined]


def keep(rows: dict[int, M], row: M | None) -> None:
    """Add ``row`` to ``rows`` by id; None (an outer join's missing side) is skipped."""
    if row is not None:
        rows[row.id] = row  # type: ignore[attr-defined]


def paged(session: Session, query: Select[M], window: PageWindow) -> tuple[list[M], int]:
    """Run ``query`` for one page and count every match."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(session.scalars(query.offset(window.offset).limit(window.limit)))
    return rows, total


def matches_enum(column: Any, enum_cls: type[StrEnum], text: str) -> ColumnElement[bool]:
    """Filter an enum column by a caller's text, in any case; no member matches nothing.

    CloudStack answers a list filtered by an unknown state or type with an empty list.
    """
    wanted = text.strip().lower()
    member = next((m for m in enum_cls if m.value.lower() == wanted), None)
    return false() if member is None else column == member


def list_window(session: Session, request: PageRequest) -> PageWindow:
    """Apply CloudStack's paging rules to a list command, bounded by default.page.size."""
    return page_window(request.page, request.page_size, get_value(session, DEFAULT_PAGE_SIZE))
