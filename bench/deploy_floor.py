"""Deploy of a cached template through kvmcloud against the bare libvirt floor, same image.

``ours``: ``deployVirtualMachine`` through the real API, server and agent on libvirt/QEMU,
the template already on the pool, timed until the job answers the VM Running.
``floor``: what an operator would type for the same VM: ``qemu-img create -b`` (a qcow2
overlay on the same cached template file), ``virsh define`` of the same domain XML (the
XML of our VM, renamed) and ``virsh start``. The two are interleaved, one of each per
round, and each VM is destroyed (untimed) before the next starts: one guest at a time.
"""

import json
import secrets
import statistics
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.libvirt import URI

from bench.stack import Stack, start_stack
from kvmcloud_acceptance.image_server import ImageServer

FLOOR_NAME = "kvmcloud-bench-floor"
COMMAND_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class DeployFigures:
    """Medians in seconds over ``reps`` rounds, and the load average around them."""

    reps: int
    ours_s: float
    floor_s: float
    load_before: str
    load_after: str

    @property
    def ratio(self) -> float:
        return self.ours_s / self.floor_s


def virsh(*args: str) -> str:
    """Run ``virsh -c qemu:///system …`` and return its output, or fail with it."""
    done = subprocess.run(
        ["virsh", "-c", URI, *args],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"virsh {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _forget(name: str) -> None:
    """Destroy and undefine a domain of ours if it exists (no QEMU is left behind)."""
    for action in (("destroy", name), ("undefine", name)):
        subprocess.run(
            ["virsh", "-c", URI, *action],
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )


def floor_xml(domain_xml: str, name: str, disk: Path) -> str:
    """Our VM's persistent XML as another domain: ``name``, no uuid, root disk ``disk``."""
    root = ET.fromstring(domain_xml)
    old_name = root.findtext("name") or ""
    for uuid in root.findall("uuid"):
        root.remove(uuid)
    source = root.find("./devices/disk[@device='disk']/source")
    if source is None:
        raise ValueError("the domain has no disk with a source file")
    source.set("file", str(disk))
    root.attrib.pop("id", None)
    # Console logs and the like are named after the domain: keep the floor's apart.
    return ET.tostring(root, encoding="unicode").replace(old_name, name)


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


class DeployBench:
    """One stack, one cached template, and the rounds of ours vs the floor."""

    def __init__(self, stack: Stack, image: ImageServer) -> None:
        self.stack = stack
        self.api = stack.api
        self.image = image
        # Every domain of this run has it in its name (CloudStack's instance.name setting).
        self.marker = f"bench{secrets.token_hex(3)}"
        self.setup: dict[str, Any] = {}

    def prepare(self) -> None:
        """Network, offering, template; one deploy caches the template on the pool."""
        api, zone_id = self.api, self.stack.zone_id
        api.updateConfiguration(name="instance.name", value=self.marker)
        offering = api.createNetworkOffering(
            name="bench-l2", displaytext="bench-l2", guestiptype="L2", traffictype="GUEST"
        )["networkoffering"]
        api.updateNetworkOffering(id=offering["id"], state="Enabled")
        network = api.createNetwork(
            name="bench-l2", displaytext="bench-l2", networkofferingid=offering["id"],
            zoneid=zone_id,
        )["network"]  # fmt: skip
        service = api.createServiceOffering(
            name="bench-tiny", displaytext="bench-tiny", cpunumber=1, cpuspeed=500, memory=128
        )["serviceoffering"]
        os_type = api.listOsTypes()["ostype"][0]
        template = api.registerTemplate(
            name="bench-cached", displaytext="bench-cached", url=self.image.url, format="RAW",
            hypervisor="KVM", zoneid=zone_id, ostypeid=os_type["id"], directdownload=True,
            checksum=f"{{SHA-256}}{self.image.sha256}",
        )["template"][0]  # fmt: skip
        self.setup = {"network": network, "offering": service, "template": template}

    def deploy(self, name: str) -> dict[str, Any]:
        """deployVirtualMachine until the job answers; the VM as the server lists it."""
        vm: dict[str, Any] = self.api.deployVirtualMachine(
            zoneid=self.stack.zone_id,
            templateid=self.setup["template"]["id"],
            serviceofferingid=self.setup["offering"]["id"],
            networkids=self.setup["network"]["id"],
            name=name,
        )["virtualmachine"]
        if vm["state"] != "Running":
            raise RuntimeError(f"{name} is {vm['state']} after its deploy")
        return vm

    def expunge(self, vm: dict[str, Any]) -> None:
        self.api.destroyVirtualMachine(id=vm["id"], expunge=True)

    def floor_recipe(self) -> tuple[str, Path, str]:
        """From a first (caching) deploy: our VM's XML, its template file and format."""
        vm = self.deploy("bench-warm")
        try:
            (listed,) = self.api.listVirtualMachines(id=vm["id"])["virtualmachine"]
            name = listed["instancename"]
            xml = virsh("dumpxml", "--inactive", name)
            disk = ET.fromstring(xml).find("./devices/disk[@device='disk']/source")
            assert disk is not None
            info = subprocess.run(
                ["qemu-img", "info", "-U", "--output=json", disk.get("file", "")],
                capture_output=True, text=True, check=True, timeout=COMMAND_TIMEOUT_S,
            ).stdout  # fmt: skip
            details = json.loads(info)
            base = Path(details["full-backing-filename"])
            return xml, base, details.get("backing-filename-format", "raw")
        finally:
            self.expunge(vm)

    def floor(self, xml: str, base: Path, base_format: str, overlay: Path) -> float:
        """qemu-img create -b + virsh define + virsh start, timed; then destroyed."""
        # Beside the pool, not in it: the agent reports what the pool holds.
        definition = overlay.parent.parent / f"{FLOOR_NAME}.xml"
        definition.write_text(floor_xml(xml, FLOOR_NAME, overlay))
        started = time.perf_counter()
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", base_format, "-b", str(base),
             str(overlay)],
            check=True, timeout=COMMAND_TIMEOUT_S,
        )  # fmt: skip
        virsh("define", str(definition))
        virsh("start", FLOOR_NAME)
        elapsed = time.perf_counter() - started
        _forget(FLOOR_NAME)
        overlay.unlink(missing_ok=True)
        return elapsed

    def forget_all(self) -> None:
        """Destroy every domain of this run, however the run ended."""
        names = subprocess.run(
            ["virsh", "-c", URI, "list", "--all", "--name"],
            capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False,
        ).stdout.split()  # fmt: skip
        for name in names:
            if self.marker in name or name == FLOOR_NAME:
                _forget(name)

    def ours(self, index: int) -> float:
        started = time.perf_counter()
        vm = self.deploy(f"bench-vm-{index}")
        elapsed = time.perf_counter() - started
        self.expunge(vm)
        return elapsed


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@contextmanager
def _bench(work: Path) -> Iterator[DeployBench]:
    cert_dir = work / "agent-certs"
    cert_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        image = stack.enter_context(ImageServer())
        cloud = start_stack(work, cert_dir)
        stack.callback(cloud.stop)
        bench = DeployBench(cloud, image)
        # Last in, first out: every domain is gone before the server and agent stop.
        stack.callback(bench.forget_all)
        yield bench


def measure(work: Path, reps: int) -> DeployFigures:
    """Median of ``reps`` deploys of a cached template vs ``reps`` bare-libvirt starts.

    Needs a running ``qemu:///system`` (the caller starts the daemons).
    """
    work.mkdir(parents=True, exist_ok=True)
    with _bench(work) as bench:
        bench.prepare()
        xml, base, base_format = bench.floor_recipe()
        # On the same pool as our VMs' root disks, next to the template they share.
        overlay = bench.stack.pool_path / "kvmcloud-bench-floor.qcow2"
        load_before = _load()
        ours: list[float] = []
        floor: list[float] = []
        for index in range(reps):
            # Alternate which goes first, so neither always follows the other's teardown.
            if index % 2:
                floor.append(bench.floor(xml, base, base_format, overlay))
                ours.append(bench.ours(index))
            else:
                ours.append(bench.ours(index))
                floor.append(bench.floor(xml, base, base_format, overlay))
        return DeployFigures(reps, _median(ours), _median(floor), load_before, _load())
