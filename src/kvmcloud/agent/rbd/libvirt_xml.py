"""libvirt XML for RBD (pure): the network disk of a VM and the secret holding the cephx key."""

import uuid
import xml.etree.ElementTree as ET

from kvmcloud.agent.rbd.cli import RbdAccess

USAGE_NAME_PREFIX = "kvmcloud-rbd-"
# Secret uuids are derived from the pool uuid, so the domain XML (which names the secret)
# is a pure function of the command, and defining the secret again is idempotent.
_SECRET_NAMESPACE = uuid.UUID("5b0c2f4e-4d0a-4c61-9d3e-6b7f0f1a2c3d")


def secret_uuid_for(pool_uuid: str) -> str:
    """The uuid of the libvirt secret holding a pool's cephx key."""
    return str(uuid.uuid5(_SECRET_NAMESPACE, _canonical_uuid(pool_uuid, "pool uuid")))


def secret_usage_name(pool_uuid: str) -> str:
    """The usage name of a pool's libvirt secret (one secret per kvmcloud pool)."""
    return f"{USAGE_NAME_PREFIX}{_canonical_uuid(pool_uuid, 'pool uuid')}"


def secret_xml(secret_uuid: str, pool_uuid: str) -> str:
    """A private, non-ephemeral ``<secret>`` of usage type ``ceph`` for a pool's cephx key.

    The key itself is not in the XML: it is set afterwards with ``secretSetValue`` (libvirt
    keeps it base64-decoded and never shows a private secret's value back).
    """
    root = ET.Element("secret", ephemeral="no", private="yes")
    # ephemeral="no": libvirt keeps the definition (value included) across its restarts,
    # so VMs can be restarted by libvirt itself; private: the value is never read back.
    ET.SubElement(root, "uuid").text = _canonical_uuid(secret_uuid, "secret uuid")
    ET.SubElement(root, "description").text = f"kvmcloud RBD pool {pool_uuid}"
    usage = ET.SubElement(root, "usage", type="ceph")
    ET.SubElement(usage, "name").text = secret_usage_name(pool_uuid)
    return ET.tostring(root, encoding="unicode")


def rbd_disk_element(access: RbdAccess, image: str, *, secret_uuid: str, target: str) -> ET.Element:
    """``<disk type='network'>`` of a VM on ``pool/image``, authenticating with the secret.

    QEMU talks to the monitors (their v1 addresses) and OSDs itself through librbd; the
    host needs no ceph.conf and no keyring. cache=writeback is librbd's recommended mode
    for VMs (QEMU flushes on guest flush requests, so it is safe).
    """
    element = ET.Element("disk", type="network", device="disk")
    ET.SubElement(element, "driver", name="qemu", type="raw", cache="writeback", discard="unmap")
    source = ET.SubElement(element, "source", protocol="rbd", name=access.spec(image))
    for monitor in access.monitors:
        ET.SubElement(source, "host", name=monitor.host, port=str(monitor.port))
    auth = ET.SubElement(element, "auth", username=access.user)
    ET.SubElement(auth, "secret", type="ceph", uuid=_canonical_uuid(secret_uuid, "secret uuid"))
    ET.SubElement(element, "target", dev=target, bus="virtio")
    return element


def rbd_disk_xml(access: RbdAccess, image: str, *, secret_uuid: str, target: str) -> str:
    """:func:`rbd_disk_element` as text."""
    return ET.tostring(
        rbd_disk_element(access, image, secret_uuid=secret_uuid, target=target), encoding="unicode"
    )


def _canonical_uuid(text: str, what: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError as exc:
        raise ValueError(f"{what} {text!r} is not a UUID") from exc
