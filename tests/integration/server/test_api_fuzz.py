"""Fuzz every API command listApis returns with hostile values, through a real socket.

Each request must get a well-formed CloudStack answer: a success, or an error envelope with
``errorcode`` and ``errortext`` under an HTTP status CloudStack uses for that error; never a
5xx, never a dropped connection, and a 431 always names a parameter. The server is the real
app behind uvicorn and h11 (header problems only show on the wire) with a real SQLite
database; the agent is a fake one with an Up host, so agent-side commands can succeed.

``KVMCLOUD_FUZZ_PROFILE=long`` runs many more examples per command (docs/architecture.md).
"""

import json
import os
import re
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvmcloud.server.accounts.service import ApiKeys, create_user_account
from kvmcloud.server.api.dispatch import INTERNAL_ERROR_TEXT
from kvmcloud.server.app import build_registry, create_app
from tests.integration.server.conftest import AGENT_URL, Wire, make_cloud, seeded_services
from tests.support.live_server import serve_in_thread

settings.register_profile(
    "fast",
    max_examples=6,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get("KVMCLOUD_FUZZ_PROFILE", "fast")
# The long profile runs for minutes per command; lift the suite's per-test timeout for it.
TIMEOUT_S = 60 if PROFILE == "fast" else 3600

# What CloudStack answers with: success, auth, bad parameter, unsupported, permission,
# capacity, resource unavailable, in use, and operation failed (an agent-side failure).
CLOUDSTACK_STATUSES = {200, 401, 431, 432, 531, 533, 534, 536, 537}
# Commands CloudStack refuses with 530 and a text of its own (a CloudRuntimeException): an
# unparsable or expired certificate. Any other 530 is a server fault.
REFUSED_WITH_530 = {"uploadTemplateDirectDownloadCertificate"}
COMMANDS = sorted(command.name for command in build_registry().all())
UNKNOWN_UUID = "3e1d52f0-57e0-4d1c-9c0b-6f9f1e1b2a77"
# Forms of a real id that are not a uuid (defect 10: a trailing space was accepted).
NOT_QUITE_UUIDS = ["{} ", " {}", "{{{}}}", "urn:uuid:{}", "{}\n", "{},"]

HOSTILE_TEXT = [
    "\x00",
    "a\x00b",
    "\r\n",
    "x\r\nX-Injected: 1",
    "\n",
    "\t",
    "\x1b[31mred",
    "\x7f",
    "\x85",
    "\u2028",
    "é",
    "日本語",
    "💥",
    "",
    " ",
    "  padded  ",
    "x" * 5000,
    "%00",
    "%",
    "-1",
    "0",
    "1",
    "-2147483649",
    "2147483648",
    "9223372036854775808",
    "99999999999999999999",
    "1.5",
    "1e3",
    "NaN",
    "0x10",
    "true",
    "TRUE",
    "null",
    "bogus",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "a,b,,c",
    ",",
    "http://127.0.0.1:1/x",
    UNKNOWN_UUID,
    UNKNOWN_UUID.upper(),
    f"{UNKNOWN_UUID},{UNKNOWN_UUID}",
]


@dataclass
class LiveApi:
    """The real server on a socket, a user beside the admin, ids of a small cloud in it."""

    wire: Wire
    user: ApiKeys
    ids: list[str]
    params_of: dict[str, list[dict[str, Any]]]

    def ok(self, command: str, **params: str) -> dict[str, Any]:
        response = self.wire.send_params(command, params, None, post=False)
        assert response.status_code == 200, response.text
        body = next(iter(response.json().values()))
        assert isinstance(body, dict)
        return body


@pytest.fixture(scope="module")
def live(migrated_db_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    services, agents, clock, admin = seeded_services(
        migrated_db_file, tmp_path_factory.mktemp("fuzz")
    )
    agents.add(AGENT_URL)
    with services.db.transaction() as session:
        user = create_user_account(session, "mallory", clock(), services.box)
    app = create_app(services, run_background=False)
    with serve_in_thread(app) as base_url, httpx.Client(timeout=30) as http:
        api = LiveApi(Wire(base_url, http, admin), user, [], {})
        cloud = make_cloud(api.ok)
        offering = api.ok(
            "createServiceOffering", name="tiny", cpunumber="1", cpuspeed="500", memory="128"
        )["serviceoffering"]
        api.ids = [*astuple(cloud), offering["id"]]
        api.params_of = {a["name"]: a["params"] for a in api.ok("listApis")["api"]}
        yield api
    services.db.engine.dispose()


def test_list_apis_returns_every_command_the_fuzzer_drives(live: LiveApi) -> None:
    assert sorted(live.params_of) == COMMANDS


def _plausible(kind: str, ids: list[str]) -> st.SearchStrategy[str]:
    if kind == "uuid":
        return st.sampled_from(ids)
    if kind == "boolean":
        return st.sampled_from(["true", "false"])
    if kind in ("integer", "long"):
        return st.integers(min_value=1, max_value=4096).map(str)
    return st.sampled_from(["x", "KVM", "QCOW2", "http://127.0.0.1:9/t.qcow2", "zone"])


def _hostile(ids: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE_TEXT),
        st.builds(str.format, st.sampled_from(NOT_QUITE_UUIDS), st.sampled_from(ids)),
        st.sampled_from(ids).map(lambda u: u.replace("-", "")),
        st.text(max_size=12),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
    )


def _map_entries(name: str, ids: list[str]) -> st.SearchStrategy[dict[str, str]]:
    index = st.sampled_from(["0", "1", "-1", "99999999999999999999", "x", ""])
    key = st.sampled_from(["key", "value", "name", "HTTP_HEADER:X-A", "\x00", "k\r\nv", "é", ""])
    return st.dictionaries(
        st.builds(lambda i, k: f"{name}[{i}].{k}", index, key),
        st.one_of(st.sampled_from(["v", "true"]), _hostile(ids)),
        max_size=3,
    )


@st.composite
def _requests(draw: st.DrawFn, specs: list[dict[str, Any]], ids: list[str]) -> dict[str, str]:
    """Every declared parameter absent, plausible or hostile; required ones mostly present."""
    params: dict[str, str] = {}
    for spec in specs:
        name, kind = spec["name"], spec["type"]
        choice = draw(st.sampled_from(["absent", "plausible", "hostile", "hostile"]))
        if choice == "absent" and (not spec["required"] or draw(st.booleans())):
            continue
        if kind == "map":
            params.update(draw(_map_entries(name, ids)))
        elif choice == "plausible":
            params[name] = draw(_plausible(kind, ids))
        else:
            params[name] = draw(_hostile(ids))
    return params


_ERROR_KEYS = {"errorcode", "errortext"}


def _check(command: str, specs: list[dict[str, Any]], response: httpx.Response) -> None:
    status = response.status_code
    refusal_530 = (
        status == 530 and command in REFUSED_WITH_530 and INTERNAL_ERROR_TEXT not in response.text
    )
    assert status in CLOUDSTACK_STATUSES or refusal_530, (status, response.text[:2000])
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and len(body) == 1, body
    ((key, payload),) = body.items()
    assert key in (f"{command.lower()}response", "errorresponse"), key
    assert isinstance(payload, dict)
    if status == 200:
        return
    assert payload.keys() >= _ERROR_KEYS, payload
    assert payload["errorcode"] == status
    text = payload["errortext"]
    assert isinstance(text, str) and text and "Traceback" not in text
    description = response.headers.get("x-description", "")
    assert "\n" not in description and "\r" not in description
    if status == 431:
        names = [spec["name"] for spec in specs] + ["page", "pagesize"]
        assert any(re.search(rf"\b{re.escape(n)}\b", text, re.IGNORECASE) for n in names), text


@pytest.mark.timeout(TIMEOUT_S)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_hostile_values_the_cloudstack_way(
    live: LiveApi, command: str
) -> None:
    specs = live.params_of[command]

    @settings(settings.get_profile(PROFILE))
    @given(
        params=_requests(specs, live.ids),
        as_user=st.booleans(),
        post=st.booleans(),
    )
    def fuzz(params: dict[str, str], as_user: bool, post: bool) -> None:
        keys = live.user if as_user else live.wire.admin
        try:
            response = live.wire.send_params(command, params, keys, post=post)
        except httpx.HTTPError as exc:  # a dropped connection, or no answer at all
            raise AssertionError(f"{command} {params!r}: {exc!r}") from exc
        try:
            _check(command, specs, response)
        except (AssertionError, json.JSONDecodeError) as exc:
            raise AssertionError(f"{command} {params!r}: {exc}") from exc

    fuzz()


def test_known_repro_nul_in_an_echoed_value_is_answered(live: LiveApi) -> None:
    """Issue 12, defect 3: ``listZones id=%00`` dropped the connection."""
    response = live.wire.send("listZones", id="\x00")
    assert response.status_code == 431
    body = response.json()["listzonesresponse"]
    assert "id" in body["errortext"] and "\x00" not in body["errortext"]
    assert "\x00" not in response.headers["x-description"]
