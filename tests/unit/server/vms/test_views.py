"""views: VM and volume records become CloudStack's objects; absent rows drop their keys."""

from datetime import UTC, datetime

from kvmcloud.server.accounts.models import Account, Domain
from kvmcloud.server.infrastructure.models import Host, PoolScope, StoragePool, Zone
from kvmcloud.server.networks.models import GuestType, Network
from kvmcloud.server.offerings.models import DiskOffering, ServiceOffering
from kvmcloud.server.templates.models import GuestOs, Template
from kvmcloud.server.vms.models import (
    Nic,
    VirtualMachine,
    VmState,
    Volume,
    VolumeState,
    VolumeType,
)
from kvmcloud.server.vms.records import VmRecord, VolumeRecord
from kvmcloud.server.vms.views import nic_response, vm_response, volume_response

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def a_vm(**changes: object) -> VirtualMachine:
    values: dict[str, object] = {
        "uuid": "vm-uuid",
        "name": "web-1",
        "display_name": "Web",
        "instance_name": "i-2-7-VM",
        "state": VmState.RUNNING,
        "ha_enabled": False,
        "accelerator": "kvm",
        "console_log": None,
        "error_text": None,
        "created": CREATED,
    }
    values.update(changes)
    return VirtualMachine(**values)


def a_nic(uuid: str, ip: str) -> Nic:
    return Nic(
        uuid=uuid,
        ip4_address=ip,
        netmask="255.255.255.0",
        gateway="10.1.1.1",
        mac_address="02:00:00:00:00:01",
        is_default=True,
    )


def a_record(vm: VirtualMachine, **changes: object) -> VmRecord:
    values: dict[str, object] = {
        "vm": vm,
        "zone": Zone(uuid="zone-uuid", name="zone1"),
        "offering": ServiceOffering(uuid="so-uuid", name="small", cpu=1, speed=500, ram_size=256),
        "template": Template(
            uuid="tpl-uuid", name="tiny", display_text="Tiny", enable_password=False
        ),
        "iso": None,
        "host": Host(uuid="host-uuid", name="kvm1"),
        "account": Account(uuid="acct-uuid", account_name="alice"),
        "domain": Domain(uuid="dom-uuid", name="ROOT"),
        "guest_os": GuestOs(uuid="os-uuid"),
        "nics": (a_nic("nic-1", "10.1.1.2"),),
    }
    values.update(changes)
    return VmRecord(**values)  # type: ignore[arg-type]


def test_a_running_vm_names_its_related_rows() -> None:
    assert vm_response(a_record(a_vm())) == {
        "id": "vm-uuid",
        "name": "web-1",
        "displayname": "Web",
        "instancename": "i-2-7-VM",
        "state": "Running",
        "account": "alice",
        "accountid": "acct-uuid",
        "domain": "ROOT",
        "domainid": "dom-uuid",
        "created": "2026-01-02T03:04:05+0000",
        "haenable": False,
        "zoneid": "zone-uuid",
        "zonename": "zone1",
        "hostid": "host-uuid",
        "hostname": "kvm1",
        "templateid": "tpl-uuid",
        "templatename": "tiny",
        "templatedisplaytext": "Tiny",
        "passwordenabled": False,
        "serviceofferingid": "so-uuid",
        "serviceofferingname": "small",
        "cpunumber": 1,
        "cpuspeed": 500,
        "memory": 256,
        "guestosid": "os-uuid",
        "ostypeid": "os-uuid",
        "rootdeviceid": 0,
        "rootdevicetype": "ROOT",
        "hypervisor": "KVM",
        "nic": [nic_response(a_nic("nic-1", "10.1.1.2"))],
        "securitygroup": [],
        "affinitygroup": [],
        "tags": [],
        "details": {"accelerator": "kvm"},
    }


def test_absent_rows_and_empty_values_leave_their_keys_out() -> None:
    vm = a_vm(state=VmState.STOPPED, accelerator=None, error_text="found Missing on host kvm1")
    response = vm_response(
        a_record(vm, host=None, account=None, domain=None, template=None, nics=())
    )
    assert response["state"] == "Stopped" and response["lasterror"].startswith("found")
    assert response["details"] == {} and response["nic"] == []
    assert response["passwordenabled"] is False
    absent = {"hostid", "hostname", "account", "accountid", "domain", "domainid", "templateid"}
    assert not absent & response.keys()


def test_an_inserted_iso_and_every_nic_in_order_are_shown() -> None:
    iso = Template(uuid="iso-uuid", name="tools")
    nics = (a_nic("nic-2", "10.1.1.3"), a_nic("nic-1", "10.1.1.2"))
    response = vm_response(a_record(a_vm(), iso=iso, nics=nics))
    assert (response["isoid"], response["isoname"]) == ("iso-uuid", "tools")
    assert [n["id"] for n in response["nic"]] == ["nic-2", "nic-1"]


def test_a_nic_is_a_guest_l2_nic() -> None:
    assert nic_response(a_nic("nic-1", "10.1.1.2")) == {
        "id": "nic-1",
        "ipaddress": "10.1.1.2",
        "netmask": "255.255.255.0",
        "gateway": "10.1.1.1",
        "macaddress": "02:00:00:00:00:01",
        "isdefault": True,
        "traffictype": "Guest",
        "type": "L2",
        "networkname": "guest",
    }


def a_volume(**changes: object) -> Volume:
    values: dict[str, object] = {
        "uuid": "vol-uuid",
        "name": "ROOT-7",
        "volume_type": VolumeType.ROOT,
        "device_id": 0,
        "size": 5 << 30,
        "physical_size": 0,
        "state": VolumeState.ALLOCATED,
        "path": "vol-uuid",
        "format": "QCOW2",
        "created": CREATED,
    }
    values.update(changes)
    return Volume(**values)


def test_a_volume_on_a_host_pool_is_local_storage() -> None:
    pool = StoragePool(uuid="pool-uuid", name="pool1", scope=PoolScope.HOST)
    record = VolumeRecord(
        volume=a_volume(state=VolumeState.READY, physical_size=1 << 20),
        zone=Zone(uuid="zone-uuid", name="zone1"),
        pool=pool,
        vm=a_vm(),
        template=Template(uuid="tpl-uuid"),
        offering=DiskOffering(uuid="do-uuid", name="d2"),
    )
    assert volume_response(record) == {
        "id": "vol-uuid",
        "name": "ROOT-7",
        "zoneid": "zone-uuid",
        "zonename": "zone1",
        "type": "ROOT",
        "deviceid": 0,
        "virtualmachineid": "vm-uuid",
        "vmname": "web-1",
        "vmstate": "Running",
        "size": 5 << 30,
        "physicalsize": 1 << 20,
        "storageid": "pool-uuid",
        "storage": "pool1",
        "storagetype": "local",
        "state": "Ready",
        "path": "vol-uuid",
        "format": "QCOW2",
        "hypervisor": "KVM",
        "templateid": "tpl-uuid",
        "diskofferingid": "do-uuid",
        "diskofferingname": "d2",
        "created": "2026-01-02T03:04:05+0000",
    }


def test_a_volume_not_yet_on_a_pool_is_shared_and_shows_no_pool() -> None:
    record = VolumeRecord(
        volume=a_volume(), zone=None, pool=None, vm=None, template=None, offering=None
    )
    response = volume_response(record)
    assert response["storagetype"] == "shared" and response["state"] == "Allocated"
    assert not {"storageid", "storage", "physicalsize", "zoneid", "vmname"} & response.keys()


def test_a_nic_on_a_guest_network_names_it_and_an_l2_nic_has_no_address() -> None:
    shared = Network(id=3, uuid="net-3", name="sh", guest_type=GuestType.SHARED)
    item = nic_response(a_nic("nic-1", "10.1.1.2"), shared)
    assert (item["networkid"], item["networkname"], item["type"]) == ("net-3", "sh", "Shared")
    assert item["ipaddress"] == "10.1.1.2"
    l2 = Network(id=4, uuid="net-4", name="l2", guest_type=GuestType.L2)
    bare = Nic(uuid="nic-2", mac_address="02:00:00:00:00:02", is_default=False)
    assert nic_response(bare, l2) == {
        "id": "nic-2",
        "networkid": "net-4",
        "networkname": "l2",
        "macaddress": "02:00:00:00:00:02",
        "isdefault": False,
        "traffictype": "Guest",
        "type": "L2",
    }
