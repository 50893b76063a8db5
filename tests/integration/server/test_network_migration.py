"""The guest-networks migration: zones made before it get their physical network."""

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from kvmcloud.server.db_migrations import alembic_config


def _revisions(config: object) -> tuple[str, str]:
    """This migration's revision and the one before it, found by its file name."""
    script = ScriptDirectory.from_config(config)  # type: ignore[arg-type]
    for revision in script.walk_revisions():
        if revision.path.endswith("_guest_networks.py"):
            down = revision.down_revision
            assert isinstance(down, str)
            return revision.revision, down
    raise AssertionError("no guest networks migration")


def test_existing_zones_get_a_physical_network_and_downgrade_drops_the_tables(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    config = alembic_config(url)
    ours, before = _revisions(config)
    command.upgrade(config, before)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for zone_id, name in ((1, "old1"), (2, "old2")):
            connection.execute(
                sa.text(
                    "INSERT INTO data_center (id, uuid, name, networktype, allocation_state, "
                    "local_storage_enabled, created) VALUES (:id, :uuid, :name, 'Advanced', "
                    "'Enabled', 0, '2026-01-01 00:00:00')"
                ),
                {
                    "id": zone_id,
                    "uuid": f"00000000-0000-4000-8000-00000000000{zone_id}",
                    "name": name,
                },
            )

    command.upgrade(config, ours)

    with engine.connect() as connection:
        physical = connection.execute(
            sa.text("SELECT id, data_center_id, name, state FROM physical_network ORDER BY id")
        ).all()
        assert [(row[1], row[2], row[3]) for row in physical] == [
            (1, "Physical Network 1", "Enabled"),
            (2, "Physical Network 2", "Enabled"),
        ]
        traffic = connection.execute(
            sa.text(
                "SELECT physical_network_id, traffic_type FROM physical_network_traffic_types "
                "ORDER BY physical_network_id, traffic_type"
            )
        ).all()
        assert [tuple(row) for row in traffic] == [
            (physical[0][0], "Guest"),
            (physical[0][0], "Management"),
            (physical[1][0], "Guest"),
            (physical[1][0], "Management"),
        ]
        offerings = connection.execute(
            sa.text("SELECT name, state, is_default FROM network_offerings ORDER BY id")
        ).all()
        assert [row[0] for row in offerings] == [
            "DefaultL2NetworkOffering",
            "DefaultSharedNetworkOffering",
            "DefaultIsolatedNetworkOfferingWithSourceNatService",
        ]
        assert {(row[1], bool(row[2])) for row in offerings} == {("Enabled", True)}

    command.downgrade(config, before)
    tables = set(sa.inspect(engine).get_table_names())
    assert not tables & {"physical_network", "physical_network_traffic_types", "networks"}
    assert "network_offerings" not in tables
    engine.dispose()
