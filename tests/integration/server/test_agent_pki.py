"""AgentPki on disk: init makes the CA once, the server certificate is renewed when due."""

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kvmcloud import pki
from kvmcloud.server.agent_pki import AgentPki, PkiStoreError

NOW = datetime.now(UTC)


def test_init_makes_private_files_once(tmp_path: Path) -> None:
    store = AgentPki.init(tmp_path / "pki", ["mgmt.example"], NOW)
    ca = store.ca_pem
    again = AgentPki.init(tmp_path / "pki", ["mgmt.example"], NOW)

    assert again.ca_pem == ca
    for name in ("ca.key", "server.key", "ca.pem", "server.pem"):
        assert stat.S_IMODE((tmp_path / "pki" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "pki").stat().st_mode) == 0o700
    (server,) = (i for i in store.describe() if i.name == "server")
    assert server.subject == pki.SERVER_COMMON_NAME
    assert {"mgmt.example", "localhost", "127.0.0.1"} <= set(server.addresses)


def test_server_certificate_is_renewed_when_due_or_when_a_name_is_missing(tmp_path: Path) -> None:
    store = AgentPki.init(tmp_path, ["a.example"], NOW)

    assert not store.ensure_server_certificate(["a.example"], NOW + timedelta(days=200))
    assert store.ensure_server_certificate(["a.example"], NOW + timedelta(days=250))
    assert store.ensure_server_certificate(["b.example"], NOW + timedelta(days=250))
    assert store.ensure_server_certificate(["b.example"], NOW, force=True)


def test_load_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PkiStoreError, match="kvmcloud-server init"):
        AgentPki.load(tmp_path)


def test_issued_agent_certificate_verifies_against_the_ca(tmp_path: Path) -> None:
    store = AgentPki.init(tmp_path, [], NOW)
    key = pki.new_key_pem()

    cert = store.issue_agent_certificate(
        pki.public_key_pem(key), host_uuid="h", address="10.1.2.3", now=NOW
    )

    pki.check_issued(cert, store.ca_pem, key)
    with pytest.raises(PkiStoreError):
        store.issue_agent_certificate("junk", host_uuid="h", address="x", now=NOW)
