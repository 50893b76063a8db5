"""SQLite engines gather planner statistics themselves (PRAGMA optimize), no ANALYZE needed."""

from pathlib import Path

import pytest
from sqlalchemy import text

from kvmcloud.server import db
from kvmcloud.server.db import make_engine


def test_a_queried_table_gets_statistics_when_its_connection_is_checked_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every check-in is due (else at most one a second per connection).
    monkeypatch.setattr(db, "SQLITE_OPTIMIZE_EVERY_S", 0.0)
    engine = make_engine(f"sqlite:///{tmp_path / 'stats.db'}", pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, owner INTEGER)"))
            connection.execute(text("CREATE INDEX ix_t_owner ON t (owner)"))
            connection.execute(text("INSERT INTO t (owner) VALUES (:owner)"), [{"owner": 1}] * 2000)
        # The planner would have liked statistics for this one: the check-in analyses it.
        with engine.connect() as connection:
            connection.execute(text("SELECT id FROM t WHERE owner = 1 ORDER BY id")).all()
        with engine.connect() as connection:
            stats = connection.execute(
                text("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_t_owner'")
            ).scalar_one()
    finally:
        engine.dispose()

    # 2,000 rows, 2,000 per owner: one owner, so the index narrows nothing.
    assert stats == "2000 2000"
