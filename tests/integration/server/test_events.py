"""Events: failed downloads recorded with every attempt; listEvents filters, paging, visibility."""

from datetime import UTC, datetime

from sqlalchemy import select

from kvmcloud.protocol import agent_messages as msg
from kvmcloud.protocol.error_codes import ErrorCode
from kvmcloud.server.accounts.models import Account, User
from kvmcloud.server.events.models import EventLevel
from kvmcloud.server.events.service import record_event
from kvmcloud.server.templates.models import DownloadState, TemplatePoolRef
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness
from tests.integration.server.test_download_retries import failing, prepare, register, second_host

FAILURE = "TEMPLATE.DIRECT.DOWNLOAD.FAILURE"
ISO_FAILURE = "ISO.DIRECT.DOWNLOAD.FAILURE"


def events(server: ServerHarness, keys=None, **params) -> list[dict]:
    status, body = server.call("listEvents", keys, **params)
    assert status == 200, body
    return body.get("event", [])


def register_iso(server: ServerHarness, cloud: Cloud, url: str = "http://127.0.0.1:9/n.iso") -> str:
    return server.ok(
        "registerIso", name="netinst", url=url, zoneid=cloud.zone_id, directdownload="true"
    )["iso"][0]["id"]


def add_event(
    server: ServerHarness,
    at: datetime,
    *,
    type: str = "VM.CREATE",
    level: EventLevel = EventLevel.INFO,
    description: str = "something happened",
    account: str = "admin",
    resource_uuid: str | None = None,
) -> str:
    with server.db.transaction() as session:
        account_id = session.scalars(
            select(Account.id).where(Account.account_name == account)
        ).one()
        user_id = session.scalars(select(User.id).where(User.account_id == account_id)).one()
        event = record_event(
            session,
            type=type,
            level=level,
            description=description,
            account_id=account_id,
            user_id=user_id,
            resource_type="Template" if resource_uuid else None,
            resource_uuid=resource_uuid,
            now=at,
        )
        return event.uuid


# --- failed downloads ---------------------------------------------------------------------


def test_a_failed_download_is_one_error_event_listing_every_attempt(
    server: ServerHarness, cloud: Cloud
) -> None:
    first, second = server.agents.agents[AGENT_URL], second_host(server, cloud)
    first.download = failing(ErrorCode.TIMEOUT, "no data for 5 s")
    second.download = failing(ErrorCode.SOURCE_UNAVAILABLE, "HTTP 503 Service Unavailable")
    job = prepare(server, cloud)
    # The job's error is as before: every attempt, with the full context.
    assert job["jobstatus"] == 2 and "tried 2 hosts" in job["jobresult"]["errortext"]

    found = events(server, type=FAILURE)
    assert len(found) == 1
    event = found[0]
    assert event["level"] == "ERROR" and event["state"] == "Completed"
    assert event["type"] == FAILURE and event["resourcetype"] == "Template"
    assert (event["account"], event["username"], event["domain"]) == ("admin", "admin", "ROOT")
    text = event["description"]
    assert text.startswith("Template t (")
    assert "could not be downloaded to pool pool1 after 2 attempts" in text
    assert "host kvm1: no data for 5 s" in text
    assert "host kvm2: HTTP 503 Service Unavailable" in text
    listed = server.ok("listTemplates", templatefilter="self")["template"][0]
    assert event["resourceid"] == listed["id"]
    assert event["created"] == "2026-01-01T00:00:00+0000"
    assert "parentid" not in event


def test_an_unreachable_host_is_an_attempt_too(server: ServerHarness, cloud: Cloud) -> None:
    first, second = server.agents.agents[AGENT_URL], second_host(server, cloud)
    first.download = failing(ErrorCode.TIMEOUT, "no data for 5 s")
    template_id = register(server, cloud)
    second.reachable = False
    prepare(server, cloud, template_id)
    (event,) = events(server, type=FAILURE)
    assert "after 2 attempts" in event["description"]
    assert "host kvm1: no data for 5 s; host kvm2: " in event["description"]


def test_a_retry_that_succeeds_records_no_failure(server: ServerHarness, cloud: Cloud) -> None:
    first, _second = server.agents.agents[AGENT_URL], second_host(server, cloud)
    first.download = failing(ErrorCode.SOURCE_UNAVAILABLE, "HTTP 500")
    assert prepare(server, cloud)["jobstatus"] == 1
    # Only the registration was recorded.
    assert [e["type"] for e in events(server, listall=True)] == ["TEMPLATE.CREATE"]


def test_a_final_failure_stops_at_one_attempt_and_says_so(
    server: ServerHarness, cloud: Cloud
) -> None:
    first, second = server.agents.agents[AGENT_URL], second_host(server, cloud)
    first.download = second.download = failing(ErrorCode.SOURCE_NOT_FOUND, "HTTP 404 Not Found")
    prepare(server, cloud)
    (event,) = events(server, type=FAILURE)
    assert "after 1 attempt: host kvm1: HTTP 404 Not Found" in event["description"]


def test_an_iso_failure_has_the_iso_type(server: ServerHarness, cloud: Cloud) -> None:
    server.agents.agents[AGENT_URL].download = failing(ErrorCode.CHECKSUM_MISMATCH, "bad sum")
    iso_id = register_iso(server, cloud)
    job = prepare(server, cloud, iso_id)
    assert job["jobstatus"] == 2
    assert events(server, type=FAILURE) == []
    (event,) = events(server, type=ISO_FAILURE)
    assert (event["level"], event["resourcetype"], event["resourceid"]) == ("ERROR", "Iso", iso_id)
    assert event["description"].startswith(f"ISO netinst ({iso_id}) could not be downloaded")
    assert "host kvm1: bad sum" in event["description"]
    about_iso = events(server, resourceid=iso_id, resourcetype="iso")  # newest first
    assert about_iso[0] == event
    assert [e["type"] for e in about_iso] == [ISO_FAILURE, "ISO.CREATE"]


def test_a_users_failed_deploy_is_their_event(server: ServerHarness, cloud: Cloud) -> None:
    server.agents.agents[AGENT_URL].download = failing(ErrorCode.SOURCE_DENIED, "HTTP 403")
    bob = server.user("bob")
    offering_id = server.ok(
        "createServiceOffering", name="o", cpunumber=1, cpuspeed=500, memory=256
    )["serviceoffering"]["id"]
    status, registered = server.call(
        "registerTemplate",
        bob,
        name="bobs",
        url="http://127.0.0.1:9/b.qcow2",
        format="QCOW2",
        hypervisor="KVM",
        zoneid=cloud.zone_id,
        directdownload="true",
    )
    assert status == 200, registered
    status, reply = server.call(
        "deployVirtualMachine",
        bob,
        zoneid=cloud.zone_id,
        templateid=registered["template"][0]["id"],
        serviceofferingid=offering_id,
    )
    assert status == 200, reply
    server.run_jobs()
    deploy_event, event, registered_event = events(server, bob)  # newest first
    assert (event["type"], event["account"], event["username"]) == (FAILURE, "bob", "bob")
    assert (registered_event["type"], registered_event["account"]) == ("TEMPLATE.CREATE", "bob")
    assert "host kvm1: HTTP 403" in event["description"]
    # The deploy job's own event says it failed, and why, about the VM.
    assert (deploy_event["type"], deploy_event["level"]) == ("VM.CREATE", "ERROR")
    assert deploy_event["resourcetype"] == "VirtualMachine"
    assert deploy_event["resourceid"] == reply["id"]
    assert deploy_event["description"].startswith(f"Error while deploying VM {reply['id']}: ")
    assert "HTTP 403" in deploy_event["description"]
    # The admin sees them only when asking for every account's (or bob's) events; its own
    # are the offering it created.
    (created,) = events(server)
    assert created["type"] == "SERVICE.OFFERING.CREATE"
    assert [e["id"] for e in events(server, listall=True)] == [
        deploy_event["id"],
        event["id"],
        registered_event["id"],
        created["id"],
    ]
    assert [e["id"] for e in events(server, account="bob", type=FAILURE)] == [event["id"]]


# --- listEvents ---------------------------------------------------------------------------


def test_filters_by_type_level_keyword_and_id(server: ServerHarness) -> None:
    day = datetime(2026, 2, 1, tzinfo=UTC)
    create = add_event(server, day, type="VM.CREATE", description="VM web-1 created")
    failure = add_event(
        server,
        day.replace(hour=1),
        type=FAILURE,
        level=EventLevel.ERROR,
        description="Template debian could not be downloaded",
    )
    warn = add_event(server, day.replace(hour=2), type="VM.STOP", level=EventLevel.WARN)

    assert [e["id"] for e in events(server)] == [warn, failure, create]  # newest first
    assert [e["id"] for e in events(server, type=FAILURE)] == [failure]
    assert [e["id"] for e in events(server, type=FAILURE.lower())] == [failure]
    assert events(server, type="NO.SUCH.TYPE") == []
    assert [e["id"] for e in events(server, level="ERROR")] == [failure]
    assert [e["id"] for e in events(server, level="warn")] == [warn]
    # keyword: a substring of the description or the type, in any case.
    assert [e["id"] for e in events(server, keyword="DEBIAN")] == [failure]
    assert [e["id"] for e in events(server, keyword="vm.")] == [warn, create]
    assert events(server, keyword="%") == []
    assert [e["id"] for e in events(server, id=failure)] == [failure]


def test_date_ranges_in_both_forms(server: ServerHarness) -> None:
    early = add_event(server, datetime(2026, 3, 1, 8, 0, 0, 400000, tzinfo=UTC))
    late = add_event(server, datetime(2026, 3, 1, 23, 59, 59, 900000, tzinfo=UTC))
    next_day = add_event(server, datetime(2026, 3, 2, 0, 0, tzinfo=UTC))

    def ids(**params: str) -> list[str]:
        return [e["id"] for e in events(server, **params)]

    assert ids(startdate="2026-03-01", enddate="2026-03-01") == [late, early]
    assert ids(startdate="2026-03-02") == [next_day]
    assert ids(enddate="2026-03-01 08:00:00") == [early]
    assert ids(startdate="2026-03-01 08:00:01", enddate="2026-03-01 23:59:59") == [late]
    assert ids(startdate="2026-03-03") == []


def test_paging_and_count(server: ServerHarness) -> None:
    made = [add_event(server, datetime(2026, 4, 1, hour, tzinfo=UTC)) for hour in range(5)]
    status, body = server.call("listEvents", page=2, pagesize=2)
    assert status == 200 and body["count"] == 5
    assert [e["id"] for e in body["event"]] == [made[2], made[1]]
    status, body = server.call("listEvents", page=3, pagesize=2)
    assert body["count"] == 5 and [e["id"] for e in body["event"]] == [made[0]]
    assert server.ok("listEvents", page=4, pagesize=2) == {}
    assert len(events(server, pagesize=-1)) == 5


def test_each_account_sees_its_own_events(server: ServerHarness) -> None:
    bob, carol = server.user("bob"), server.user("carol")
    at = datetime(2026, 5, 1, tzinfo=UTC)
    mine = add_event(server, at, description="admin's")
    bobs = add_event(server, at.replace(hour=1), account="bob", description="bob's")
    carols = add_event(server, at.replace(hour=2), account="carol", description="carol's")

    assert [e["id"] for e in events(server, bob)] == [bobs]
    # listall does not widen a user's view; naming their own account is fine.
    assert [e["id"] for e in events(server, bob, listall=True)] == [bobs]
    assert [e["id"] for e in events(server, bob, account="bob")] == [bobs]
    assert events(server, bob, id=carols) == []
    assert [e["id"] for e in events(server, carol)] == [carols]

    # Admins: their own by default; all with listall, one account with account=, and one
    # event by id whoever owns it (as CloudStack's buildACLSearchParameters does).
    assert [e["id"] for e in events(server)] == [mine]
    assert [e["id"] for e in events(server, listall=True)] == [carols, bobs, mine]
    assert [e["id"] for e in events(server, account="carol")] == [carols]
    assert [e["id"] for e in events(server, id=bobs)] == [bobs]
    root = events(server, listall=True)[0]["domainid"]
    assert len(events(server, domainid=root)) == 3
    assert [e["id"] for e in events(server, account="bob", domainid=root)] == [bobs]

    status, body = server.call("listEvents", bob, account="carol")
    assert status == 531 and "carol" in body["errortext"]


def test_bad_parameters_are_431_naming_the_parameter(server: ServerHarness) -> None:
    cases = [
        ({"level": "FATAL"}, "level"),
        ({"startdate": "yesterday"}, "startdate"),
        ({"enddate": "2026-02-30"}, "enddate"),
        ({"startdate": "2026-03-02", "enddate": "2026-03-01"}, "startdate"),
        ({"resourceid": "0a0c2f0e-7c1a-4c55-9d64-1a4e0a3e8f01"}, "resourcetype"),
        ({"resourcetype": "Volume"}, "resourcetype"),
        ({"id": "not-a-uuid"}, "id"),
        ({"domainid": "0a0c2f0e-7c1a-4c55-9d64-1a4e0a3e8f01"}, "domainid"),
        ({"account": "nobody"}, "account"),
        ({"page": "1"}, "pagesize"),
    ]
    for params, name in cases:
        status, body = server.call("listEvents", **params)
        assert status == 431, (params, body)
        assert body["cserrorcode"] == 4350
        assert name in body["errortext"], (params, body)


def test_list_event_types_names_what_kvmcloud_records(server: ServerHarness) -> None:
    body = server.ok("listEventTypes")
    names = [item["name"] for item in body["eventtype"]]
    assert FAILURE in names and ISO_FAILURE in names
    assert {"VM.CREATE", "VM.START", "VM.STOP", "VM.REBOOT", "VM.DESTROY"} <= set(names)
    assert body["count"] == len(names)
    user = server.user("dave")
    status, _ = server.call("listEventTypes", user)
    assert status == 200


def test_a_download_failure_event_is_written_with_the_pool_state(
    server: ServerHarness, cloud: Cloud
) -> None:
    server.agents.agents[AGENT_URL].download = failing(ErrorCode.POOL_FULL, "pool is full")
    prepare(server, cloud)
    listed = server.ok("listTemplates", templatefilter="self")["template"][0]
    (detail,) = listed["downloaddetails"]
    assert detail["downloadState"] == "DOWNLOAD_ERROR" and "pool is full" in detail["errortext"]
    (event,) = events(server, type=FAILURE)
    assert "host kvm1: pool is full" in event["description"]
    assert len(server.agents.agents[AGENT_URL].sent(msg.DirectDownloadCommand)) == 1


def test_deleting_a_template_or_an_iso_is_an_info_event(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)
    iso_id = register_iso(server, cloud)
    server.ok("deleteTemplate", id=template_id)
    server.ok("deleteIso", id=iso_id)
    server.run_jobs()

    (deleted,) = events(server, type="TEMPLATE.DELETE")
    assert (deleted["level"], deleted["resourcetype"], deleted["resourceid"]) == (
        "INFO",
        "Template",
        template_id,
    )
    assert deleted["description"] == f"Template t ({template_id}) deleted"
    assert (deleted["account"], deleted["state"]) == ("admin", "Completed")
    (iso,) = events(server, type="ISO.DELETE")
    assert (iso["resourcetype"], iso["resourceid"]) == ("Iso", iso_id)
    assert iso["description"] == f"ISO netinst ({iso_id}) deleted"
    names = [item["name"] for item in server.ok("listEventTypes")["eventtype"]]
    assert "TEMPLATE.DELETE" in names and "ISO.DELETE" in names


def test_registering_a_template_or_an_iso_is_an_info_event_and_a_refused_one_is_none(
    server: ServerHarness, cloud: Cloud
) -> None:
    template_id = register(server, cloud)
    iso_id = register_iso(server, cloud, url="http://127.0.0.1:9/n.iso?X-Amz-Signature=secret")
    (created,) = events(server, type="TEMPLATE.CREATE")
    assert (created["level"], created["resourcetype"], created["resourceid"]) == (
        "INFO",
        "Template",
        template_id,
    )
    assert created["description"] == (f"Template t ({template_id}) registered for direct download")
    assert (created["account"], created["username"]) == ("admin", "admin")
    (iso,) = events(server, type="ISO.CREATE")
    assert (iso["resourcetype"], iso["resourceid"]) == ("Iso", iso_id)
    assert iso["description"] == f"ISO netinst ({iso_id}) registered for direct download"
    assert "secret" not in iso["description"]
    # A registration whose URL fails the host's check creates nothing and records nothing.
    server.agents.agents[AGENT_URL].check_url = lambda _c: msg.Answer(
        ok=False,
        error=msg.ErrorInfo(code=ErrorCode.SOURCE_NOT_FOUND, message="HTTP 404 Not Found"),
    )
    status, _ = server.call(
        "registerTemplate",
        name="gone",
        url="http://127.0.0.1:9/gone.qcow2",
        format="QCOW2",
        hypervisor="KVM",
        zoneid=cloud.zone_id,
        directdownload="true",
    )
    assert status == 431
    assert len(events(server, type="TEMPLATE.CREATE")) == 1
    names = [item["name"] for item in server.ok("listEventTypes")["eventtype"]]
    assert "TEMPLATE.CREATE" in names and "ISO.CREATE" in names


def test_a_refused_delete_records_nothing(server: ServerHarness, cloud: Cloud) -> None:
    template_id = register(server, cloud)
    assert prepare(server, cloud, template_id)["jobstatus"] == 1
    with server.db.transaction() as session:
        ref = session.scalars(select(TemplatePoolRef)).one()
        ref.download_state = DownloadState.DOWNLOAD_IN_PROGRESS
    job_id = server.ok("deleteTemplate", id=template_id)["jobid"]
    server.run_jobs()
    result = server.ok("queryAsyncJobResult", jobid=job_id)
    assert result["jobstatus"] == 2 and result["jobresult"]["errorcode"] == 536
    assert events(server, type="TEMPLATE.DELETE") == []


def test_a_download_no_host_can_attempt_is_an_error_event_too(
    server: ServerHarness, cloud: Cloud
) -> None:
    from kvmcloud.server.infrastructure.host_states import HostStatus
    from kvmcloud.server.infrastructure.models import Host

    template_id = register(server, cloud)
    prepared = server.ok("prepareTemplate", templateid=template_id, zoneid=cloud.zone_id)
    with server.db.transaction() as session:
        for host in session.scalars(select(Host)):
            host.status = HostStatus.DOWN
    server.run_jobs()
    job_id = prepared["template"][0]["downloaddetails"][0]["jobid"]
    job = server.ok("queryAsyncJobResult", jobid=job_id)
    assert job["jobstatus"] == 2 and "No Up KVM host" in job["jobresult"]["errortext"]
    (event,) = events(server, type=FAILURE)
    assert event["level"] == "ERROR" and event["resourceid"] == template_id
    assert (
        "could not be downloaded to pool pool1: No Up KVM host can reach" in (event["description"])
    )


def test_vm_jobs_record_completed_events_for_the_vm(server: ServerHarness, cloud: Cloud) -> None:
    from tests.integration.server.test_vms import offering

    template_id, offering_id = register(server, cloud), offering(server)
    vm = server.ok(
        "deployVirtualMachine",
        zoneid=cloud.zone_id,
        templateid=template_id,
        serviceofferingid=offering_id,
    )
    server.run_jobs()
    server.ok("stopVirtualMachine", id=vm["id"])
    server.run_jobs()
    found = events(server, resourcetype="VirtualMachine", resourceid=vm["id"])
    assert [(e["type"], e["level"]) for e in found] == [("VM.STOP", "INFO"), ("VM.CREATE", "INFO")]
    assert found[0]["description"] == f"Completed stopping VM {vm['id']}"
    assert (found[1]["account"], found[1]["username"]) == ("admin", "admin")
