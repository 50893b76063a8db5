"""Helpers shared by the acceptance tests (fixtures come from kvmcloud_acceptance.plugin)."""
