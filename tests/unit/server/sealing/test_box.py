"""SecretBox: round trip, wrong key, tampering, contexts, key ids and rotation."""

import base64

import pytest

from kvmcloud.server.sealing.box import (
    SEALED_PREFIX,
    SealedValueError,
    SecretBox,
    SecretsError,
    UnknownKeyError,
    agent_key_context,
    agent_key_digest,
    header_context,
    is_sealed,
    key_id_of,
    new_key,
    user_secret_context,
)

OLD, NEW = "0000aaaa", "1111bbbb"
CONTEXT = user_secret_context("5d0f3c1e-0000-4000-8000-000000000001")


def box(current: str = OLD, **keys: bytes) -> SecretBox:
    return SecretBox(keys or {current: new_key()}, current=current)


def test_round_trip_in_the_versioned_text_format() -> None:
    sealer = box()
    sealed = sealer.seal("the-secret-key", CONTEXT)
    assert sealed.startswith(f"{SEALED_PREFIX}{OLD}:")
    assert "the-secret-key" not in sealed
    assert is_sealed(sealed) and key_id_of(sealed) == OLD
    assert sealer.open(sealed, CONTEXT) == "the-secret-key"


def test_each_seal_uses_a_fresh_nonce() -> None:
    sealer = box()
    assert sealer.seal("same", CONTEXT) != sealer.seal("same", CONTEXT)


def test_the_empty_string_and_unicode_round_trip() -> None:
    sealer = box()
    for text in ("", "Bearer ünïcødé ✓"):
        assert sealer.open(sealer.seal(text, CONTEXT), CONTEXT) == text


def test_another_key_with_the_same_id_does_not_open() -> None:
    sealed = box().seal("s", CONTEXT)
    with pytest.raises(SealedValueError, match="does not open"):
        box().open(sealed, CONTEXT)


def test_a_value_under_a_key_the_box_lacks_names_the_key_id() -> None:
    sealed = box(OLD).seal("s", CONTEXT)
    with pytest.raises(UnknownKeyError, match=OLD):
        box(NEW).open(sealed, CONTEXT)


@pytest.mark.parametrize("position", [0, 12, -1])
def test_a_tampered_ciphertext_does_not_open(position: int) -> None:
    sealer = box()
    sealed = sealer.seal("secret", CONTEXT)
    prefix, token = sealed.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[position] ^= 0x01
    tampered = f"{prefix}:{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    with pytest.raises(SealedValueError):
        sealer.open(tampered, CONTEXT)


def test_a_value_moved_to_another_column_or_row_does_not_open() -> None:
    sealer = box()
    sealed = sealer.seal("secret", agent_key_context("host-a"))
    for context in (
        agent_key_context("host-b"),
        user_secret_context("host-a"),
        header_context("host-a", "HTTP_HEADER:Authorization"),
    ):
        with pytest.raises(SealedValueError, match="another column or row"):
            sealer.open(sealed, context)


def test_headers_are_bound_to_their_template_and_name() -> None:
    sealer = box()
    sealed = sealer.seal("Bearer t", header_context("t1", "HTTP_HEADER:Authorization"))
    with pytest.raises(SealedValueError):
        sealer.open(sealed, header_context("t1", "HTTP_HEADER:X-Other"))
    with pytest.raises(SealedValueError):
        sealer.open(sealed, header_context("t2", "HTTP_HEADER:Authorization"))


def test_relabelling_the_key_id_does_not_open() -> None:
    key = new_key()
    sealer = SecretBox({OLD: key, NEW: key}, current=OLD)
    sealed = sealer.seal("secret", CONTEXT)
    relabelled = sealed.replace(f":{OLD}:", f":{NEW}:", 1)
    with pytest.raises(SealedValueError):
        sealer.open(relabelled, CONTEXT)


@pytest.mark.parametrize(
    "value", ["plain-secret", "enc:v1:", f"enc:v1:{OLD}:!!!", f"enc:v1:{OLD}:"]
)
def test_clear_or_malformed_values_are_refused(value: str) -> None:
    with pytest.raises(SealedValueError):
        box().open(value, CONTEXT)


def test_errors_never_contain_the_row_or_the_value() -> None:
    sealed = box().seal("hunter2", agent_key_context("host-uuid-1"))
    with pytest.raises(SealedValueError) as caught:
        box().open(sealed, agent_key_context("host-uuid-1"))
    assert "host-uuid-1" not in str(caught.value) and "hunter2" not in str(caught.value)
    assert "host.agent_key" in str(caught.value)


def test_rotation_opens_old_values_and_seals_new_ones_under_the_new_key() -> None:
    old_key, new_key_material = new_key(), new_key()
    before = SecretBox({OLD: old_key}, current=OLD)
    sealed_old = before.seal("s", CONTEXT)
    during = SecretBox({NEW: new_key_material, OLD: old_key}, current=NEW)
    assert during.open(sealed_old, CONTEXT) == "s"
    assert not during.is_current(sealed_old)
    resealed = during.seal(during.open(sealed_old, CONTEXT), CONTEXT)
    assert key_id_of(resealed) == NEW and during.is_current(resealed)
    after = SecretBox({NEW: new_key_material}, current=NEW)
    assert after.open(resealed, CONTEXT) == "s"
    with pytest.raises(UnknownKeyError):
        after.open(sealed_old, CONTEXT)


def test_is_current_is_false_for_clear_values() -> None:
    assert not box().is_current("plain")


@pytest.mark.parametrize(
    ("keys", "current"),
    [
        ({OLD: b"short"}, OLD),
        ({"NOT-HEX!": bytes(32)}, "NOT-HEX!"),
        ({OLD: bytes(32)}, NEW),
    ],
)
def test_unusable_keys_are_refused(keys: dict[str, bytes], current: str) -> None:
    with pytest.raises(SecretsError):
        SecretBox(keys, current=current)


def test_the_box_repr_shows_no_key_material() -> None:
    key = bytes(range(32))
    assert repr(key) not in repr(SecretBox({OLD: key}, current=OLD))


def test_agent_key_digest_is_hex_sha256_and_stable() -> None:
    digest = agent_key_digest("k")
    assert digest == agent_key_digest("k") != agent_key_digest("K")
    assert len(digest) == 64 and int(digest, 16) >= 0
