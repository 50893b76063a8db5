"""kvmcloud-server: the CloudStack-compatible management server."""
