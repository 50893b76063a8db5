"""Event types, failure descriptions and listEvents' dates (pure)."""

from datetime import UTC, datetime

import pytest

from kvmcloud.server.app import build_registry
from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.events.catalog import (
    COMMAND_EVENTS,
    MAX_REASON_CHARS,
    Attempt,
    EventType,
    ResourceType,
    command_event_description,
    create_event,
    delete_event,
    download_failure_description,
    download_failure_event,
    event_subject,
    job_event_description,
    parse_end_date,
    parse_resource_type,
    parse_start_date,
)


def test_failure_event_type_follows_the_format() -> None:
    assert download_failure_event(is_iso=False) == (
        EventType.TEMPLATE_DIRECT_DOWNLOAD_FAILURE,
        ResourceType.TEMPLATE,
    )
    assert download_failure_event(is_iso=True) == (
        EventType.ISO_DIRECT_DOWNLOAD_FAILURE,
        ResourceType.ISO,
    )
    assert EventType.TEMPLATE_DIRECT_DOWNLOAD_FAILURE == "TEMPLATE.DIRECT.DOWNLOAD.FAILURE"
    assert EventType.ISO_DIRECT_DOWNLOAD_FAILURE == "ISO.DIRECT.DOWNLOAD.FAILURE"


def test_create_event_type_follows_the_format() -> None:
    assert create_event(is_iso=False) == ("TEMPLATE.CREATE", ResourceType.TEMPLATE)
    assert create_event(is_iso=True) == ("ISO.CREATE", ResourceType.ISO)


def test_delete_event_type_follows_the_format() -> None:
    assert delete_event(is_iso=False) == ("TEMPLATE.DELETE", ResourceType.TEMPLATE)
    assert delete_event(is_iso=True) == ("ISO.DELETE", ResourceType.ISO)


def test_description_names_what_where_and_every_attempt() -> None:
    text = download_failure_description(
        is_iso=False,
        name="debian",
        uuid="u-1",
        pool="pool1",
        attempts=[Attempt("kvm1", "no data for 5 s"), Attempt("kvm2", "HTTP 503")],
    )
    assert text == (
        "Template debian (u-1) could not be downloaded to pool pool1 after 2 attempts: "
        "host kvm1: no data for 5 s; host kvm2: HTTP 503"
    )
    one = download_failure_description(
        is_iso=True, name="netinst", uuid="u-2", pool="p", attempts=[Attempt("kvm1", "404")]
    )
    assert one.startswith("ISO netinst (u-2) could not be downloaded to pool p after 1 attempt:")


def test_a_long_reason_is_clipped_but_every_host_stays() -> None:
    text = download_failure_description(
        is_iso=False,
        name="t",
        uuid="u",
        pool="p",
        attempts=[Attempt("kvm1", "x" * 5000), Attempt("kvm2", "short")],
    )
    assert "x" * (MAX_REASON_CHARS - 1) + "…; host kvm2: short" in text
    assert "x" * MAX_REASON_CHARS not in text


def test_dates_take_both_cloudstack_forms_in_utc() -> None:
    assert parse_start_date("2026-03-04") == datetime(2026, 3, 4, tzinfo=UTC)
    assert parse_start_date(" 2026-03-04 10:20:30 ") == datetime(2026, 3, 4, 10, 20, 30, tzinfo=UTC)
    # End bounds are exclusive: a day covers all of it, a time its whole second.
    assert parse_end_date("2026-03-04") == datetime(2026, 3, 5, tzinfo=UTC)
    assert parse_end_date("2026-03-04 10:20:30") == datetime(2026, 3, 4, 10, 20, 31, tzinfo=UTC)


@pytest.mark.parametrize(
    "text", ["yesterday", "2026-13-01", "2026-03-04T10:20:30", "04/03/2026", "2026-03-04 25:00:00"]
)
def test_bad_dates_are_431_naming_the_parameter(text: str) -> None:
    with pytest.raises(InvalidParameterError) as start:
        parse_start_date(text)
    assert start.value.param == "startdate" and "startdate" in start.value.message
    assert f"value={text}" in start.value.message
    with pytest.raises(InvalidParameterError) as end:
        parse_end_date(text)
    assert end.value.param == "enddate" and "enddate" in end.value.message


def test_account_user_and_domain_jobs_are_described_with_cloudstacks_verbs() -> None:
    assert job_event_description(EventType.ACCOUNT_DELETE, "a-1", None) == (
        "Completed deleting account a-1"
    )
    assert job_event_description(EventType.DOMAIN_DELETE, "d-1", "no host") == (
        "Error while deleting domain d-1: no host"
    )
    assert job_event_description(EventType.USER_DISABLE, "u-1", None) == (
        "Completed disabling user u-1"
    )
    assert parse_resource_type("account") == ResourceType.ACCOUNT
    assert parse_resource_type("DOMAIN") == ResourceType.DOMAIN


def test_every_command_event_names_a_synchronous_command_or_the_session_pair() -> None:
    registry = build_registry()
    for name in COMMAND_EVENTS:
        if name in ("login", "logout"):
            continue
        command = registry.lookup(name)
        assert command is not None, name
        # A job records its own outcome; a command event would be a second one.
        assert not command.is_async, name


def test_an_event_names_the_object_answered_or_the_id_given() -> None:
    assert event_subject({"id": "u-1", "username": "bob", "apikey": "k"}, None) == (
        "u-1",
        "bob (u-1)",
    )
    assert event_subject({"id": "d-1", "name": "sub"}, "ignored") == ("d-1", "sub (d-1)")
    assert event_subject(None, "u-2") == ("u-2", "u-2")
    assert event_subject(None, None) == (None, "")
    # A role permission is about its role.
    permission = {"id": "p-1", "roleid": "r-1", "rolename": "auditor", "rule": "list*"}
    assert event_subject(permission, None) == ("r-1", "auditor rule list*")
    event = COMMAND_EVENTS["createAccount"]
    assert command_event_description(event, "alice (a-1)") == (
        "Successfully completed creating account alice (a-1)"
    )
