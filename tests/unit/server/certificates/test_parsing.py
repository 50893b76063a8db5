"""parse_certificate, alias and hypervisor rules, validity text (pure)."""

import base64
import ssl
from datetime import UTC, datetime, timedelta

import pytest
import trustme

from kvmcloud.server.certificates.parsing import (
    check_alias,
    check_hypervisor,
    fingerprint_of,
    parse_certificate,
    validity_text,
)
from kvmcloud.server.errors import InvalidParameterError, OperationFailedError

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def ca_pem(**kwargs) -> str:
    return trustme.CA(**kwargs).cert_pem.bytes().decode()


def test_pem_is_parsed() -> None:
    pem = ca_pem()
    parsed = parse_certificate(pem, NOW)
    assert parsed.pem.startswith("-----BEGIN CERTIFICATE-----\n")
    assert parsed.version == 3
    assert "O=trustme" in parsed.subject and parsed.subject == parsed.issuer
    assert int(parsed.serial) > 0
    assert len(parsed.fingerprint) == 64
    assert parsed.not_before < NOW < parsed.not_after


def test_bare_base64_is_wrapped_into_pem() -> None:
    pem = ca_pem()
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    parsed = parse_certificate(body, NOW)
    assert parsed.pem == parse_certificate(pem, NOW).pem
    lines = parsed.pem.strip().splitlines()
    assert all(len(line) <= 64 for line in lines)
    # Also on one line with no padding tricks: the DER itself, base64 once.
    der = ssl.PEM_cert_to_DER_cert(pem)
    assert parse_certificate(base64.b64encode(der).decode(), NOW).fingerprint == parsed.fingerprint
    assert fingerprint_of(body) == parsed.fingerprint


@pytest.mark.parametrize(
    "text",
    ["", "XXXXXXXXXXXXXXXXXXXXXXXXXXXX", "not base64 at all!", base64.b64encode(b"junk").decode()],
)
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(OperationFailedError) as info:
        parse_certificate(text, NOW)
    assert info.value.error_code == 530
    assert info.value.message.startswith(
        "Cannot parse the certificate provided, please provide a PEM certificate. Error: "
    )


def test_private_key_or_two_blocks_refused() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert("origin.test")
    with_key = leaf.private_key_and_cert_chain_pem.bytes().decode()
    with pytest.raises(OperationFailedError, match="exactly one PEM CERTIFICATE"):
        parse_certificate(with_key, NOW)
    chain = leaf.cert_chain_pems[0].bytes().decode() + ca.cert_pem.bytes().decode()
    with pytest.raises(OperationFailedError, match="exactly one"):
        parse_certificate(chain, NOW)


def leaf_pem(not_before: datetime, not_after: datetime) -> str:
    leaf = trustme.CA().issue_cert("origin.test", not_before=not_before, not_after=not_after)
    return leaf.cert_chain_pems[0].bytes().decode()


def test_expired_and_not_yet_valid_refused() -> None:
    expired = leaf_pem(NOW - timedelta(days=30), NOW - timedelta(days=1))
    with pytest.raises(OperationFailedError, match="has expired") as info:
        parse_certificate(expired, NOW)
    assert info.value.error_code == 530
    assert info.value.message.startswith(
        "Certificate is invalid. Please provide a valid certificate. Error: the certificate has "
        "expired (valid until "
    )
    future = leaf_pem(NOW + timedelta(days=1), NOW + timedelta(days=30))
    with pytest.raises(OperationFailedError, match="not valid yet"):
        parse_certificate(future, NOW)


def test_dates_of_a_generated_certificate() -> None:
    ca = trustme.CA()
    leaf = ca.issue_cert(
        "origin.test",
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=1),
    )
    pem = leaf.cert_chain_pems[0].bytes().decode()
    assert parse_certificate(pem, NOW).not_after == NOW + timedelta(days=1)
    with pytest.raises(OperationFailedError, match="expired"):
        parse_certificate(pem, NOW + timedelta(days=2))


@pytest.mark.parametrize("alias", ["a", "my-ca", "ca_1.2", "X" * 64, "-x", "cloudy"])
def test_good_aliases(alias: str) -> None:
    assert check_alias(alias) == alias


@pytest.mark.parametrize(
    "alias", ["", ".hidden", "a/b", "../x", "a b", "é", "X" * 65, "cloud", "Cloud", "cloudca-1"]
)
def test_bad_and_reserved_aliases(alias: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        check_alias(alias)
    assert info.value.param == "name"


def test_hypervisor_must_be_kvm() -> None:
    assert check_hypervisor("kvm") == "KVM"
    with pytest.raises(InvalidParameterError, match="Currently supporting KVM hosts only"):
        check_hypervisor("VMware")


def test_validity_text_is_javas() -> None:
    text = validity_text(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2098, 12, 31, 23, 59, tzinfo=UTC)
    )
    assert text == "From: [Thu Jan 01 00:00:00 UTC 2026] - To: [Wed Dec 31 23:59:00 UTC 2098]"


def test_an_alias_with_a_trailing_newline_is_refused() -> None:
    from kvmcloud.server.certificates.parsing import check_alias

    with pytest.raises(InvalidParameterError):
        check_alias("abc\n")
