"""Secrets at rest (issue 12, defect 7): the SQLite file and its WAL hold no secret in clear.

Each test drives the real `kvmcloud-server` commands (init, create-account, rotate-key)
on a real SQLite file and key file, and the real app in-process with fake agents.
"""

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from starlette.testclient import TestClient

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server import db_migrations, resealing
from kvmcloud.server.__main__ import main
from kvmcloud.server.accounts.service import ApiKeys
from kvmcloud.server.app import build_services, create_agent_app, create_app
from kvmcloud.server.db import Database, make_engine
from kvmcloud.server.errors import AuthenticationError
from kvmcloud.server.infrastructure.service import authenticate_agent
from kvmcloud.server.sealing import keyfile
from kvmcloud.server.sealing.box import SecretBox, header_context, is_sealed
from kvmcloud.server.settings import ServerSettings
from tests.fakes import FakeAgentClient, FakeClock
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness, build_cloud
from tests.integration.server.test_vms import register

HEADER_VALUE = "Bearer header-token-6f1c2e9a7b"
SHA256 = "{SHA-256}" + "ab" * 32


class Installation:
    """A database file and a configuration directory, driven through the CLI."""

    def __init__(
        self, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ):
        self.db_path = root / "var" / "kvmcloud.db"
        self.config_dir = root / "etc"
        self.key_path = self.config_dir / keyfile.KEY_FILE_NAME
        self._capsys = capsys
        monkeypatch.setenv("KVMCLOUD_DATABASE_URL", f"sqlite:///{self.db_path}")
        monkeypatch.setenv("KVMCLOUD_CONFIG_DIR", str(self.config_dir))
        monkeypatch.setenv("KVMCLOUD_LOG_LEVEL", "WARNING")

    def cli(self, *argv: str) -> tuple[int, str, str]:
        self._capsys.readouterr()
        code = main(list(argv))
        out, err = self._capsys.readouterr()
        return code, out, err

    def keys(self, *argv: str) -> ApiKeys:
        code, out, err = self.cli(*argv)
        assert code == 0, err
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return ApiKeys(
            fields["user"].strip(), fields["api key"].strip(), fields["secret key"].strip()
        )

    @property
    def settings(self) -> ServerSettings:
        return ServerSettings(
            database_url=f"sqlite:///{self.db_path}", job_workers=1, config_dir=self.config_dir
        )

    @contextmanager
    def server(
        self, admin: ApiKeys, agents: FakeAgentClient | None = None
    ) -> Iterator[ServerHarness]:
        clock, agents = FakeClock(), agents or FakeAgentClient()
        services = build_services(self.settings, agents=agents, clock=clock)
        app = create_app(services, run_background=False)
        agent_app = create_agent_app(services, require_client_certificate=False)
        try:
            with TestClient(app) as client, TestClient(agent_app) as agent_api:
                yield ServerHarness(services, client, agent_api, agents, clock, admin)
        finally:
            services.db.engine.dispose()

    def raw_bytes(self) -> dict[str, bytes]:
        files = [self.db_path, self.db_path.with_name(self.db_path.name + "-wal")]
        return {path.name: path.read_bytes() for path in files if path.exists()}

    def stored(self) -> dict[str, list[str]]:
        engine = make_engine(f"sqlite:///{self.db_path}")
        try:
            with engine.connect() as connection:
                return {
                    "secret_key": list(
                        connection.scalars(text("SELECT secret_key FROM user ORDER BY id"))
                    ),
                    "agent_key": list(connection.scalars(text("SELECT agent_key FROM host"))),
                    "header": list(
                        connection.scalars(
                            text(
                                "SELECT value FROM vm_template_details "
                                "WHERE name LIKE 'HTTP_HEADER:%'"
                            )
                        )
                    ),
                }
        finally:
            engine.dispose()


@pytest.fixture
def install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Installation:
    return Installation(tmp_path, monkeypatch, capsys)


def register_with_header(server: ServerHarness, cloud: Cloud) -> str:
    header = {"details[0].HTTP_HEADER:Authorization": HEADER_VALUE}
    return register(server, cloud, checksum=SHA256, **header)


def downloaded_headers(server: ServerHarness, cloud: Cloud, template_id: str) -> dict[str, str]:
    """Prepare the template on the pool and return the headers the agent was sent."""
    server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    server.run_jobs()
    downloads = server.agents.agents[AGENT_URL].sent(msg.DirectDownloadCommand)
    assert downloads, "no DirectDownloadCommand reached the agent"
    return dict(downloads[-1].headers)


def heartbeat_status(server: ServerHarness, cloud: Cloud, key: str) -> int:
    agent = server.agents.agents[AGENT_URL]
    beat = msg.Heartbeat(host_uuid=cloud.host_id, report=agent.report)
    response = server.agent_api.post(
        "/agent/v1/heartbeat",
        content=msg.to_json(beat),
        headers={"Authorization": f"Bearer {key}", "X-Kvmcloud-Host": cloud.host_id},
    )
    return response.status_code


def assert_not_in_files(install: Installation, secrets: list[str]) -> None:
    files = install.raw_bytes()
    assert install.db_path.name in files
    for name, data in files.items():
        for secret in secrets:
            assert secret.encode() not in data, f"a secret is in clear in {name}"


def test_no_secret_is_in_the_sqlite_file_or_its_wal(install: Installation) -> None:
    admin = install.keys("init")
    alice = install.keys("create-account", "alice")
    assert stat.S_IMODE(install.key_path.stat().st_mode) == 0o600
    with install.server(admin) as server:
        cloud = build_cloud(server)
        agent_key = server.agents.agents[AGENT_URL].key
        template_id = register_with_header(server, cloud)
        listed = server.ok("listTemplates", templatefilter="all", id=template_id)["template"][0]
        assert listed["details"] == {"HTTP_HEADER:Authorization": "******"}
        # Decrypted only where the agent needs it: in the download command.
        assert downloaded_headers(server, cloud, template_id) == {"Authorization": HEADER_VALUE}
        # Signing with a secret still authenticates; the agent key still heartbeats.
        assert server.call("listZones", alice)[0] == 200
        assert heartbeat_status(server, cloud, agent_key) == 200
        assert heartbeat_status(server, cloud, "stolen") == 401
        # What every agent route calls before it reads a body: the sealed key still checks.
        with server.db.transaction() as session:
            assert authenticate_agent(session, cloud.host_id, agent_key).uuid == cloud.host_id
            with pytest.raises(AuthenticationError):
                authenticate_agent(session, cloud.host_id, "stolen")
        secrets = [admin.secret_key, alice.secret_key, agent_key, HEADER_VALUE]
        files = install.raw_bytes()
        assert len(files) == 2, "the WAL should exist while the server runs"
        # The grep reads the right bytes: the public api key is in the file.
        assert any(admin.api_key.encode() in data for data in files.values())
        assert_not_in_files(install, secrets)
    assert_not_in_files(install, secrets)
    stored = install.stored()
    assert all(is_sealed(v) for values in stored.values() for v in values)


def test_init_never_overwrites_the_key_file(install: Installation) -> None:
    admin = install.keys("init")
    before = install.key_path.read_bytes()
    again = install.keys("init")
    assert install.key_path.read_bytes() == before
    assert again == admin


def test_a_key_file_others_can_read_is_refused(install: Installation) -> None:
    install.keys("init")
    os.chmod(install.key_path, 0o640)
    code, _, err = install.cli("create-account", "bob")
    assert code == 2 and "chmod 600" in err
    with pytest.raises(keyfile.KeyFileError, match="group or others"):
        build_services(install.settings)


def test_without_the_key_file_nothing_starts(install: Installation) -> None:
    install.keys("init")
    install.key_path.rename(install.key_path.with_name("elsewhere"))
    code, _, err = install.cli("create-account", "bob")
    assert code == 2 and "does not exist" in err
    # init makes a new key, but the database's secrets were sealed under the lost one.
    code, _, err = install.cli("init")
    assert code == 2 and "which the key file does not hold" in err


def test_rotation_reseals_everything_and_the_old_key_can_go(install: Installation) -> None:
    admin = install.keys("init")
    alice = install.keys("create-account", "alice")
    with install.server(admin) as server:
        cloud = build_cloud(server)
        fake = server.agents
        template_id = register_with_header(server, cloud)
    old = keyfile.load_box(install.key_path)

    code, out, err = install.cli("rotate-key")

    assert code == 0, err
    new = keyfile.load_box(install.key_path)
    assert set(new.keys) == {new.current} and new.current != old.current
    assert f"retired key(s): {old.current}" in out
    assert stat.S_IMODE(install.key_path.stat().st_mode) == 0o600
    stored = install.stored()
    assert sum(len(v) for v in stored.values()) == 4
    assert all(new.is_current(v) for values in stored.values() for v in values)
    # Only the new key is on disk now, and everything still works with it.
    assert old.keys[old.current] not in install.key_path.read_bytes()
    agent_key = fake.agents[AGENT_URL].key
    with install.server(admin, fake) as server:
        assert server.call("listZones", alice)[0] == 200
        assert heartbeat_status(server, cloud, agent_key) == 200
        assert downloaded_headers(server, cloud, template_id) == {"Authorization": HEADER_VALUE}
    assert_not_in_files(install, [admin.secret_key, alice.secret_key, agent_key, HEADER_VALUE])


def test_an_interrupted_rotation_is_finished_by_running_it_again(install: Installation) -> None:
    admin = install.keys("init")
    with install.server(admin) as server:
        build_cloud(server)
    # Crash after the new key was written and one table re-sealed.
    during = keyfile.add_key(install.key_path)
    assert len(during.keys) == 2
    db = Database(make_engine(f"sqlite:///{install.db_path}"))
    resealing._seal_secret_keys(db, during)
    assert resealing.count_not_current(db, during) == 1

    code, _, err = install.cli("rotate-key")

    assert code == 0, err
    after = keyfile.load_box(install.key_path)
    assert after.current == during.current and list(after.keys) == [during.current]
    assert resealing.count_not_current(db, after) == 0
    # Idempotent: nothing is left to seal.
    assert resealing.seal_all(db, after).total == 0
    db.engine.dispose()
    with install.server(admin) as server:
        assert server.call("listZones")[0] == 200


def test_the_upgrade_seals_the_plaintext_rows_of_an_old_database(install: Installation) -> None:
    admin = install.keys("init")
    with install.server(admin) as server:
        cloud = build_cloud(server)
        fake = server.agents
        template_id = register_with_header(server, cloud)
    agent_key = fake.agents[AGENT_URL].key
    box = keyfile.load_box(install.key_path)
    _make_it_an_old_database(install, box, admin, agent_key)
    assert install.stored()["secret_key"] == [admin.secret_key]
    assert HEADER_VALUE.encode() in b"".join(install.raw_bytes().values())

    code, _, err = install.cli("init")

    assert code == 0, err
    stored = install.stored()
    assert all(box.is_current(v) for values in stored.values() for v in values)
    assert_not_in_files(install, [admin.secret_key, agent_key, HEADER_VALUE])
    engine = make_engine(f"sqlite:///{install.db_path}")
    assert not db_migrations.pending_differences(engine)
    engine.dispose()
    with install.server(admin, fake) as server:
        assert server.call("listZones")[0] == 200
        assert heartbeat_status(server, cloud, agent_key) == 200
        assert downloaded_headers(server, cloud, template_id) == {"Authorization": HEADER_VALUE}


def _make_it_an_old_database(
    install: Installation, box: SecretBox, admin: ApiKeys, agent_key: str
) -> None:
    """Go back to the schema before 0006 and put the secrets back in clear, as it stored them."""
    engine = make_engine(f"sqlite:///{install.db_path}")
    config = db_migrations.alembic_config(str(engine.url))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE user SET secret_key = :s WHERE api_key = :a"),
            {"s": admin.secret_key, "a": admin.api_key},
        )
        connection.execute(text("UPDATE host SET agent_key = :k"), {"k": agent_key})
        rows = connection.execute(
            text(
                "SELECT d.id, d.name, d.value, t.uuid FROM vm_template_details d "
                "JOIN vm_template t ON t.id = d.template_id WHERE d.name LIKE 'HTTP_HEADER:%'"
            )
        ).all()
        for detail_id, name, value, template_uuid in rows:
            plain = box.open(value, header_context(template_uuid, name))
            connection.execute(
                text("UPDATE vm_template_details SET value = :v WHERE id = :i"),
                {"v": plain, "i": detail_id},
            )
    engine.dispose()
