"""CloudMonkey 5.3.3.1's default profile (user name and password) drives kvmcloud end to end."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack, running_stack
from tests.support.cloudmonkey import (
    CloudMonkeyShell,
    cloudmonkey_or_skip,
    json_output,
    run_once,
    write_config,
)
from tests.support.libvirt import domain_state, libvirt_or_skip
from tests.support.origin import Origin

pytestmark = pytest.mark.e2e

# A blocking deploy downloads the template onto the pool and boots the VM first.
DEPLOY_TIMEOUT_S = 240.0


@dataclass
class CloudMonkeyStack:
    """A running kvmcloud with an HTTPS origin, a service offering, and CloudMonkey."""

    stack: Stack
    origin: Origin
    offering_id: str
    cloudmonkey: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudMonkeyStack]:
    cloudmonkey = cloudmonkey_or_skip()
    with libvirt_or_skip():
        workdir = tmp_path_factory.mktemp("e2e-cloudmonkey")
        with running_stack(f"sqlite:///{workdir}/kvmcloud.db", workdir) as stack:
            # Domain names must not collide with another run's on this host's libvirt.
            stack.api.updateConfiguration(name="instance.name", value=f"e2e-{secrets.token_hex(3)}")
            offering = stack.api.createServiceOffering(
                name="tiny", displaytext="tiny", cpunumber=1, cpuspeed=500, memory=64
            )["serviceoffering"]
            # HTTPS from a private CA: the template registers only once CloudMonkey has
            # uploaded that CA as a direct-download certificate.
            with Origin(directory=workdir / "images", https=True) as origin:
                yield CloudMonkeyStack(stack, origin, offering["id"], cloudmonkey)


def session_ids(stack: Stack) -> set[str]:
    """The open login sessions, by the hash of their id (row ids may be reused)."""
    return {row["id_hash"] for row in stack.rows("select id_hash from user_session")}


def certificate_body(pem: bytes) -> str:
    """The certificate on one line, as CloudStack clients send it: base64, no PEM lines."""
    return "".join(line for line in pem.decode().splitlines() if "-----" not in line)


@pytest.mark.timeout(DEPLOY_TIMEOUT_S + 120)
def test_default_profile_registers_a_template_and_deploys_a_vm(
    env: CloudMonkeyStack, tmp_path: Path
) -> None:
    stack = env.stack
    assert stack.keys.password, "the first init prints the admin's generated password"
    config = write_config(tmp_path, stack.endpoint, "admin", stack.keys.password)
    before = session_ids(stack)
    vm_id = None
    try:
        with CloudMonkeyShell(env.cloudmonkey, config) as shell:
            assert session_ids(stack) == before
            synced = shell.send("sync")
            assert f"{stack.api.listApis()['count']} APIs discovered and cached" in synced
            (session,) = session_ids(stack) - before

            zones = json_output(shell.send("list zones"))
            assert [zone["id"] for zone in zones["zone"]] == [stack.zone_id]
            os_type = json_output(shell.send("list ostypes"))["ostype"][0]

            uploaded = json_output(
                shell.send(
                    "upload templatedirectdownloadcertificate name=origin-ca hypervisor=KVM "
                    f"zoneid={stack.zone_id} certificate={certificate_body(env.origin.ca_pem)}"
                )
            )["uploadtemplatedirectdownloadcertificate"]
            assert uploaded["alias"] == "origin-ca"
            assert [(h["hostid"], h["status"]) for h in uploaded["hostsmap"]] == [
                (stack.host_id, "UPLOADED")
            ]

            (template,) = json_output(
                shell.send(
                    "register template name=monkey displaytext=monkey format=QCOW2 "
                    f"hypervisor=KVM zoneid={stack.zone_id} ostypeid={os_type['id']} "
                    f"url={env.origin.url(stack.image_path)} directdownload=true "
                    f"checksum={{SHA-256}}{stack.image_sha256}"
                )
            )["template"]
            assert template["directdownload"] is True
            assert template["ostypeid"] == os_type["id"]

            job = json_output(
                shell.send(
                    f"deploy virtualmachine name=monkey-vm zoneid={stack.zone_id} "
                    f"templateid={template['id']} serviceofferingid={env.offering_id}",
                    timeout_s=DEPLOY_TIMEOUT_S,
                )
            )
            assert job["jobstatus"] == 1, job
            vm = job["jobresult"]["virtualmachine"]
            vm_id = vm["id"]
            assert vm["state"] == "Running" and vm["templateid"] == template["id"]
            assert domain_state(vm["instancename"]) == "running"
            # Every call, the job polling too, rode the one login session.
            assert session_ids(stack) == before | {session}

            assert shell.send("logout").strip() == ""
            assert session_ids(stack) == before, "logout must end the session on the server"
            # The next call needs a new login, which CloudMonkey makes by itself.
            listed = json_output(shell.send(f"list virtualmachines id={vm_id}"))
            assert [v["state"] for v in listed["virtualmachine"]] == ["Running"]
            (again,) = session_ids(stack) - before
            assert again != session
        # Leaving the shell (end of input) logs out too.
        assert session_ids(stack) == before
        # CloudMonkey sends the password in the login URL: no request line may be logged.
        assert stack.keys.password not in stack.server.log_path.read_text()
    finally:
        if vm_id is not None:
            stack.api.destroyVirtualMachine(id=vm_id, expunge=True)
    assert domain_state(vm["instancename"]) is None


def test_a_wrong_password_gets_cloudmonkeys_login_error(
    env: CloudMonkeyStack, tmp_path: Path
) -> None:
    stack = env.stack
    config = write_config(tmp_path, stack.endpoint, "admin", "not-the-password")
    failures = stack.rows("select count(*) as n from login_failure")[0]["n"]
    sessions = session_ids(stack)

    result = run_once(env.cloudmonkey, config, "list", "zones")

    assert result.returncode == 1, result
    # CloudMonkey prints this only when login answers HTTP 531, and then gives up.
    assert f"Error authenticating at {stack.endpoint} using username: admin" in result.stderr
    assert "Error Authentication failed" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "zone" not in result.stdout
    assert stack.rows("select count(*) as n from login_failure")[0]["n"] > failures
    assert session_ids(stack) == sessions
