"""CloudStack's virtualmachine, nic and volume objects, mapped from VM and volume records."""

from typing import Any

from kvmcloud.server.api.fields import FieldType, ObjectSchema, out
from kvmcloud.server.api.params import Entity
from kvmcloud.server.api.responses import format_date
from kvmcloud.server.infrastructure.views import RESOURCE_TAG
from kvmcloud.server.networks.models import Network
from kvmcloud.server.vms.models import Nic
from kvmcloud.server.vms.records import ConsoleLog, VmRecord, VolumeRecord

_S, _B, _I, _L, _D = (
    FieldType.STRING,
    FieldType.BOOLEAN,
    FieldType.INTEGER,
    FieldType.LONG,
    FieldType.DATE,
)

# kvmcloud answers these lists empty: declared without fields, any element would be a bug.
_SECURITY_GROUP = ObjectSchema("SecurityGroupResponse", ())
_AFFINITY_GROUP = ObjectSchema("AffinityGroupResponse", ())

NIC = ObjectSchema(
    "NicResponse",
    (
        out("id", _S, "the ID of the nic"),
        out("networkid", _S, "the ID of the corresponding network"),
        out("networkname", _S, "the name of the corresponding network"),
        out("ipaddress", _S, "the ip address of the nic"),
        out("netmask", _S, "the netmask of the nic"),
        out("gateway", _S, "the gateway of the nic"),
        out("macaddress", _S, "the MAC address of the nic"),
        out("isdefault", _B, "true if nic is default, false otherwise"),
        out("traffictype", _S, "the traffic type of the nic"),
        out("type", _S, "the type of the nic"),
        out("virtualmachineid", _S, "Id of the vm to which the nic belongs"),
    ),
    entity=Entity.NIC,
)

VIRTUAL_MACHINE = ObjectSchema(
    "UserVmResponse",
    (
        out("id", _S, "the ID of the virtual machine"),
        out("name", _S, "the name of the virtual machine"),
        out(
            "displayname",
            _S,
            "user generated name. The name of the virtual machine is returned if no "
            "displayname exists.",
        ),
        out(
            "instancename",
            _S,
            "instance name of the user vm; this parameter is returned to the ROOT admin only",
        ),
        out("state", _S, "the state of the virtual machine"),
        out("account", _S, "the account associated with the virtual machine"),
        out("accountid", _S, "kvmcloud: the ID of the account owning the virtual machine"),
        out("domain", _S, "the name of the domain in which the virtual machine exists"),
        out("domainid", _S, "the ID of the domain in which the virtual machine exists"),
        out("created", _D, "the date when this virtual machine was created"),
        out("haenable", _B, "true if high-availability is enabled, false otherwise"),
        out("zoneid", _S, "the ID of the availablility zone for the virtual machine"),
        out("zonename", _S, "the name of the availability zone for the virtual machine"),
        out("hostid", _S, "the ID of the host for the virtual machine"),
        out("hostname", _S, "the name of the host for the virtual machine"),
        out(
            "templateid",
            _S,
            "the ID of the template for the virtual machine. A -1 is returned if the virtual "
            "machine was created from an ISO file.",
        ),
        out("templatename", _S, "the name of the template for the virtual machine"),
        out(
            "templatedisplaytext",
            _S,
            "an alternate display text of the template for the virtual machine",
        ),
        out("isoid", _S, "the ID of the ISO attached to the virtual machine"),
        out("isoname", _S, "the name of the ISO attached to the virtual machine"),
        out("passwordenabled", _B, "true if the password rest feature is enabled, false otherwise"),
        out("serviceofferingid", _S, "the ID of the service offering of the virtual machine"),
        out("serviceofferingname", _S, "the name of the service offering of the virtual machine"),
        out("cpunumber", _I, "the number of cpu this virtual machine is running with"),
        out("cpuspeed", _I, "the speed of each cpu"),
        out("memory", _I, "the memory allocated for the virtual machine"),
        out("guestosid", _S, "Os type ID of the virtual machine"),
        out("ostypeid", _S, "OS type id of the vm"),
        out("rootdeviceid", _L, "device ID of the root volume"),
        out("rootdevicetype", _S, "device type of the root volume"),
        out("hypervisor", _S, "the hypervisor on which the template runs"),
        out("nic", FieldType.SET, "the list of nics associated with vm", nested=NIC),
        out(
            "securitygroup",
            FieldType.SET,
            "list of security groups associated with the virtual machine",
            nested=_SECURITY_GROUP,
        ),
        out(
            "affinitygroup",
            FieldType.SET,
            "list of affinity groups associated with the virtual machine",
            nested=_AFFINITY_GROUP,
        ),
        out("tags", FieldType.SET, "the list of resource tags associated", nested=RESOURCE_TAG),
        out("details", FieldType.MAP, "Vm details in key/value pairs."),
        out(
            "lasterror",
            _S,
            "kvmcloud: why the virtual machine's last operation failed, if it did",
        ),
    ),
    entity=Entity.VIRTUAL_MACHINE,
)


def vm_response(record: VmRecord) -> dict[str, Any]:
    """Map a VM to CloudStack's virtualmachine object."""
    vm, zone, offering, template = record.vm, record.zone, record.offering, record.template
    iso, host, account, domain = record.iso, record.host, record.account, record.domain
    guest_os = record.guest_os
    details = {"accelerator": vm.accelerator, "consolelog": vm.console_log}
    item = {
        "id": vm.uuid,
        "name": vm.name,
        "displayname": vm.display_name,
        "instancename": vm.instance_name,
        "state": vm.state,
        "account": account.account_name if account else None,
        "accountid": account.uuid if account else None,
        "domain": domain.name if domain else None,
        "domainid": domain.uuid if domain else None,
        "created": format_date(vm.created),
        "haenable": vm.ha_enabled,
        "zoneid": zone.uuid if zone else None,
        "zonename": zone.name if zone else None,
        "hostid": host.uuid if host else None,
        "hostname": host.name if host else None,
        "templateid": template.uuid if template else None,
        "templatename": template.name if template else None,
        "templatedisplaytext": template.display_text if template else None,
        "isoid": iso.uuid if iso else None,
        "isoname": iso.name if iso else None,
        "passwordenabled": bool(template and template.enable_password),
        "serviceofferingid": offering.uuid if offering else None,
        "serviceofferingname": offering.name if offering else None,
        "cpunumber": offering.cpu if offering else None,
        "cpuspeed": offering.speed if offering else None,
        "memory": offering.ram_size if offering else None,
        "guestosid": guest_os.uuid if guest_os else None,
        "ostypeid": guest_os.uuid if guest_os else None,
        "rootdeviceid": 0,
        "rootdevicetype": "ROOT",
        "hypervisor": "KVM",
        "nic": [nic_response(nic, record.networks.get(nic.network_id or 0)) for nic in record.nics],
        "securitygroup": [],
        "affinitygroup": [],
        "tags": [],
        "details": {k: v for k, v in details.items() if v},
        "lasterror": vm.error_text,
    }
    return VIRTUAL_MACHINE.render(item)


def nic_response(nic: Nic, network: Network | None = None) -> dict[str, Any]:
    """Map a NIC to an entry of the virtualmachine's nic list.

    ``network`` None: the NIC has the zone's guest range (deployed without networkids),
    shown as kvmcloud always showed it. An L2 network's NIC has no address keys.
    """
    item = {
        "id": nic.uuid,
        "networkid": network.uuid if network else None,
        "networkname": network.name if network else "guest",
        "ipaddress": nic.ip4_address,
        "netmask": nic.netmask,
        "gateway": nic.gateway,
        "macaddress": nic.mac_address,
        "isdefault": nic.is_default,
        "traffictype": "Guest",
        "type": network.guest_type.value if network else "L2",
    }
    return NIC.render(item)


VOLUME = ObjectSchema(
    "VolumeResponse",
    (
        out("id", _S, "ID of the disk volume"),
        out("name", _S, "name of the disk volume"),
        out("account", _S, "the account associated with the disk volume"),
        out("domain", _S, "the domain associated with the disk volume"),
        out("domainid", _S, "the ID of the domain associated with the disk volume"),
        out("zoneid", _S, "ID of the availability zone"),
        out("zonename", _S, "name of the availability zone"),
        out("type", _S, "type of the disk volume (ROOT or DATADISK)"),
        out(
            "deviceid",
            _L,
            "the ID of the device on user vm the volume is attahed to. This tag is not "
            "returned when the volume is detached.",
        ),
        out("virtualmachineid", _S, "id of the virtual machine"),
        out("vmname", _S, "name of the virtual machine"),
        out("vmstate", _S, "state of the virtual machine"),
        out("size", _L, "size of the disk volume"),
        out("physicalsize", _L, "the bytes actually consumed on disk"),
        out(
            "storageid",
            _S,
            "id of the primary storage hosting the disk volume; returned to admin user only",
        ),
        out("storage", _S, "name of the primary storage hosting the disk volume"),
        out("storagetype", _S, "shared or local storage"),
        out("state", _S, "the state of the disk volume"),
        out("path", _S, "the path of the volume"),
        out("format", _S, "kvmcloud: the disk image format of the volume (QCOW2)"),
        out("hypervisor", _S, "Hypervisor the volume belongs to"),
        out(
            "templateid",
            _S,
            "the ID of the template for the virtual machine. A -1 is returned if the virtual "
            "machine was created from an ISO file.",
        ),
        out("diskofferingid", _S, "ID of the disk offering"),
        out("diskofferingname", _S, "name of the disk offering"),
        out("created", _D, "the date the disk volume was created"),
    ),
    entity=Entity.VOLUME,
)


def volume_response(record: VolumeRecord) -> dict[str, Any]:
    """Map a volume to CloudStack's volume object."""
    volume, zone, pool, vm = record.volume, record.zone, record.pool, record.vm
    template, offering = record.template, record.offering
    account, domain = record.account, record.domain
    item = {
        "id": volume.uuid,
        "name": volume.name,
        "account": account.account_name if account else None,
        "domain": domain.name if domain else None,
        "domainid": domain.uuid if domain else None,
        "zoneid": zone.uuid if zone else None,
        "zonename": zone.name if zone else None,
        "type": volume.volume_type,
        "deviceid": volume.device_id,
        "virtualmachineid": vm.uuid if vm else None,
        "vmname": vm.name if vm else None,
        "vmstate": vm.state if vm else None,
        "size": volume.size,
        "physicalsize": volume.physical_size or None,
        "storageid": pool.uuid if pool else None,
        "storage": pool.name if pool else None,
        "storagetype": "local" if pool is not None and pool.scope.value == "HOST" else "shared",
        "state": volume.state,
        "path": volume.path,
        "format": volume.format,
        "hypervisor": "KVM",
        "templateid": template.uuid if template else None,
        "diskofferingid": offering.uuid if offering else None,
        "diskofferingname": offering.name if offering else None,
        "created": format_date(volume.created),
    }
    return VOLUME.render(item)


CONSOLE_LOG = ObjectSchema(
    "VirtualMachineConsoleLogResponse",
    (
        out("id", FieldType.STRING, "the ID of the virtual machine"),
        out(
            "log",
            FieldType.STRING,
            "the tail of the serial console log (UTF-8, undecodable bytes replaced)",
        ),
        out("truncated", FieldType.BOOLEAN, "true if the log holds more than was returned"),
        out("size", FieldType.LONG, "the size of the whole log in bytes"),
    ),
)


def console_log_response(console: ConsoleLog) -> dict[str, Any]:
    """Render getVirtualMachineConsoleLog's object."""
    return CONSOLE_LOG.render(
        {
            "id": console.vm_uuid,
            "log": console.log,
            "truncated": console.truncated,
            "size": console.size_bytes,
        }
    )
