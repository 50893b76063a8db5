"""kvmcloud's acceptance suite: pytest tests run against a live cloud through its public API."""
