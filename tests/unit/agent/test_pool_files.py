import re

import pytest

from kvmcloud.agent.pool_files import (
    HOST_TAG,
    is_own_partial,
    new_attempt_id,
    new_host_tag,
    partial_owner,
    select_published,
)
from kvmcloud.agent.pools import validate_file_name

TAG = "0123456789abcdef"
OTHER = "fedcba9876543210"
RANDOM = "a" * 32


def test_host_tags_are_16_hex_digits_and_differ():
    tags = {new_host_tag() for _ in range(20)}

    assert len(tags) == 20
    assert all(HOST_TAG.fullmatch(tag) for tag in tags)


def test_attempt_ids_carry_the_tag_are_unique_and_safe_file_names():
    ids = {new_attempt_id(TAG) for _ in range(20)}

    assert len(ids) == 20
    for attempt_id in ids:
        assert re.fullmatch(rf"{TAG}-[0-9a-f]{{32}}", attempt_id)
        assert validate_file_name(attempt_id, what="attempt id") == attempt_id


@pytest.mark.parametrize("tag", ["", "0123", "0123456789ABCDEF", "0123456789abcdeg", "a.b"])
def test_attempt_id_refuses_a_malformed_tag(tag):
    with pytest.raises(ValueError, match="16 lowercase hex digits"):
        new_attempt_id(tag)


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        (f"t1.qcow2.{TAG}-{RANDOM}.part", TAG),
        # Install names may hold dots and dashes (uuids, .iso): the attempt is the last part.
        (f"5b6f-41c2-9e1a.iso.{OTHER}-{RANDOM}.part", OTHER),
        (f"vol-1.{TAG}-{RANDOM}.part", TAG),
        # Written before attempt ids were tagged: nobody can say whose.
        (f"t1.qcow2.{RANDOM}.part", None),
        (f"t1.qcow2.{TAG}-{RANDOM}", None),  # not a partial file
        (f"{TAG}-{RANDOM}.part", None),  # no install name
        (f".{TAG}-{RANDOM}.part", None),
        (f"t1.{TAG}-short.part", None),
        (f"t1.{TAG.upper()}-{RANDOM}.part", None),
        (f"t1.{TAG}-{RANDOM}-x.part", None),
    ],
)
def test_partial_owner_reads_the_tag_from_the_name(name, owner):
    assert partial_owner(name) == owner


def test_own_partials_are_only_those_with_our_tag():
    ours = f"t1.qcow2.{TAG}-{RANDOM}.part"
    theirs = f"t1.qcow2.{OTHER}-{RANDOM}.part"

    assert is_own_partial(ours, TAG)
    assert not is_own_partial(theirs, TAG)
    assert not is_own_partial(f"t1.qcow2.{RANDOM}.part", TAG)


def test_select_published_keeps_visible_regular_files_sorted():
    entries = [
        ("b-volume", True),
        (".kvmcloud-partial", False),
        (".kvmcloud-probe-x", True),
        ("a-template", True),
        ("lost+found", False),
    ]

    result = select_published(entries, limit=10)

    assert result.names == ["a-template", "b-volume"]
    assert not result.truncated


def test_select_published_stops_at_the_limit_and_says_so():
    consumed: list[str] = []

    def entries():
        for i in range(1000):
            consumed.append(str(i))
            yield f"f{i:04d}", True

    result = select_published(entries(), limit=3)

    assert result.names == ["f0000", "f0001", "f0002"]
    assert result.truncated
    assert len(consumed) == 4  # the rest of a huge listing is not read


def test_select_published_exactly_at_the_limit_is_complete():
    result = select_published([("a", True), ("b", True)], limit=2)

    assert result.names == ["a", "b"]
    assert not result.truncated
