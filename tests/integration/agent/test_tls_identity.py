"""TlsIdentity on disk: bootstrap at first start, adopt an issued certificate, renew by CSR."""

import ssl
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kvmcloud import pki
from kvmcloud.agent.tls_identity import IdentityError, TlsIdentity, reset_identity

NOW = datetime.now(UTC)
CA_KEY, CA = pki.new_ca(NOW)


def issue_for(public_key: str, name: str = "h1") -> str:
    return pki.issue(CA_KEY, CA, public_key, common_name=name, addresses=["127.0.0.1"], now=NOW)


def test_first_start_makes_a_private_key_and_a_stable_bootstrap_certificate(tmp_path: Path) -> None:
    first = TlsIdentity.open(tmp_path, NOW)
    again = TlsIdentity.open(tmp_path, NOW)

    assert first.fingerprint == again.fingerprint
    assert not first.issued
    assert stat.S_IMODE((tmp_path / "tls" / "agent.key").stat().st_mode) == 0o600
    assert first.server_context().verify_mode == ssl.CERT_NONE


def test_install_switches_the_listener_to_required_client_certificates(tmp_path: Path) -> None:
    identity = TlsIdentity.open(tmp_path, NOW)
    context = identity.server_context()

    identity.install(issue_for(identity.public_key_pem()), CA)

    assert identity.issued
    assert context.verify_mode == ssl.CERT_REQUIRED  # the same context, changed in place
    assert identity.certificate_validity() is not None


def test_install_refuses_a_certificate_for_another_key(tmp_path: Path) -> None:
    identity = TlsIdentity.open(tmp_path, NOW)

    with pytest.raises(IdentityError, match="not for this agent's key"):
        identity.install(issue_for(pki.public_key_pem(pki.new_key_pem())), CA)
    assert not identity.issued


def test_renewal_keeps_the_new_key_on_the_host(tmp_path: Path) -> None:
    identity = TlsIdentity.open(tmp_path, NOW)
    with pytest.raises(IdentityError, match="not enrolled"):
        identity.begin_renewal()
    identity.install(issue_for(identity.public_key_pem()), CA)
    old_key = (tmp_path / "tls" / "agent.key").read_text()

    csr = identity.begin_renewal()
    with pytest.raises(IdentityError, match="not for this agent's key"):
        identity.finish_renewal(issue_for(pki.public_key_pem(old_key)), CA)
    fingerprint = identity.finish_renewal(issue_for(pki.csr_public_key(csr)), CA)

    new_key = (tmp_path / "tls" / "agent.key").read_text()
    assert new_key != old_key
    assert pki.public_key_pem(new_key) == pki.csr_public_key(csr)
    assert fingerprint == pki.fingerprint((tmp_path / "tls" / "agent.pem").read_text())
    assert not (tmp_path / "tls" / "pending.key").exists()
    with pytest.raises(IdentityError, match="no certificate renewal is pending"):
        identity.finish_renewal(issue_for(pki.csr_public_key(csr)), CA)


def test_reset_makes_a_new_key_at_next_start(tmp_path: Path) -> None:
    identity = TlsIdentity.open(tmp_path, NOW)
    identity.install(issue_for(identity.public_key_pem()), CA)
    before = identity.fingerprint

    reset_identity(tmp_path)
    after = TlsIdentity.open(tmp_path, NOW)

    assert not after.issued
    assert after.fingerprint != before
