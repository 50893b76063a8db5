import ssl
from pathlib import Path

import pytest
import trustme

from kvmcloud.agent.downloads.tls import TrustStore, describe_tls_error

WHERE = "images.example.org:443 for https://images.example.org/t.qcow2"


def verification_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    error.verify_code = code
    error.verify_message = message
    return error


def describe(error: ssl.SSLError) -> str:
    return describe_tls_error(
        error, host="images.example.org", port=443, url="https://images.example.org/t.qcow2"
    )


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (20, "unable to get local issuer certificate"),
        (19, "self-signed certificate in certificate chain"),
        (18, "self-signed certificate"),
        (21, "unable to verify the first certificate"),
        (2, "unable to get issuer certificate"),
    ],
)
def test_unknown_issuer_says_to_upload_the_ca(code, message):
    text = describe(verification_error(code, message))

    assert text == (
        f"the TLS certificate of {WHERE} is signed by an unknown authority ({message}); "
        "upload its CA with uploadTemplateDirectDownloadCertificate so that the hosts trust it"
    )


def test_expired():
    text = describe(verification_error(10, "certificate has expired"))
    assert text.startswith(f"the TLS certificate of {WHERE} has expired")
    assert "renew" in text


def test_not_yet_valid_points_at_the_clocks():
    text = describe(verification_error(9, "certificate is not yet valid"))
    assert "is not yet valid" in text
    assert "clocks" in text


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (62, "Hostname mismatch, certificate is not valid for 'images.example.org'."),
        (64, "IP address mismatch, certificate is not valid for '10.0.0.1'."),
    ],
)
def test_name_mismatch(code, message):
    text = describe(verification_error(code, message))
    assert "is not valid for the name 'images.example.org'" in text
    assert message in text


def test_other_verification_errors_keep_openssl_words_and_code():
    text = describe(verification_error(23, "certificate revoked"))
    assert text == (
        f"the TLS certificate of {WHERE} was refused: certificate revoked (OpenSSL verify error 23)"
    )


def test_handshake_failures_that_are_not_about_the_certificate():
    error = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    error.reason = "WRONG_VERSION_NUMBER"
    assert describe(error) == f"TLS handshake with {WHERE} failed: WRONG_VERSION_NUMBER"


# TrustStore --------------------------------------------------------------------------------


def test_context_always_verifies_and_checks_host_names(tmp_path: Path) -> None:
    context = TrustStore(tmp_path).ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN


def test_store_certificates_are_added_to_the_system_ones(tmp_path: Path) -> None:
    baseline = len(TrustStore(None).ssl_context().get_ca_certs())
    for alias in ("one", "two"):
        (tmp_path / f"{alias}.pem").write_bytes(trustme.CA().cert_pem.bytes())

    context = TrustStore(tmp_path).ssl_context()

    assert len(context.get_ca_certs()) == baseline + 2


def test_store_is_read_afresh_for_each_context(tmp_path: Path) -> None:
    store = TrustStore(tmp_path)
    before = len(store.ssl_context().get_ca_certs())
    (tmp_path / "new.pem").write_bytes(trustme.CA().cert_pem.bytes())

    assert len(store.ssl_context().get_ca_certs()) == before + 1


def test_missing_directory_means_system_cas_only(tmp_path: Path) -> None:
    assert TrustStore(tmp_path / "absent").certificate_files() == []
    TrustStore(tmp_path / "absent").ssl_context()


def test_only_regular_pem_files_are_candidates(tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_bytes(b"x")
    (tmp_path / "b.crt").write_bytes(b"x")
    (tmp_path / "dir.pem").mkdir()

    assert TrustStore(tmp_path).certificate_files() == [tmp_path / "a.pem"]
