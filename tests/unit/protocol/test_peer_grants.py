"""Peer grants: signed with the serving host's key, refused when altered or expired."""

import dataclasses

import pytest

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.peer_grants import GrantRefusedError, check_grant, sign_grant

GRANT = msg.PeerGrant(
    pool=msg.PoolSpec(uuid="p", type=msg.PoolType.FILESYSTEM, path="/var/lib/pool"),
    name="copy",
    size_bytes=10,
    checksum="{SHA-256}" + "00" * 32,
    max_rate_bytes=0,
    max_uploads=2,
    expires_s=2000.0,
)


def test_a_signed_grant_checks_and_survives_the_wire() -> None:
    signed = sign_grant(GRANT, "host-key")
    decoded = msg.from_json(msg.PeerGrant, msg.to_json(signed))
    check_grant(decoded, "host-key", now_s=1999.0)
    assert "host-key" not in repr(signed) and signed.signature not in repr(signed)


@pytest.mark.parametrize(
    "change",
    [
        {"name": "other-file"},
        {"size_bytes": 11},
        {"max_uploads": 64},
        {"expires_s": 9999.0},
        {"pool": msg.PoolSpec(uuid="p", type=msg.PoolType.FILESYSTEM, path="/")},
    ],
)
def test_any_change_breaks_the_signature(change: dict[str, object]) -> None:
    altered = dataclasses.replace(sign_grant(GRANT, "host-key"), **change)  # type: ignore[arg-type]
    with pytest.raises(GrantRefusedError, match="not signed"):
        check_grant(altered, "host-key", now_s=0.0)


def test_another_hosts_key_and_expiry_are_refused() -> None:
    with pytest.raises(GrantRefusedError, match="not signed"):
        check_grant(sign_grant(GRANT, "host-key"), "other-key", now_s=0.0)
    with pytest.raises(GrantRefusedError, match="expired"):
        check_grant(sign_grant(GRANT, "host-key"), "host-key", now_s=2000.5)
    with pytest.raises(GrantRefusedError, match="not signed"):
        check_grant(GRANT, "host-key", now_s=0.0)
