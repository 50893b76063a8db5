"""Session tokens and expiry: idle and absolute timeouts, hashes only, domain paths."""

from datetime import UTC, datetime, timedelta

from kvmcloud.server.accounts.session_rules import (
    MAX_TOKEN_CHARS,
    domain_path,
    expiry_cutoffs,
    is_expired,
    is_plausible_token,
    key_matches,
    new_tokens,
    token_hash,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def expired(created_s: float, seen_s: float, now_s: float) -> bool:
    return is_expired(
        created=T0 + timedelta(seconds=created_s),
        last_seen=T0 + timedelta(seconds=seen_s),
        now=T0 + timedelta(seconds=now_s),
        idle_s=1800,
        absolute_s=28800,
    )


def test_idle_timeout_counts_from_the_last_use() -> None:
    assert not expired(0, 0, 1799)
    assert expired(0, 0, 1800)
    assert not expired(0, 1000, 2799)
    assert expired(0, 1000, 2800)


def test_absolute_timeout_ends_even_a_busy_session() -> None:
    assert not expired(0, 28790, 28799)
    assert expired(0, 28799, 28800)


def test_cutoffs_agree_with_the_rule() -> None:
    idle, absolute = expiry_cutoffs(T0, idle_s=10, absolute_s=100)
    assert idle == T0 - timedelta(seconds=10)
    assert absolute == T0 - timedelta(seconds=100)


def test_tokens_are_random_and_stored_as_hashes() -> None:
    one, two = new_tokens(), new_tokens()
    assert len({one.session_id, one.session_key, two.session_id, two.session_key}) == 4
    assert len(one.session_id) >= 43
    stored = token_hash(one.session_key)
    assert one.session_key not in stored and len(stored) == 64
    assert key_matches(one.session_key, stored)
    assert not key_matches(two.session_key, stored)
    assert one.session_id not in repr(one)


def test_plausible_tokens() -> None:
    assert is_plausible_token("abc")
    assert not is_plausible_token("")
    assert not is_plausible_token(None)
    assert not is_plausible_token("x" * (MAX_TOKEN_CHARS + 1))


def test_domain_paths_follow_cloudstack() -> None:
    assert domain_path(None) == "/"
    assert domain_path("") == "/"
    assert domain_path("/") == "/"
    assert domain_path("sub") == "/sub/"
    assert domain_path("/a/b") == "/a/b/"
