"""CloudStack's virtualmachine, nic and volume objects, mapped from VM and volume records."""

from typing import Any

from kvmcloud.server.api.responses import format_date, without_none
from kvmcloud.server.networks.models import Network
from kvmcloud.server.vms.models import Nic
from kvmcloud.server.vms.records import VmRecord, VolumeRecord


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
    return without_none(item)


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
    return without_none(item)


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
    return without_none(item)
