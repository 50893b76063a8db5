"""Stable wire codes for agent failures, shared by the agent and the server."""

from enum import StrEnum


class ErrorCode(StrEnum):
    """Why an agent command failed; the server maps each code to a CloudStack error."""

    UNSUPPORTED_URL = "unsupported_url"
    SOURCE_UNAVAILABLE = "source_unavailable"
    SOURCE_NOT_FOUND = "source_not_found"
    SOURCE_DENIED = "source_denied"
    DNS_FAILURE = "dns_failure"
    EGRESS_REFUSED = "egress_refused"
    TLS_FAILURE = "tls_failure"
    TIMEOUT = "timeout"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    POOL_FULL = "pool_full"
    POOL_UNAVAILABLE = "pool_unavailable"
    IMAGE_REJECTED = "image_rejected"
    CANCELLED = "cancelled"
    HYPERVISOR_UNAVAILABLE = "hypervisor_unavailable"
    VM_NOT_FOUND = "vm_not_found"
    VM_FAILURE = "vm_failure"
    VOLUME_FAILURE = "volume_failure"
    CERTIFICATE_REJECTED = "certificate_rejected"
    BAD_COMMAND = "bad_command"
    INTERNAL = "internal"
