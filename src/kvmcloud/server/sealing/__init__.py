"""Secrets at rest: the AES-GCM box, its key file, and contexts binding values to columns."""
