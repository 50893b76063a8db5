"""Zones, pods, clusters, host enrolment and heartbeats, storage pools — in-process."""

from kvmcloud.protocol import agent_messages as msg
from tests.fakes import FAKE_TOKEN, FakeAgent
from tests.integration.server.conftest import AGENT_URL, Cloud, ServerHarness, build_cloud


def test_cloud_objects_are_listed_with_names(server: ServerHarness, cloud: Cloud) -> None:
    hosts = server.ok("listHosts")["host"]
    assert len(hosts) == 1
    host = hosts[0]
    assert (host["state"], host["type"], host["hypervisor"], host["name"]) == (
        "Up",
        "Routing",
        "KVM",
        "kvm1",
    )
    assert host["clusterid"] == cloud.cluster_id and host["zonename"] == "zone1"
    pools = server.ok("listStoragePools", zoneid=cloud.zone_id)["storagepool"]
    assert pools[0]["type"] == "SharedMountPoint" and pools[0]["scope"] == "CLUSTER"
    assert pools[0]["path"] == "/var/lib/kvmcloud/pool1" and pools[0]["disksizetotal"] == 10 << 30
    assert server.ok("listPods", zoneid=cloud.zone_id)["count"] == 1
    assert server.ok("listClusters", podid=cloud.pod_id)["cluster"][0]["name"] == "c1"


def test_add_host_with_wrong_token_is_refused_and_nothing_recorded(
    server: ServerHarness, cloud: Cloud
) -> None:
    server.agents.add("https://127.0.0.2:8252", FakeAgent(token="right"))
    status, body = server.call(
        "addHost",
        zoneid=cloud.zone_id,
        podid=cloud.pod_id,
        clusterid=cloud.cluster_id,
        url="http://127.0.0.2",
        username="root",
        password="wrong",
        hypervisor="KVM",
    )
    assert status == 431 and "password" in body["errortext"]
    assert server.ok("listHosts")["count"] == 1


def test_add_host_twice_and_unreachable_agent(server: ServerHarness, cloud: Cloud) -> None:
    base = {
        "zoneid": cloud.zone_id,
        "podid": cloud.pod_id,
        "clusterid": cloud.cluster_id,
        "username": "root",
        "password": FAKE_TOKEN,
        "hypervisor": "KVM",
    }
    status, body = server.call("addHost", url="http://127.0.0.1:8252", **base)
    assert status == 431 and "already added" in body["errortext"]
    status, body = server.call("addHost", url="http://127.0.0.9", **base)
    assert status == 534 and "Cannot reach the agent" in body["errortext"]


def test_heartbeats_keep_host_state(server: ServerHarness, cloud: Cloud) -> None:
    agent = server.agents.agents[AGENT_URL]
    beat = msg.Heartbeat(host_uuid=cloud.host_id, report=agent.report)
    headers = {"Authorization": f"Bearer {agent.key}", "X-Kvmcloud-Host": cloud.host_id}
    response = server.agent_api.post(
        "/agent/v1/heartbeat", content=msg.to_json(beat), headers=headers
    )
    assert response.status_code == 200
    assert msg.from_json(msg.HeartbeatReply, response.content).interval_s == 60.0
    bad = server.agent_api.post(
        "/agent/v1/heartbeat",
        content=msg.to_json(beat),
        headers={"Authorization": "Bearer stolen", "X-Kvmcloud-Host": cloud.host_id},
    )
    assert bad.status_code == 401

    sweep_and_check_host_states(server, cloud, beat, headers)


def test_host_states_are_swept_on_each_database(server_on_each_database: ServerHarness) -> None:
    server = server_on_each_database
    cloud = build_cloud(server)
    agent = server.agents.agents[AGENT_URL]
    beat = msg.Heartbeat(host_uuid=cloud.host_id, report=agent.report)
    headers = {"Authorization": f"Bearer {agent.key}", "X-Kvmcloud-Host": cloud.host_id}
    server.agent_api.post("/agent/v1/heartbeat", content=msg.to_json(beat), headers=headers)
    sweep_and_check_host_states(server, cloud, beat, headers)


def sweep_and_check_host_states(
    server: ServerHarness, cloud: Cloud, beat: msg.Heartbeat, headers: dict[str, str]
) -> None:
    """Up until ping.interval × ping.timeout, then Disconnected, Down, Up, Disconnected."""
    agent = server.agents.agents[AGENT_URL]

    def state() -> str:
        return server.ok("listHosts", id=cloud.host_id)["host"][0]["state"]

    from kvmcloud.server.infrastructure.jobs import update_host_states

    server.clock.advance(149)
    update_host_states(server.db, server.clock, server.services.last_seen)
    assert state() == "Up"
    server.clock.advance(2)
    update_host_states(server.db, server.clock, server.services.last_seen)
    assert state() == "Disconnected"
    server.clock.advance(300)
    update_host_states(server.db, server.clock, server.services.last_seen)
    assert state() == "Down"
    assert server.ok("listHosts", state="Down")["count"] == 1
    server.agent_api.post("/agent/v1/heartbeat", content=msg.to_json(beat), headers=headers)
    assert state() == "Up"
    goodbye = msg.Heartbeat(host_uuid=cloud.host_id, report=agent.report, shutting_down=True)
    server.agent_api.post("/agent/v1/heartbeat", content=msg.to_json(goodbye), headers=headers)
    update_host_states(server.db, server.clock, server.services.last_seen)
    assert state() == "Disconnected"


def test_storage_pool_validation(server: ServerHarness, cloud: Cloud) -> None:
    status, body = server.call(
        "createStoragePool", name="p", zoneid=cloud.zone_id, url="iscsi://target/iqn/0"
    )
    assert status == 431 and "not supported" in body["errortext"]
    # An RBD url without its cephx user and key is refused naming what is missing.
    status, body = server.call(
        "createStoragePool", name="p", zoneid=cloud.zone_id, url="rbd://mon/pool"
    )
    assert status == 431 and "cephx user and key" in body["errortext"]
    status, body = server.call(
        "createStoragePool", name="p", zoneid=cloud.zone_id, url="nfs://h/export?nfsport=1"
    )
    assert status == 431 and "url" in body["errortext"]
    status, body = server.call(
        "createStoragePool", name="p", zoneid=cloud.zone_id, url="nfs://h/export"
    )
    assert status == 431 and "clusterid" in body["errortext"]
    assert "NetworkFilesystem" in body["errortext"]
    status, body = server.call(
        "createStoragePool", name="p", zoneid=cloud.zone_id, url="Filesystem:///data"
    )
    assert status == 431 and "hostid" in body["errortext"]
    local = server.ok(
        "createStoragePool",
        name="local",
        zoneid=cloud.zone_id,
        hostid=cloud.host_id,
        url="Filesystem:///var/lib/kvmcloud/local",
    )["storagepool"]
    assert local["scope"] == "HOST" and local["clusterid"] == cloud.cluster_id
    status, body = server.call(
        "createStoragePool",
        name="local",
        zoneid=cloud.zone_id,
        hostid=cloud.host_id,
        url="Filesystem:///other",
    )
    assert status == 431 and "already exists" in body["errortext"]


def test_zone_guest_cidr_is_validated(server: ServerHarness) -> None:
    status, body = server.call(
        "createZone", name="z", networktype="Advanced", guestcidraddress="10.1.1.0/33"
    )
    assert status == 431 and "guestcidraddress" in body["errortext"]
    status, body = server.call(
        "createZone", name="z", networktype="Advanced", guestcidraddress="fd00::/64"
    )
    assert status == 431 and "IPv4" in body["errortext"]
    assert server.ok(
        "createZone", name="z", networktype="Advanced", guestcidraddress="192.168.50.0/24"
    )


def test_list_apis_describes_the_infrastructure_objects(server: ServerHarness) -> None:
    apis = {a["name"]: a for a in server.ok("listApis")["api"]}
    host = {f["name"]: f for f in apis["listHosts"]["response"]}
    assert host["cpunumber"]["type"] == "integer" and host["details"]["type"] == "map"
    assert apis["listHosts"]["related"] == "addHost,updateHost"
    zone = {f["name"]: f for f in apis["createZone"]["response"]}
    assert zone["tags"]["type"] == "set"
    assert {f["name"] for f in zone["tags"]["response"]} >= {"key", "value", "resourceid"}
    pod_params = {p["name"]: p for p in apis["listPods"]["params"]}
    assert pod_params["zoneid"]["related"] == "createZone,listZones"
    pool_params = {p["name"]: p for p in apis["updateStoragePool"]["params"]}
    assert "listStoragePools" in pool_params["id"]["related"].split(",")
    capability = {f["name"]: f for f in apis["listCapabilities"]["response"]}
    assert capability["supportELB"]["type"] == "string"
    assert capability["kvmcloudversion"]["description"].startswith("kvmcloud: ")


def test_nfs_pools_are_network_filesystem_with_server_and_export(
    server: ServerHarness, cloud: Cloud
) -> None:
    cluster_pool = server.ok(
        "createStoragePool",
        name="nfs-cluster",
        zoneid=cloud.zone_id,
        clusterid=cloud.cluster_id,
        url="nfs://nfs1.example.org/export/primary/",
    )["storagepool"]
    zone_pool = server.ok(
        "createStoragePool",
        name="nfs-zone",
        zoneid=cloud.zone_id,
        scope="zone",
        hypervisor="KVM",
        url="nfs://10.0.0.5/export/zone",
    )["storagepool"]
    assert (cluster_pool["type"], cluster_pool["scope"]) == ("NetworkFilesystem", "CLUSTER")
    assert (cluster_pool["ipaddress"], cluster_pool["path"]) == (
        "nfs1.example.org",
        "/export/primary",
    )
    assert cluster_pool["clusterid"] == cloud.cluster_id
    assert (zone_pool["type"], zone_pool["scope"]) == ("NetworkFilesystem", "ZONE")
    assert (zone_pool["ipaddress"], zone_pool["path"]) == ("10.0.0.5", "/export/zone")
    listed = server.ok("listStoragePools", id=cluster_pool["id"])["storagepool"]
    assert [(p["type"], p["ipaddress"], p["path"]) for p in listed] == [
        ("NetworkFilesystem", "nfs1.example.org", "/export/primary")
    ]
