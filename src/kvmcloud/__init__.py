"""kvmcloud: CloudStack-compatible KVM cloud with direct download to primary storage."""

__version__ = "0.1.0"
