"""Domains, accounts, users and roles through the API (CloudStack's Domain and AccountManager)."""
