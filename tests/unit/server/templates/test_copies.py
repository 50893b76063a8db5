"""Which INSERT creates a template's pool copy on each database (no database needed)."""

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from kvmcloud.server.templates.copies import insert_skipping_duplicates


def test_postgresql_and_sqlite_have_their_own_insert() -> None:
    assert insert_skipping_duplicates("postgresql") is postgresql.insert
    assert insert_skipping_duplicates("sqlite") is sqlite.insert


@pytest.mark.parametrize("dialect", ["mysql", "mariadb", "oracle"])
def test_another_database_fails_loudly(dialect: str) -> None:
    with pytest.raises(NotImplementedError, match=f"dialect '{dialect}'"):
        insert_skipping_duplicates(dialect)
