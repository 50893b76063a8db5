"""Peer grants: sign and check the server's leave for a peer to serve one copy (pure)."""

import dataclasses
import hashlib
import hmac
import json

from kvmcloud.protocol.agent_messages import PeerGrant, to_plain


class GrantRefusedError(Exception):
    """A grant is not signed with this host's key, or has expired."""


def grant_payload(grant: PeerGrant) -> bytes:
    """Return the bytes the signature covers: every field but the signature, canonical JSON."""
    plain = to_plain(dataclasses.replace(grant, signature=""))
    assert isinstance(plain, dict)
    plain.pop("signature", None)
    return json.dumps(plain, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign_grant(grant: PeerGrant, host_key: str) -> PeerGrant:
    """Return ``grant`` signed with the serving host's agent key."""
    signature = hmac.new(host_key.encode("utf-8"), grant_payload(grant), hashlib.sha256)
    return dataclasses.replace(grant, signature=signature.hexdigest())


def check_grant(grant: PeerGrant, host_key: str, *, now_s: float) -> None:
    """Check ``grant`` was signed with ``host_key`` and is still valid at ``now_s``.

    Raises:
        GrantRefusedError: it was not, or it has expired.
    """
    expected = sign_grant(grant, host_key).signature
    if not hmac.compare_digest(expected.encode("ascii"), grant.signature.encode("utf-8")):
        raise GrantRefusedError("the grant is not signed by this host's management server")
    if now_s > grant.expires_s:
        raise GrantRefusedError("the grant has expired")
