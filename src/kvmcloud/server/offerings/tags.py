"""Host and storage tags: the comma-separated text CloudStack stores, and tag sets (pure)."""


def clean_tags(text: str | None) -> str | None:
    """Store tags as CloudStack does: each one trimmed, empty ones dropped, comma-joined."""
    if text is None:
        return None
    tags = [t.strip() for t in text.split(",") if t.strip()]
    return ",".join(tags) if tags else None


def tag_set(text: str | None) -> frozenset[str]:
    """The tags in ``text``, compared without case (CloudStack's MySQL collation ignores it)."""
    return frozenset(t.strip().casefold() for t in (text or "").split(",") if t.strip())


def has_all(required: frozenset[str], present: frozenset[str]) -> bool:
    """Tell whether a host or pool carries every tag an offering asks for."""
    return required <= present
