"""Alembic environment and revisions of the kvmcloud schema."""
