"""One real answer per command, compared with the response fields listApis declares for it.

The harness checks every answer against its command's declared object (undeclared fields,
wrong types); this test calls every command once in one cloud so that each is checked.
"""

from typing import Any

import pytest
import trustme

from kvmcloud.server.app import build_registry, recover_after_restart
from tests.integration.server.conftest import Cloud, ServerHarness
from tests.integration.server.jobs import run_all_jobs
from tests.integration.server.test_certificates import add_host
from tests.support.egress import ALLOW_SETTING, LOOPBACK

# kvmcloud has none of these objects: their lists are truthfully empty, so no answer carries
# one (their declared objects are still described by listApis).
ALWAYS_EMPTY = {
    "listFirewallRules",
    "listIpForwardingRules",
    "listLoadBalancerRules",
    "listNetworkServiceProviders",
    "listPortForwardingRules",
    "listPublicIpAddresses",
    "listRouters",
    "listSnapshots",
    "listSystemVms",
    "listVPCs",
    "listVlanIpRanges",
}


@pytest.fixture
def ca_pem() -> str:
    return trustme.CA().cert_pem.bytes().decode()


def done(server: ServerHarness, command: str, **params: Any) -> dict[str, Any]:
    """Run an async command to its end and answer its job's result."""
    reply = server.ok(command, **params)
    run_all_jobs(server)
    result = server.ok("queryAsyncJobResult", jobid=reply["jobid"])
    assert result["jobstatus"] == 1, (command, result)
    return result["jobresult"]


def test_every_command_declares_its_response_object() -> None:
    undeclared = [c.name for c in build_registry().all() if c.response is None]
    assert undeclared == []


def test_every_command_answers_what_it_declares(
    server: ServerHarness, cloud: Cloud, ca_pem: str
) -> None:
    ok = server.ok
    recover_after_restart(server.services)  # registers this management server
    zone = cloud.zone_id
    # Templates, ISOs and their management.
    template = ok(
        "registerTemplate",
        name="tiny",
        url="http://127.0.0.1:9/tiny.qcow2",
        format="QCOW2",
        hypervisor="KVM",
        zoneid=zone,
        isextractable="true",
        directdownload="true",
    )["template"][0]["id"]
    iso = ok(
        "registerIso",
        name="cd",
        url="http://127.0.0.1:9/cd.iso",
        zoneid=zone,
        bootable="true",
        directdownload="true",
    )["iso"][0]["id"]
    ok("listTemplates", templatefilter="all")
    ok("listIsos", isofilter="all")
    ok("updateTemplate", id=template, displaytext="tiny one")
    ok("updateIso", id=iso, displaytext="cd one")
    ok("listOsTypes")
    ok("listOsCategories")
    ok("prepareTemplate", templateid=template, zoneid=zone)
    run_all_jobs(server)
    zone2 = ok("createZone", name="zone2", networktype="Advanced", dns1="8.8.8.8")["zone"]["id"]
    ok("updateConfiguration", name=ALLOW_SETTING, value=LOOPBACK, zoneid=zone2)
    done(server, "copyTemplate", id=template, sourcezoneid=zone, destzoneid=zone2)
    done(server, "copyIso", id=iso, sourcezoneid=zone, destzoneid=zone2)
    done(server, "extractTemplate", id=template, mode="HTTP_DOWNLOAD", zoneid=zone)
    done(server, "extractIso", id=iso, mode="HTTP_DOWNLOAD", zoneid=zone)

    # Accounts, domains, users, keys and roles.
    domain = ok("createDomain", name="sales")["domain"]["id"]
    ok("updateDomain", id=domain, name="sales2")
    ok("listDomains")
    ok("listDomainChildren")
    account = ok(
        "createAccount",
        username="bob",
        email="bob@example.com",
        firstname="Bob",
        lastname="B",
        password="Secret-pass-1",
        domainid=domain,
        accounttype=0,
    )["account"]
    ok("updateAccount", id=account["id"], newname="bobs")
    ok("listAccounts", listall="true")
    other = ok(
        "createUser",
        username="carol",
        email="carol@example.com",
        firstname="Carol",
        lastname="C",
        password="Secret-pass-2",
        account="bobs",
        domainid=domain,
    )["user"]["id"]
    ok("updateUser", id=other, firstname="Caroline")
    ok("listUsers", listall="true")
    ok("registerUserKeys", id=other)
    ok("getUserKeys", id=other)
    done(server, "disableUser", id=other)
    ok("enableUser", id=other)
    ok("deleteUser", id=other)
    ok("lockAccount", account="bobs", domainid=domain)
    ok("enableAccount", account="bobs", domainid=domain)
    done(server, "disableAccount", account="bobs", domainid=domain, lock="false")
    ok("enableAccount", account="bobs", domainid=domain)
    ok("updateTemplatePermissions", id=template, isfeatured="true")
    ok("listTemplatePermissions", id=template)
    ok("updateIsoPermissions", id=iso, ispublic="true")
    ok("listIsoPermissions", id=iso)
    role = ok("createRole", name="reader", type="User")["role"]["id"]
    ok("updateRole", id=role, description="reads")
    ok("listRoles")
    permission = ok("createRolePermission", roleid=role, rule="list*", permission="allow")[
        "rolepermission"
    ]["id"]
    ok("updateRolePermission", roleid=role, ruleid=permission, permission="deny")
    ok("listRolePermissions", roleid=role)
    ok("deleteRolePermission", id=permission)
    ok("deleteRole", id=role)

    # Offerings and networks.
    disk = ok("createDiskOffering", name="d1", disksize=1)["diskoffering"]["id"]
    ok("updateDiskOffering", id=disk, displaytext="one")
    ok("listDiskOfferings")
    ok("deleteDiskOffering", id=disk)
    service = ok("createServiceOffering", name="s1", cpunumber=1, cpuspeed=500, memory=256)[
        "serviceoffering"
    ]["id"]
    ok("updateServiceOffering", id=service, displaytext="small")
    ok("listServiceOfferings")
    net_offering = ok("createNetworkOffering", name="l2", traffictype="GUEST", guestiptype="L2")[
        "networkoffering"
    ]["id"]
    ok("updateNetworkOffering", id=net_offering, state="Enabled")
    ok("listNetworkOfferings")
    network = ok(
        "createNetwork", name="n1", displaytext="n1", networkofferingid=net_offering, zoneid=zone
    )["network"]["id"]
    done(server, "updateNetwork", id=network, displaytext="n one")
    ok("listNetworks", listall="true")
    physical = ok("listPhysicalNetworks", zoneid=zone)["physicalnetwork"][0]["id"]
    ok("listTrafficTypes", physicalnetworkid=physical)

    # VMs and volumes.
    vm = done(
        server,
        "deployVirtualMachine",
        zoneid=zone,
        templateid=template,
        serviceofferingid=service,
        networkids=network,
    )["virtualmachine"]["id"]
    ok("listVirtualMachines")
    ok("listVirtualMachinesMetrics")
    ok("listNics", virtualmachineid=vm)
    ok("getVirtualMachineConsoleLog", id=vm)
    ok("listVolumes")
    done(server, "rebootVirtualMachine", id=vm)
    done(server, "attachIso", id=iso, virtualmachineid=vm)
    done(server, "detachIso", virtualmachineid=vm)
    done(server, "stopVirtualMachine", id=vm)
    done(server, "startVirtualMachine", id=vm)
    done(server, "destroyVirtualMachine", id=vm)
    ok("recoverVirtualMachine", id=vm)
    done(server, "destroyVirtualMachine", id=vm)
    done(server, "expungeVirtualMachine", id=vm)
    done(server, "deleteNetwork", id=network)
    ok("deleteNetworkOffering", id=net_offering)
    ok("deleteServiceOffering", id=service)

    # Infrastructure, certificates, settings, events, jobs and metrics.
    ok("listZones")
    ok("listPods")
    ok("listClusters")
    ok("listHosts")
    ok("listStoragePools")
    ok("listHypervisors")
    ok("listCapabilities")
    ok("updateHost", id=cloud.host_id, hosttags="fast")
    ok("updateStoragePool", id=cloud.pool_id, tags="ssd")
    add_host(server, cloud, 2)
    certificate = ok(
        "uploadTemplateDirectDownloadCertificate",
        certificate=ca_pem,
        name="ca",
        hypervisor="kvm",
        zoneid=zone,
        method="POST",
    )["uploadtemplatedirectdownloadcertificate"]["id"]
    ok("listTemplateDirectDownloadCertificates", listhosts="true")
    ok("revokeTemplateDirectDownloadCertificate", id=certificate, zoneid=zone, hostid=cloud.host_id)
    ok("provisionTemplateDirectDownloadCertificate", id=certificate, hostid=cloud.host_id)
    ok("listConfigurations", keyword="direct.download")
    ok("updateConfiguration", name="direct.download.connect.timeout", value="6000")
    ok("listEvents")
    ok("listEventTypes")
    ok("listAsyncJobs")
    ok("listManagementServers")
    ok("listResourceLimits")
    ok("listRegions")
    ok("listApis", name="listZones")
    for metrics in (
        "listHostsMetrics",
        "listStoragePoolsMetrics",
        "listZonesMetrics",
        "listClustersMetrics",
        "listManagementServersMetrics",
        "listInfrastructure",
    ):
        ok(metrics)
    for empty in sorted(ALWAYS_EMPTY):
        assert ok(empty) == {}, empty

    # Removals last: a pool, a template, an ISO, an account, a domain.
    spare = ok(
        "createStoragePool",
        name="spare",
        zoneid=zone,
        clusterid=cloud.cluster_id,
        url="SharedMountPoint://localhost/var/lib/kvmcloud/spare",
    )["storagepool"]["id"]
    done(server, "enableStorageMaintenance", id=spare)
    done(server, "cancelStorageMaintenance", id=spare)
    done(server, "enableStorageMaintenance", id=spare)
    ok("deleteStoragePool", id=spare)
    done(server, "deleteTemplate", id=template)
    done(server, "deleteIso", id=iso)
    done(server, "deleteAccount", id=account["id"])
    done(server, "deleteDomain", id=domain)

    unanswered = {c.name for c in build_registry().all()} - server.answered - ALWAYS_EMPTY
    assert sorted(unanswered) == []
