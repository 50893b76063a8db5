from datetime import UTC, datetime, timedelta

import pytest

from kvmcloud import pki

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca() -> tuple[str, str]:
    return pki.new_ca(NOW)


def test_ca_lives_ten_years(ca: tuple[str, str]) -> None:
    not_before, not_after = pki.validity(ca[1])

    assert not_after - not_before >= timedelta(days=3650)
    assert pki.common_name(ca[1]) == pki.CA_COMMON_NAME


def test_issued_certificate_names_what_the_ca_chose(ca: tuple[str, str]) -> None:
    key = pki.new_key_pem()
    cert = pki.issue(
        *ca, pki.public_key_pem(key), common_name="host-1", addresses=["10.0.0.5", "kvm1"], now=NOW
    )

    pki.check_issued(cert, ca[1], key)
    assert pki.common_name(cert) == "host-1"
    assert sorted(pki.subject_addresses(cert)) == ["10.0.0.5", "kvm1"]
    assert pki.validity(cert)[1] == NOW + pki.DEFAULT_LIFETIME


def test_certificate_never_outlives_its_ca() -> None:
    short_ca = pki.new_ca(NOW, lifetime=timedelta(days=30))
    cert = pki.issue(
        *short_ca, pki.public_key_pem(pki.new_key_pem()), common_name="h", addresses=[], now=NOW
    )

    assert pki.validity(cert)[1] <= pki.validity(short_ca[1])[1]


def test_check_issued_refuses_another_key_or_another_ca(ca: tuple[str, str]) -> None:
    key, other_key = pki.new_key_pem(), pki.new_key_pem()
    cert = pki.issue(*ca, pki.public_key_pem(key), common_name="h", addresses=[], now=NOW)
    other_ca = pki.new_ca(NOW)

    with pytest.raises(pki.PkiError, match="not for this agent's key"):
        pki.check_issued(cert, ca[1], other_key)
    with pytest.raises(pki.PkiError, match="not signed by the CA"):
        pki.check_issued(cert, other_ca[1], key)


def test_csr_proves_the_key_and_bootstrap_cert_carries_it() -> None:
    key = pki.new_key_pem()
    bootstrap = pki.self_signed(key, NOW)

    assert pki.csr_public_key(pki.make_csr(key)) == pki.public_key_pem(key)
    assert pki.certificate_public_key(bootstrap) == pki.public_key_pem(key)
    assert len(pki.fingerprint(bootstrap)) == 64
    with pytest.raises(pki.PkiError):
        pki.csr_public_key("not a csr")


@pytest.mark.parametrize(
    ("days_in", "due"), [(0, False), (240, False), (244, True), (365, True), (400, True)]
)
def test_renewal_is_due_with_a_third_of_the_lifetime_left(days_in: int, due: bool) -> None:
    not_before = NOW
    not_after = NOW + timedelta(days=365)

    assert pki.renewal_due(not_before, not_after, NOW + timedelta(days=days_in)) is due


def test_garbage_is_a_pki_error() -> None:
    with pytest.raises(pki.PkiError):
        pki.fingerprint("-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n")
    with pytest.raises(pki.PkiError):
        pki.public_key_pem("no key")
    with pytest.raises(pki.PkiError):
        pki.der_to_pem(b"\x00")
