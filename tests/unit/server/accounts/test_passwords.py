"""Password hashing: PBKDF2-SHA256, salted, constant-time verify, no clear text stored."""

import base64

from kvmcloud.server.accounts.passwords import (
    ITERATIONS,
    MAX_PASSWORD_CHARS,
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)

FAST = 1000  # tests of the format need not pay the production iteration count


def test_hash_verifies_the_right_password_only() -> None:
    stored = hash_password("correct horse", iterations=FAST)
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert not verify_password("", stored)


def test_hash_holds_no_clear_text_and_is_salted_per_call() -> None:
    first = hash_password("s3cret-pass", iterations=FAST)
    second = hash_password("s3cret-pass", iterations=FAST)
    assert "s3cret-pass" not in first
    assert first != second
    assert first.startswith(f"pbkdf2_sha256${FAST}$")


def test_default_iteration_count_is_high_and_recorded() -> None:
    stored = hash_password("x")
    assert stored.split("$")[1] == str(ITERATIONS)
    assert ITERATIONS >= 600_000
    assert not needs_rehash(stored)
    assert needs_rehash(hash_password("x", iterations=FAST))


def test_known_vector_with_a_fixed_salt() -> None:
    # RFC 7914 section 11 test vector for PBKDF2-HMAC-SHA256 ("passwd", "salt", 1 iteration).
    stored = hash_password("passwd", salt=b"salt", iterations=1)
    digest = bytes.fromhex(
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
    )[:32]
    assert stored.split("$")[3] == base64.b64encode(digest).decode()


def test_no_or_malformed_hash_never_matches() -> None:
    assert not verify_password("anything", None)
    assert not verify_password("anything", "")
    assert not verify_password("anything", "plain-text-password")
    assert not verify_password("anything", "pbkdf2_sha256$abc$AAAA$AAAA")
    assert not verify_password("anything", "pbkdf2_sha256$1000$not base64!$AAAA")
    assert not verify_password("anything", "pbkdf2_sha256$0$AAAA$AAAA")


def test_overlong_password_is_refused_without_hashing() -> None:
    stored = hash_password("a" * (MAX_PASSWORD_CHARS + 1), iterations=FAST)
    assert not verify_password("a" * (MAX_PASSWORD_CHARS + 1), stored)


def test_generated_passwords_are_long_and_distinct() -> None:
    one, two = generate_password(), generate_password()
    assert one != two and len(one) >= 24
