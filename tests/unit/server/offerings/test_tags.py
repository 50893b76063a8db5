from kvmcloud.server.offerings.tags import clean_tags, has_all, tag_set


def test_clean_tags_trims_each_tag_and_drops_empty_ones() -> None:
    assert clean_tags(" ssd , fast,,") == "ssd,fast"
    assert clean_tags(" , ") is None
    assert clean_tags(None) is None


def test_tag_set_ignores_case_and_spaces() -> None:
    assert tag_set("SSD, Fast") == frozenset({"ssd", "fast"})
    assert tag_set(None) == frozenset()
    assert tag_set("") == frozenset()


def test_has_all_needs_every_required_tag() -> None:
    assert has_all(frozenset(), frozenset())
    assert has_all(frozenset({"ssd"}), frozenset({"ssd", "fast"}))
    assert not has_all(frozenset({"ssd", "gpu"}), frozenset({"ssd"}))
