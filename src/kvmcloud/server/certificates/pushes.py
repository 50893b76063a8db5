"""Pushes: one certificate set up on (or revoked from) one host, and sending them in parallel.

``push_all`` runs with no transaction open: a bounded pool of threads, each call with its
own timeout, so one slow or dead host holds only its own thread.
"""

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from enum import StrEnum

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.server.agent_client import AgentClient, AgentEndpoint, AgentUnreachableError
from kvmcloud.server.certificates.models import CertificateHostStatus, DirectDownloadCertificate
from kvmcloud.server.certificates.parsing import HYPERVISOR_KVM, normalise_fingerprint
from kvmcloud.server.errors import ApiError
from kvmcloud.server.infrastructure.host_states import HostStatus
from kvmcloud.server.infrastructure.models import Host
from kvmcloud.server.infrastructure.service import endpoint_for

# One push is a file write on the host: an agent silent this long is treated as unreachable.
PUSH_TIMEOUT_S = 30.0
MAX_PARALLEL_PUSHES = 8
_DEADLINE_MARGIN_S = 5.0
STILL_HELD = "host still holds the revoked certificate"


class Action(StrEnum):
    """What a push asks the host to do."""

    SETUP = "setup"
    REVOKE = "revoke"


@dataclass(frozen=True, slots=True)
class Push:
    """One certificate to set up on (or revoke from) one host; no endpoint → not tried."""

    certificate_id: int
    alias: str
    pem: str
    fingerprint: str
    host_id: int
    host_uuid: str
    host_name: str
    action: Action
    endpoint: AgentEndpoint | None
    skipped_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one push."""

    push: Push
    status: CertificateHostStatus
    details: str | None


def _reachable(host: Host) -> bool:
    return (
        host.status == HostStatus.UP
        and host.resource_state == "Enabled"
        and host.removed is None
        and host.hypervisor_type == HYPERVISOR_KVM
    )


def plan_push(
    certificate: DirectDownloadCertificate, host: Host, action: Action = Action.SETUP
) -> Push:
    """Plan one push; a host that is not Up is not called and gets FAILED with the reason."""
    reachable = _reachable(host)
    reason = None
    if not reachable:
        state = host.status if host.resource_state == "Enabled" else host.resource_state
        reason = f"host is {state}"
    return Push(
        certificate_id=certificate.id,
        alias=certificate.alias,
        pem=certificate.certificate,
        fingerprint=certificate.fingerprint,
        host_id=host.id,
        host_uuid=host.uuid,
        host_name=host.name,
        action=action,
        endpoint=endpoint_for(host) if reachable else None,
        skipped_reason=reason,
    )


def push_all(
    agents: AgentClient,
    pushes: Sequence[Push],
    *,
    timeout_s: float = PUSH_TIMEOUT_S,
    max_workers: int = MAX_PARALLEL_PUSHES,
) -> list[Outcome]:
    """Send the pushes, at most ``max_workers`` at once; return one outcome per push, in order.

    A slow or dead host only holds its own thread: each call has ``timeout_s``, and the
    whole fan-out is bounded too, so the caller gets an answer for every host.
    """
    outcomes: dict[int, Outcome] = {}
    calls = []
    for index, push in enumerate(pushes):
        if push.endpoint is None:
            outcomes[index] = Outcome(push, CertificateHostStatus.FAILED, push.skipped_reason)
        else:
            calls.append((index, push))
    if calls:
        workers = max(1, min(max_workers, len(calls)))
        deadline_s = timeout_s * math.ceil(len(calls) / workers) + _DEADLINE_MARGIN_S
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="certificate-push")
        try:
            futures = {pool.submit(_push_one, agents, p, timeout_s): (i, p) for i, p in calls}
            done, _late = wait(futures, timeout=deadline_s)
            for future, (index, push) in futures.items():
                if future in done:
                    outcomes[index] = future.result()
                else:
                    outcomes[index] = Outcome(
                        push,
                        CertificateHostStatus.FAILED,
                        f"host unreachable: no answer within {deadline_s:.0f} s",
                    )
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    return [outcomes[i] for i in range(len(pushes))]


def _push_one(agents: AgentClient, push: Push, timeout_s: float) -> Outcome:
    assert push.endpoint is not None
    command: msg.Command = (
        msg.SetupCertificateCommand(alias=push.alias, pem=push.pem)
        if push.action is Action.SETUP
        else msg.RevokeCertificateCommand(alias=push.alias)
    )
    try:
        answer = agents.call(push.endpoint, command, timeout_s=timeout_s)
    except AgentUnreachableError as exc:
        return Outcome(push, CertificateHostStatus.FAILED, f"host unreachable: {exc.message}")
    except (ApiError, msg.MessageFormatError) as exc:
        return Outcome(push, CertificateHostStatus.FAILED, f"host unreachable: {exc}")
    if not answer.ok:
        reason = answer.error.message if answer.error else "the host gave no reason"
        return Outcome(push, CertificateHostStatus.FAILED, reason)
    if not isinstance(answer.result, msg.CertificateResult):
        return Outcome(push, CertificateHostStatus.FAILED, "the host gave an unexpected answer")
    held = answer.result.held.get(push.alias)
    if push.action is Action.REVOKE:
        if held is not None:
            return Outcome(push, CertificateHostStatus.FAILED, STILL_HELD)
        return Outcome(push, CertificateHostStatus.REVOKED, None)
    if held is None:
        # The host says it did not keep it (e.g. its store is too full to read it all):
        # not UPLOADED, so the listing tells the truth and the next sync tries again.
        return Outcome(
            push, CertificateHostStatus.FAILED, f"host does not hold {push.alias} after the push"
        )
    if normalise_fingerprint(held) != push.fingerprint:
        return Outcome(
            push,
            CertificateHostStatus.FAILED,
            f"host holds another certificate under {push.alias} (sha256 {held})",
        )
    return Outcome(push, CertificateHostStatus.UPLOADED, None)
