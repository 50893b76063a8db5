"""Upgrading the packages keeps /etc/kvmcloud, the secrets key, the data and running VMs.

One installation of the older fixture build serves the whole story, so the packaging job
pays for one old install and one upgrade: the server and the agent run from it as their
units would, a VM is deployed through the API on real libvirt/QEMU, then the new build is
installed over it and both programs are restarted (as the packages' scripts restart the
units under systemd). The VM's QEMU process must be the same one afterwards.
"""

import os
import secrets
import shutil
import signal
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from cs import CloudStack

from kvmcloud import __version__, env_files
from kvmcloud_acceptance.image_server import ImageServer
from tests.support import debian_packages as packages
from tests.support.egress import ALLOW_SETTING, LOOPBACK
from tests.support.libvirt import URI, libvirt_or_skip
from tests.support.processes import free_port

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.timeout(packages.BUILD_TIMEOUT_S + 3 * packages.APT_TIMEOUT_S + 300),
    pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="installs packages: needs root"),
]

OLD = "~old1"
JOB_TIMEOUT_S = 120
STATE_TIMEOUT_S = 60.0


def qemu_pid(domain: str) -> int:
    """The PID of the QEMU process libvirt runs ``domain`` in (its pid file)."""
    return int(Path(f"/run/libvirt/qemu/{domain}.pid").read_text().strip())


def process_start(pid: int) -> str:
    """The start time of ``pid`` in clock ticks since boot (/proc/PID/stat field 22)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[19]


def domain_state(domain: str) -> str:
    """``virsh domstate`` of ``domain``."""
    return packages.run("virsh", "-c", URI, "domstate", domain).strip()


def vm_state(api: CloudStack, vm_id: str) -> str:
    """The state the server reports for a VM."""
    (vm,) = api.listVirtualMachines(id=vm_id)["virtualmachine"]
    state: str = vm["state"]
    return state


def wait_host_up(api: CloudStack, host_id: str) -> None:
    """Wait until the server sees the (restarted) agent's host Up again."""
    deadline = time.monotonic() + STATE_TIMEOUT_S
    state = ""
    while time.monotonic() < deadline:
        (host,) = api.listHosts(id=host_id)["host"]
        state = host["state"]
        if state == "Up":
            return
        time.sleep(0.5)
    raise AssertionError(f"host {host_id} is {state} {STATE_TIMEOUT_S} s after the restart")


def destroy_domains(names: list[str]) -> None:
    """Stop and forget the libvirt domains the test made (a failed run must leave no QEMU)."""
    for name in names:
        for action in ("destroy", "undefine"):
            subprocess.run(["virsh", "-c", URI, action, name], capture_output=True, check=False)


def set_ports(conf: Path, values: dict[str, str]) -> None:
    """Point an installed configuration file at this test's loopback ports."""
    conf.write_text(env_files.set_values(conf.read_text(), values))


def build_zone(api: CloudStack, agent_port: int, token: str, pool: Path) -> dict[str, Any]:
    """A zone with one host (the installed agent), a pool, an L2 network, an offering."""
    zone = api.createZone(name="upgrade", networktype="Advanced", dns1="127.0.0.53")["zone"]
    api.updateConfiguration(name=ALLOW_SETTING, value=LOOPBACK, zoneid=zone["id"])
    pod = api.createPod(name="pod1", zoneid=zone["id"])["pod"]
    cluster = api.addCluster(
        clustername="c1", zoneid=zone["id"], podid=pod["id"], hypervisor="KVM"
    )["cluster"][0]
    host = api.addHost(
        zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"], hypervisor="KVM",
        url=f"http://127.0.0.1:{agent_port}", username="root", password=token,
    )["host"][0]  # fmt: skip
    api.createStoragePool(
        name="pool1", zoneid=zone["id"], clusterid=cluster["id"],
        url=f"SharedMountPoint://localhost{pool}",
    )  # fmt: skip
    offering = api.createNetworkOffering(
        name="l2", displaytext="l2", guestiptype="L2", traffictype="GUEST"
    )["networkoffering"]
    api.updateNetworkOffering(id=offering["id"], state="Enabled")
    network = api.createNetwork(
        name="l2", displaytext="l2", networkofferingid=offering["id"], zoneid=zone["id"]
    )["network"]
    service = api.createServiceOffering(
        name="tiny", displaytext="tiny", cpunumber=1, cpuspeed=500, memory=128
    )["serviceoffering"]
    return {"zone": zone, "host": host, "network": network, "offering": service}


@pytest.mark.usefixtures("not_installed", "libvirt_run_lock")
def test_an_upgrade_keeps_the_settings_the_data_and_the_running_vm(
    debs: list[Path], tmp_path: Path, shared_tmp: Path
) -> None:
    old = packages.older_copies(debs, OLD, tmp_path)
    packages.apt_get("install", *(str(path) for path in old))
    assert packages.installed_version("kvmcloud-management") == __version__ + OLD
    assert packages.installed_version("kvmcloud-agent") == __version__ + OLD
    keys = packages.printed_keys(packages.run("kvmcloud-setup-database", "sqlite"))
    conf, agent_conf = Path("/etc/kvmcloud/server.conf"), Path("/etc/kvmcloud/agent.conf")
    port, agent_port = free_port(), free_port()
    # The operator's own settings, next to what the setup wrote.
    set_ports(
        conf,
        {
            "KVMCLOUD_LISTEN_HOST": "127.0.0.1",
            "KVMCLOUD_LISTEN_PORT": str(port),
            "KVMCLOUD_AGENTS_PORT": str(free_port()),
        },
    )
    edited, key = conf.read_text(), Path("/etc/kvmcloud/secrets.key").read_bytes()
    endpoint = f"http://127.0.0.1:{port}/client/api"
    server_log, agent_log = shared_tmp / "server.log", shared_tmp / "agent.log"
    pool = shared_tmp / "pool"
    pool.mkdir()
    prefix = f"up-{secrets.token_hex(3)}"
    domains: list[str] = []
    # libvirt outermost: the domain is destroyed before daemons this test started stop.
    with libvirt_or_skip(), ExitStack() as stack:
        enrol = packages.run("kvmcloud-setup-agent")
        token = enrol.split("enrolment token: ", 1)[1].split(";", 1)[0].split()[0].strip()
        set_ports(
            agent_conf,
            {
                "KVMCLOUD_AGENT_LISTEN_HOST": "127.0.0.1",
                "KVMCLOUD_AGENT_LISTEN_PORT": str(agent_port),
            },
        )
        image = stack.enter_context(ImageServer())
        # Registered first: whatever the test leaves in libvirt is destroyed by name.
        stack.callback(destroy_domains, domains)
        server = stack.enter_context(packages.server_as_unit(conf, server_log))
        with packages.as_unit("kvmcloud-agent", agent_conf, agent_log) as old_agent:
            packages.list_zones(endpoint, keys, server, server_log)
            packages.wait_listening(agent_port, old_agent, agent_log)
            api = CloudStack(
                endpoint=endpoint, key=keys["api key"], secret=keys["secret key"],
                fetch_result=True, job_timeout=JOB_TIMEOUT_S,
            )  # fmt: skip
            api.updateConfiguration(name="instance.name", value=prefix)
            cloud = build_zone(api, agent_port, token, pool)
            os_types = api.listOsTypes()["ostype"]
            template = api.registerTemplate(
                name="tpl", displaytext="tpl", url=image.url, format="RAW", hypervisor="KVM",
                zoneid=cloud["zone"]["id"], ostypeid=os_types[0]["id"], directdownload=True,
                checksum=f"{{SHA-256}}{image.sha256}",
            )["template"][0]  # fmt: skip
            vm = api.deployVirtualMachine(
                zoneid=cloud["zone"]["id"], templateid=template["id"],
                serviceofferingid=cloud["offering"]["id"], networkids=cloud["network"]["id"],
                name="survivor",
            )["virtualmachine"]  # fmt: skip
            assert vm["state"] == "Running"
            (listed,) = api.listVirtualMachines(id=vm["id"])["virtualmachine"]
            domain = listed["instancename"]
            domains.append(domain)
            pid = qemu_pid(domain)
            started = process_start(pid)

            # The agent keeps running through the unpack, as it would under systemd.
            packages.apt_get("install", *(str(path) for path in debs))
            assert packages.installed_version("kvmcloud-agent") == __version__
            assert packages.installed_version("kvmcloud-common") == __version__
        # Leaving the block stopped the old agent; the VM must not notice. Then the
        # restarts the packages' scripts do: the new agent, then the new server.
        new_agent = stack.enter_context(packages.as_unit("kvmcloud-agent", agent_conf, agent_log))
        packages.wait_listening(agent_port, new_agent, agent_log)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=packages.STOP_TIMEOUT_S)
        server = stack.enter_context(packages.server_as_unit(conf, server_log))
        packages.list_zones(endpoint, keys, server, server_log)
        wait_host_up(api, cloud["host"]["id"])

        same_process = qemu_pid(domain) == pid and process_start(pid) == started
        running = domain_state(domain)
        reported = vm_state(api, vm["id"])
        stopped = api.stopVirtualMachine(id=vm["id"], forced=True)["virtualmachine"]["state"]
        restarted = api.startVirtualMachine(id=vm["id"])["virtualmachine"]["state"]
        api.destroyVirtualMachine(id=vm["id"], expunge=True)
        gone = api.listVirtualMachines(id=vm["id"]).get("virtualmachine", [])

    assert conf.read_text() == edited
    assert Path("/etc/kvmcloud/secrets.key").read_bytes() == key
    assert same_process and running == "running", (pid, started, running)
    assert reported == "Running"
    assert (stopped, restarted, gone) == ("Stopped", "Running", [])
