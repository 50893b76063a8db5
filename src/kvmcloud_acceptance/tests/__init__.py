"""The acceptance tests (collected by kvmcloud-integration-tests, not by the project's suite)."""
