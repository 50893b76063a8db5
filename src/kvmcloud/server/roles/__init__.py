"""Roles and their rules through the API (CloudStack's dynamic roles: RoleManager)."""
