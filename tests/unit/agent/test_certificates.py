import base64
import hashlib
import logging
import os
import ssl
import stat
from pathlib import Path

import pytest
import trustme

from kvmcloud.agent import certificates
from kvmcloud.agent.certificates import (
    CertificateRejectedError,
    CertificateStore,
    CertificateStoreError,
    check_alias,
    parse_certificate,
)
from kvmcloud.protocol.agent_messages import CertificateResult
from kvmcloud.protocol.error_codes import ErrorCode


def pem_of(ca: trustme.CA) -> str:
    return ca.cert_pem.bytes().decode("ascii")


def der_of(pem: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem)


def sha256(pem: str) -> str:
    return hashlib.sha256(der_of(pem)).hexdigest()


@pytest.fixture(scope="module")
def pem() -> str:
    return pem_of(trustme.CA())


@pytest.fixture(scope="module")
def other_pem() -> str:
    return pem_of(trustme.CA())


@pytest.fixture
def store(tmp_path: Path) -> CertificateStore:
    return CertificateStore(tmp_path / "certs")


@pytest.mark.parametrize(
    "alias", ["a", "zone-ca", "Zone_CA.2024", "x" * 64, "a..b", "-dash", "ca.pem"]
)
def test_valid_aliases(alias: str) -> None:
    check_alias(alias)


@pytest.mark.parametrize(
    "alias",
    ["", "x" * 65, "../x", "a/b", "/etc/passwd", ".hidden", ".", "..", "a b", "a\nb", "é", "a\0"],
)
def test_invalid_aliases_are_rejected_before_touching_the_disk(
    alias: str, store: CertificateStore, pem: str
) -> None:
    with pytest.raises(
        CertificateRejectedError, match=r"certificate alias .* is not valid"
    ) as setup:
        store.setup(alias, pem)
    with pytest.raises(CertificateRejectedError, match="is not valid") as revoke:
        store.revoke(alias)

    assert setup.value.code is ErrorCode.CERTIFICATE_REJECTED
    assert revoke.value.code is ErrorCode.CERTIFICATE_REJECTED
    assert not store.cert_dir.exists()


def test_setup_writes_a_world_readable_pem_in_a_new_directory(
    store: CertificateStore, pem: str
) -> None:
    old = os.umask(0o077)  # a strict umask must not make the store private
    try:
        result = store.setup("zone-ca", pem)
    finally:
        os.umask(old)

    path = store.cert_dir / "zone-ca.pem"
    assert result == CertificateResult(alias="zone-ca", changed=True, held={"zone-ca": sha256(pem)})
    assert stat.S_IMODE(store.cert_dir.stat().st_mode) == 0o755
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert der_of(path.read_text()) == der_of(pem)
    assert sorted(p.name for p in store.cert_dir.iterdir()) == ["zone-ca.pem"]


def test_setup_is_idempotent_and_does_not_rewrite(store: CertificateStore, pem: str) -> None:
    store.setup("zone-ca", pem)
    path = store.cert_dir / "zone-ca.pem"
    before = path.stat()

    result = store.setup("zone-ca", pem)

    assert result == CertificateResult(
        alias="zone-ca", changed=False, held={"zone-ca": sha256(pem)}
    )
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_same_certificate_with_other_formatting_is_not_a_change(
    store: CertificateStore, pem: str
) -> None:
    store.setup("zone-ca", pem)

    reformatted = "subject: the zone's CA\r\n" + pem.replace("\n", "\r\n") + "\r\n"
    assert not store.setup("zone-ca", reformatted).changed


def test_another_certificate_replaces_the_alias_atomically(
    store: CertificateStore, pem: str, other_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.setup("zone-ca", pem)
    path = store.cert_dir / "zone-ca.pem"
    replaced: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        # At the moment of the rename the old certificate is still whole in place and the
        # new one complete, in the same directory, under a name TrustStore does not read.
        assert der_of(path.read_text()) == der_of(pem)
        assert der_of(Path(src).read_text()) == der_of(other_pem)
        assert Path(src).parent == store.cert_dir
        assert not Path(src).name.endswith(".pem")
        replaced.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(certificates.os, "replace", spy_replace)
    result = store.setup("zone-ca", other_pem)

    assert result.changed
    assert result.held == {"zone-ca": sha256(other_pem)}
    assert replaced and replaced[0][1] == str(path)
    assert der_of(path.read_text()) == der_of(other_pem)
    assert sorted(p.name for p in store.cert_dir.iterdir()) == ["zone-ca.pem"]


def test_a_failed_write_keeps_the_old_certificate_and_leaves_no_temp_file(
    store: CertificateStore, pem: str, other_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.setup("zone-ca", pem)

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(certificates.os, "fsync", no_space)
    with pytest.raises(CertificateStoreError, match="No space left on device") as failed:
        store.setup("zone-ca", other_pem)

    assert failed.value.code is ErrorCode.INTERNAL
    assert sorted(p.name for p in store.cert_dir.iterdir()) == ["zone-ca.pem"]
    assert der_of((store.cert_dir / "zone-ca.pem").read_text()) == der_of(pem)


def test_setup_removes_temp_files_left_by_a_crash(store: CertificateStore, pem: str) -> None:
    store.cert_dir.mkdir()
    (store.cert_dir / ".zone-ca.pem.k3j2h1.tmp").write_text("half a certificate")
    (store.cert_dir / ".other.pem.a1b2c3.tmp").write_text("not this alias's")

    store.setup("zone-ca", pem)

    assert sorted(p.name for p in store.cert_dir.iterdir()) == [
        ".other.pem.a1b2c3.tmp",
        "zone-ca.pem",
    ]


def test_non_ascii_commentary_around_a_stored_certificate_is_fine(
    store: CertificateStore, pem: str
) -> None:
    store.cert_dir.mkdir()
    (store.cert_dir / "hand-placed.pem").write_text("CA de la zone Genève\n" + pem, "utf-8")

    assert store.held() == {"hand-placed": sha256(pem)}


def test_an_unwritable_store_is_a_store_error(tmp_path: Path, pem: str) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")

    with pytest.raises(CertificateStoreError, match="cannot create certificate store"):
        CertificateStore(not_a_dir / "certs").setup("zone-ca", pem)


def test_revoke_removes_and_is_idempotent(
    store: CertificateStore, pem: str, other_pem: str
) -> None:
    store.setup("zone-ca", pem)
    store.setup("other", other_pem)

    first = store.revoke("zone-ca")
    second = store.revoke("zone-ca")

    assert first == CertificateResult(
        alias="zone-ca", changed=True, held={"other": sha256(other_pem)}
    )
    assert second == CertificateResult(
        alias="zone-ca", changed=False, held={"other": sha256(other_pem)}
    )
    assert not (store.cert_dir / "zone-ca.pem").exists()


def test_revoke_of_a_missing_alias_or_store(store: CertificateStore) -> None:
    assert store.revoke("never-set") == CertificateResult(alias="never-set", changed=False)
    assert not store.cert_dir.exists()


def test_held_fingerprints_are_sha256_of_the_der(
    store: CertificateStore, pem: str, other_pem: str
) -> None:
    store.setup("a", pem)
    store.setup("b", other_pem)

    assert store.held() == {
        "a": hashlib.sha256(der_of(pem)).hexdigest(),
        "b": hashlib.sha256(der_of(other_pem)).hexdigest(),
    }
    assert all(value == value.lower() and len(value) == 64 for value in store.held().values())


def test_held_of_a_missing_directory_is_empty(store: CertificateStore) -> None:
    assert store.held() == {}


def test_held_of_a_path_that_is_not_a_directory_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "certs"
    path.write_text("")

    with pytest.raises(CertificateStoreError, match="cannot list certificate store"):
        CertificateStore(path).held()


def test_held_skips_unreadable_files_warning_once_per_problem(
    store: CertificateStore, pem: str, caplog: pytest.LogCaptureFixture
) -> None:
    store.setup("good", pem)
    (store.cert_dir / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    (store.cert_dir / "key.pem").write_bytes(trustme.CA().private_key_pem.bytes())
    (store.cert_dir / "a-dir.pem").mkdir()
    os.mkfifo(store.cert_dir / "fifo.pem")  # must not hang the reader
    (store.cert_dir / "notes.txt").write_text("not *.pem: ignored")

    with caplog.at_level(logging.WARNING, logger="kvmcloud.agent.certificates"):
        first = store.held()
        second = store.held()

    assert first == second == {"good": sha256(pem)}
    warned = sorted(r.getMessage().split()[2] for r in caplog.records)
    assert [Path(name).name for name in warned] == [
        "a-dir.pem",
        "broken.pem",
        "fifo.pem",
        "key.pem",
    ]


def test_a_file_not_managed_by_the_store_is_held_under_its_name(
    store: CertificateStore, pem: str
) -> None:
    store.cert_dir.mkdir()
    (store.cert_dir / "hand-placed.pem").write_text(pem)

    assert store.held() == {"hand-placed": sha256(pem)}


def test_a_store_file_that_turned_bad_is_rewritten(store: CertificateStore, pem: str) -> None:
    store.cert_dir.mkdir()
    (store.cert_dir / "zone-ca.pem").write_text("truncated")

    assert store.setup("zone-ca", pem).changed
    assert store.held() == {"zone-ca": sha256(pem)}


def test_parse_accepts_one_certificate(pem: str) -> None:
    assert parse_certificate(pem) == der_of(pem)


def test_a_leaf_certificate_is_accepted() -> None:
    leaf = trustme.CA().issue_cert("images.example.org")

    pem = leaf.cert_chain_pems[0].bytes().decode("ascii")

    assert parse_certificate(pem) == der_of(pem)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no '-----BEGIN CERTIFICATE-----' line"),
        ("garbage", "holds no '-----BEGIN CERTIFICATE-----' line"),
        ("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n", "malformed"),
        ("-----BEGIN CERTIFICATE-----\nMIIB\n", "malformed"),
        ("-----BEGIN CERTIFICATE-----\nMIIBAA=\n-----END CERTIFICATE-----\n", "cannot be decoded"),
        (
            "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n",
            "not a certificate OpenSSL can read",
        ),
        ("-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n", "is empty"),
        ("-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n", "holds a 'X509 CRL' block"),
        ("-----BEGIN CERTIFICATE\nMIIB\n-----END CERTIFICATE-----\n", "malformed '-----BEGIN'"),
    ],
)
def test_garbage_is_rejected(text: str, message: str) -> None:
    with pytest.raises(CertificateRejectedError, match=message) as rejected:
        parse_certificate(text)

    assert rejected.value.code is ErrorCode.CERTIFICATE_REJECTED


def test_two_certificates_in_one_pem_are_rejected(pem: str, other_pem: str) -> None:
    with pytest.raises(CertificateRejectedError, match="holds 2 PEM blocks; exactly one"):
        parse_certificate(pem + other_pem)


def test_two_certificates_in_one_block_are_rejected(pem: str, other_pem: str) -> None:
    both = base64.encodebytes(der_of(pem) + der_of(other_pem)).decode("ascii")
    text = f"-----BEGIN CERTIFICATE-----\n{both}-----END CERTIFICATE-----\n"

    with pytest.raises(CertificateRejectedError, match="decodes to 2 certificates"):
        parse_certificate(text)


def test_a_private_key_is_rejected() -> None:
    key = trustme.CA().private_key_pem.bytes().decode("ascii")

    with pytest.raises(
        CertificateRejectedError, match="PRIVATE KEY' block, not a CERTIFICATE: never"
    ):
        parse_certificate(key)


def test_a_certificate_with_its_key_is_rejected(pem: str) -> None:
    key = trustme.CA().private_key_pem.bytes().decode("ascii")

    with pytest.raises(CertificateRejectedError, match="holds 2 PEM blocks"):
        parse_certificate(pem + key)


def test_an_oversized_pem_is_rejected(pem: str) -> None:
    with pytest.raises(CertificateRejectedError, match="characters long"):
        parse_certificate(pem + " " * (1024 * 1024))


def test_rejected_setup_leaves_the_store_untouched(store: CertificateStore, pem: str) -> None:
    store.setup("zone-ca", pem)

    with pytest.raises(CertificateRejectedError):
        store.setup("zone-ca", "garbage")

    assert store.held() == {"zone-ca": sha256(pem)}
