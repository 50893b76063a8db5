import dataclasses
import json
from collections.abc import Sequence
from dataclasses import replace

import pytest

from kvmcloud.protocol.agent_messages import (
    COMMAND_TYPES,
    RESULT_TYPES,
    Answer,
    AttachIsoCommand,
    CertificateInstalled,
    CertificateRequest,
    CheckPoolCommand,
    CheckUrlCommand,
    CheckUrlResult,
    Command,
    CommandEnvelope,
    CommandState,
    CommandStatus,
    CreateVolumeCommand,
    DeletePoolFileCommand,
    DestroyVmCommand,
    DirectDownloadCommand,
    DirectDownloadResult,
    DiskSpec,
    EgressRules,
    EnrollRequest,
    ErrorInfo,
    Heartbeat,
    HeartbeatReply,
    HostReport,
    InstallCertificateCommand,
    MessageFormatError,
    NetworkRemoved,
    NicSpec,
    PoolFileDeleted,
    PoolReport,
    PoolSpec,
    PoolType,
    ReadConsoleLogCommand,
    RebootVmCommand,
    RemoveNetworkCommand,
    RenewCertificateCommand,
    Result,
    StartVmCommand,
    StopVmCommand,
    Timeouts,
    VmPowerState,
    VmSpec,
    VmStateResult,
    VolumeResult,
    command_from_json,
    command_to_json,
    from_json,
    map_pool_specs,
    to_json,
)
from kvmcloud.protocol.error_codes import ErrorCode

POOL = PoolSpec(uuid="pool-1", type=PoolType.SHARED_MOUNT_POINT, path="/mnt/pool one")
TIMEOUTS = Timeouts(connect_s=1.5, read_s=2.0, total_s=60.0)
VM_SPEC = VmSpec(
    name="i-2-7-VM",
    uuid="vm-7",
    vcpus=2,
    memory_mib=2048,
    disks=[
        DiskSpec(path="/mnt/pool one/root-7.qcow2", format="qcow2"),
        DiskSpec(path="/mnt/pool one/data-7.raw", format="raw", device="disk"),
        DiskSpec(path="/mnt/pool one/debian.iso", format="raw", device="cdrom"),
    ],
    mac_address="02:00:1a:2b:3c:4d",
    boot_devices=["cdrom", "hd", "network"],
)
NICS = [
    NicSpec(
        mac_address="02:00:1a:2b:3c:4d",
        network_uuid="3f2a9c4e-1b7d-4e8f-9a0b-1c2d3e4f5a6b",
        guest_type="Isolated",
        ip_address="10.1.1.2",
        netmask="255.255.255.0",
        gateway="10.1.1.1",
    ),
    NicSpec(
        mac_address="02:00:1a:2b:3c:4e",
        network_uuid="a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d",
        guest_type="L2",
        vlan=100,
    ),
]

COMMANDS: list[Command] = [
    CheckUrlCommand(url="http://origin/img.qcow2", format="QCOW2"),
    CheckUrlCommand(
        url="https://origin/img.qcow2",
        format="QCOW2",
        headers={"X-Auth-Token": "secret", "Accept": "*/*"},
        timeouts=TIMEOUTS,
        follow_redirects=True,
        egress=EgressRules(allow=["127.0.0.0/8", ".lan"], deny=["127.0.0.9"]),
    ),
    DirectDownloadCommand(
        template_uuid="t-1",
        url="http://origin/img.raw",
        format="RAW",
        pool=PoolSpec(uuid="pool-2", type=PoolType.FILESYSTEM, path="/var/lib/images"),
        install_name="t-1.raw",
    ),
    DirectDownloadCommand(
        template_uuid="t-2",
        url="https://origin/ümlaut.qcow2",
        format="QCOW2",
        pool=POOL,
        install_name="t-2.qcow2",
        checksum="{SHA-256}" + "ab" * 32,
        headers={"Authorization": "Bearer x"},
        timeouts=TIMEOUTS,
        follow_redirects=True,
        egress=EgressRules(allow=["mirror.example.com"]),
    ),
    CheckPoolCommand(pool=POOL),
    CreateVolumeCommand(pool=POOL, name="vol-1.qcow2", size_bytes=20 * 2**30),
    CreateVolumeCommand(
        pool=POOL,
        name="root-7.qcow2",
        backing_name="t-2.qcow2",
        backing_format="qcow2",
    ),
    CreateVolumeCommand(
        pool=POOL,
        name="root-8.qcow2",
        size_bytes=50 * 2**30,
        backing_name="t-1.raw",
        backing_format="raw",
    ),
    DeletePoolFileCommand(pool=POOL, name="root-7.qcow2"),
    StartVmCommand(spec=VM_SPEC),
    StartVmCommand(spec=VmSpec(name="i-2-9-VM", uuid="vm-9", vcpus=1, memory_mib=512)),
    StartVmCommand(spec=dataclasses.replace(VM_SPEC, nics=NICS)),
    StopVmCommand(name="i-2-7-VM"),
    StopVmCommand(name="i-2-7-VM", forced=True, graceful_timeout_s=2.5),
    RebootVmCommand(name="i-2-7-VM"),
    DestroyVmCommand(name="i-2-7-VM"),
    AttachIsoCommand(name="i-2-7-VM", iso_path="/mnt/pool one/debian.iso"),
    AttachIsoCommand(name="i-2-7-VM"),
    ReadConsoleLogCommand(name="i-2-7-VM", max_bytes=65536),
    RemoveNetworkCommand(network_uuid="3f2a9c4e-1b7d-4e8f-9a0b-1c2d3e4f5a6b"),
    RenewCertificateCommand(),
    InstallCertificateCommand(certificate_pem="-----BEGIN…", ca_pem="-----BEGIN CA…"),
]

RESULTS: list[Result] = [
    CheckUrlResult(),
    CheckUrlResult(physical_size_bytes=1024, virtual_size_bytes=10 * 2**30),
    DirectDownloadResult(
        install_path="/mnt/pool one/t-2.qcow2",
        physical_size_bytes=123,
        virtual_size_bytes=456,
        format="QCOW2",
    ),
    PoolReport(uuid="pool-1", capacity_bytes=2**40, available_bytes=2**39),
    VolumeResult(
        path="/mnt/pool one/root-7.qcow2",
        virtual_size_bytes=20 * 2**30,
        physical_size_bytes=196_608,
    ),
    PoolFileDeleted(existed=True),
    PoolFileDeleted(existed=False),
    VmStateResult(name="i-2-7-VM", state=VmPowerState.RUNNING),
    VmStateResult(
        name="i-2-7-VM",
        state=VmPowerState.STOPPED,
        accelerator="kvm",
        console_log="Booting from Hard Disk...\nü\n",
    ),
    VmStateResult(name="i-2-7-VM", state=VmPowerState.MISSING, accelerator="tcg"),
    NetworkRemoved(existed=True),
    CertificateRequest(csr_pem="-----BEGIN CERTIFICATE REQUEST-----"),
    CertificateInstalled(fingerprint="ab" * 32),
]

REPORT = HostReport(
    hostname="kvm1",
    agent_version="1.2.3",
    cpu_count=8,
    cpu_mhz=2400,
    memory_bytes=32 * 2**30,
    hypervisor_version="8.2.0",
    kvm_available=True,
)


def ids(values: Sequence[object]) -> list[str]:
    return [f"{type(v).__name__}-{i}" for i, v in enumerate(values)]


# --- round trips --------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=ids(COMMANDS))
def test_command_round_trip(command):
    envelope = CommandEnvelope(id="cmd-42", command=command)

    assert command_from_json(command_to_json(envelope)) == envelope


@pytest.mark.parametrize("command", COMMANDS, ids=ids(COMMANDS))
def test_command_wire_shape(command):
    wire = json.loads(command_to_json(CommandEnvelope(id="cmd-42", command=command)))

    assert set(wire) == {"id", "type", "payload"}
    assert wire["id"] == "cmd-42"
    assert COMMAND_TYPES[wire["type"]] is type(command)
    assert isinstance(wire["payload"], dict)


def test_command_types_cover_every_command():
    assert set(COMMAND_TYPES) == {
        "CheckUrl",
        "DirectDownload",
        "CheckPool",
        "CreateVolume",
        "DeletePoolFile",
        "StartVm",
        "StopVm",
        "RebootVm",
        "DestroyVm",
        "AttachIso",
        "ReadConsoleLog",
        "RemoveNetwork",
        "SetupCertificate",
        "RevokeCertificate",
        "RenewCertificate",
        "InstallCertificate",
    }
    assert set(RESULT_TYPES) == {
        "CheckUrlResult",
        "DirectDownloadResult",
        "PoolReport",
        "VolumeResult",
        "PoolFileDeleted",
        "VmStateResult",
        "ConsoleLogResult",
        "NetworkRemoved",
        "CertificateResult",
        "CertificateRequest",
        "CertificateInstalled",
    }


def test_command_command_from_bytes():
    text = command_to_json(CommandEnvelope(id="c", command=COMMANDS[4])).encode()

    assert command_from_json(text).command == COMMANDS[4]


def test_command_decoded_from_hand_written_json_gets_defaults():
    envelope = command_from_json(
        '{"id": "c1", "type": "CheckUrl", "payload": {"url": "http://o/x", "format": "RAW"}}'
    )

    assert envelope == CommandEnvelope(
        id="c1", command=CheckUrlCommand(url="http://o/x", format="RAW")
    )
    assert isinstance(envelope.command, CheckUrlCommand)
    assert envelope.command.timeouts == Timeouts(connect_s=5.0, read_s=5.0, total_s=10800.0)
    assert envelope.command.headers == {}
    assert envelope.command.follow_redirects is False
    # A server that sends no egress rules gets the default policy: deny-by-default.
    assert envelope.command.egress == EgressRules(allow=[], deny=[])


def test_integer_accepted_for_float_field():
    envelope = command_from_json(
        '{"id": "c1", "type": "CheckUrl", "payload": {"url": "u", "format": "RAW",'
        ' "timeouts": {"connect_s": 3, "read_s": 4, "total_s": 5}}}'
    )

    assert isinstance(envelope.command, CheckUrlCommand)
    assert envelope.command.timeouts == Timeouts(connect_s=3.0, read_s=4.0, total_s=5.0)
    assert isinstance(envelope.command.timeouts.connect_s, float)


@pytest.mark.parametrize("result", RESULTS, ids=ids(RESULTS))
def test_result_round_trip(result):
    assert from_json(type(result), to_json(result)) == result


@pytest.mark.parametrize("result", RESULTS, ids=ids(RESULTS))
def test_status_with_ok_answer_round_trip(result):
    status = CommandStatus(
        id="cmd-1",
        state=CommandState.DONE,
        bytes_done=100,
        bytes_total=100,
        answer=Answer(ok=True, result=result),
    )

    decoded = from_json(CommandStatus, to_json(status))

    assert decoded == status
    assert decoded.answer is not None and type(decoded.answer.result) is type(result)


@pytest.mark.parametrize("result", RESULTS, ids=ids(RESULTS))
def test_result_carries_its_type_tag_on_the_wire(result):
    status = CommandStatus(id="c", state=CommandState.DONE, answer=Answer(ok=True, result=result))

    wire = json.loads(to_json(status))

    assert wire["answer"]["result"]["type"] == type(result).TYPE


@pytest.mark.parametrize("code", list(ErrorCode))
def test_status_with_failed_answer_round_trip(code):
    status = CommandStatus(
        id="cmd-1",
        state=CommandState.DONE,
        answer=Answer(ok=False, error=ErrorInfo(code=code, message="it broke: ü")),
    )

    assert from_json(CommandStatus, to_json(status)) == status


def test_running_status_round_trip():
    status = CommandStatus(id="cmd-1", state=CommandState.RUNNING, bytes_done=5)

    decoded = from_json(CommandStatus, to_json(status))

    assert decoded == status
    assert decoded.bytes_total is None and decoded.answer is None


def test_status_decoded_from_hand_written_json():
    text = (
        '{"id": "c9", "state": "done", "bytes_done": 10, "bytes_total": null,'
        ' "answer": {"ok": true, "result": {"type": "PoolReport", "uuid": "p",'
        ' "capacity_bytes": 10, "available_bytes": 4}}}'
    )

    assert from_json(CommandStatus, text) == CommandStatus(
        id="c9",
        state=CommandState.DONE,
        bytes_done=10,
        answer=Answer(ok=True, result=PoolReport(uuid="p", capacity_bytes=10, available_bytes=4)),
    )


@pytest.mark.parametrize(
    "message",
    [
        REPORT,
        Heartbeat(host_uuid="h-1", report=REPORT),
        Heartbeat(host_uuid="h-1", report=REPORT, shutting_down=True),
        Heartbeat(
            host_uuid="h-1",
            report=REPORT,
            vm_states={
                "i-2-7-VM": VmPowerState.RUNNING,
                "i-2-8-VM": VmPowerState.STOPPED,
                "i-2-9-VM": VmPowerState.PAUSED,
                "i-2-10-VM": VmPowerState.MISSING,
            },
        ),
        HeartbeatReply(interval_s=60.0),
        VM_SPEC,
        DiskSpec(path="/p/x.iso", format="raw", device="cdrom"),
        EnrollRequest(host_uuid="h-1", host_key="k", server_url="http://ms:8080"),
        POOL,
        TIMEOUTS,
        ErrorInfo(code=ErrorCode.POOL_FULL, message="full"),
    ],
    ids=lambda m: type(m).__name__,
)
def test_other_messages_round_trip(message):
    assert from_json(type(message), to_json(message)) == message


# --- VM and volume commands --------------------------------------------------------------


def test_start_vm_wire_shape():
    wire = json.loads(
        command_to_json(CommandEnvelope(id="c", command=StartVmCommand(spec=VM_SPEC)))
    )

    spec = wire["payload"]["spec"]
    assert spec["disks"] == [
        {"path": "/mnt/pool one/root-7.qcow2", "format": "qcow2", "device": "disk", "pool": None},
        {"path": "/mnt/pool one/data-7.raw", "format": "raw", "device": "disk", "pool": None},
        {"path": "/mnt/pool one/debian.iso", "format": "raw", "device": "cdrom", "pool": None},
    ]
    assert spec["boot_devices"] == ["cdrom", "hd", "network"]
    assert spec["mac_address"] == "02:00:1a:2b:3c:4d"


def test_start_vm_keeps_disk_and_boot_order():
    envelope = command_from_json(
        command_to_json(CommandEnvelope(id="c", command=StartVmCommand(spec=VM_SPEC)))
    )

    assert isinstance(envelope.command, StartVmCommand)
    spec = envelope.command.spec
    assert [d.path for d in spec.disks] == [
        "/mnt/pool one/root-7.qcow2",
        "/mnt/pool one/data-7.raw",
        "/mnt/pool one/debian.iso",
    ]
    assert all(isinstance(d, DiskSpec) for d in spec.disks)
    assert spec.boot_devices == ["cdrom", "hd", "network"]


def test_start_vm_decoded_from_hand_written_json_gets_defaults():
    envelope = command_from_json(
        '{"id": "c1", "type": "StartVm", "payload": {"spec": {"name": "i-1-1-VM",'
        ' "uuid": "u", "vcpus": 1, "memory_mib": 256,'
        ' "disks": [{"path": "/p/root.qcow2", "format": "qcow2"}]}}}'
    )

    assert envelope.command == StartVmCommand(
        spec=VmSpec(
            name="i-1-1-VM",
            uuid="u",
            vcpus=1,
            memory_mib=256,
            disks=[DiskSpec(path="/p/root.qcow2", format="qcow2", device="disk")],
            mac_address=None,
            boot_devices=["hd"],
        )
    )


def test_vm_spec_defaults_are_not_shared():
    first = VmSpec(name="a", uuid="a", vcpus=1, memory_mib=1)
    second = VmSpec(name="b", uuid="b", vcpus=1, memory_mib=1)

    first.disks.append(DiskSpec(path="/x", format="raw"))
    first.boot_devices.append("cdrom")

    assert second.disks == []
    assert second.boot_devices == ["hd"]


def test_stop_vm_decoded_from_hand_written_json_gets_defaults():
    envelope = command_from_json('{"id": "c1", "type": "StopVm", "payload": {"name": "i-1-1-VM"}}')

    assert envelope.command == StopVmCommand(name="i-1-1-VM", forced=False, graceful_timeout_s=30.0)


def test_stop_vm_integer_timeout_becomes_float():
    envelope = command_from_json(
        '{"id": "c1", "type": "StopVm", "payload": {"name": "v", "graceful_timeout_s": 5}}'
    )

    assert isinstance(envelope.command, StopVmCommand)
    assert envelope.command.graceful_timeout_s == 5.0
    assert isinstance(envelope.command.graceful_timeout_s, float)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ('{"name": "v", "iso_path": "/p/a.iso"}', "/p/a.iso"),
        ('{"name": "v", "iso_path": null}', None),
        ('{"name": "v"}', None),
    ],
    ids=["insert", "eject-null", "eject-absent"],
)
def test_attach_iso_path_or_eject(payload, expected):
    envelope = command_from_json(f'{{"id": "c1", "type": "AttachIso", "payload": {payload}}}')

    assert envelope.command == AttachIsoCommand(name="v", iso_path=expected)


def test_attach_iso_eject_sends_null_path():
    wire = json.loads(command_to_json(CommandEnvelope(id="c", command=AttachIsoCommand(name="v"))))

    assert wire["payload"] == {"name": "v", "iso_path": None}


def test_create_volume_blank_disk_sends_null_backing():
    command = CreateVolumeCommand(pool=POOL, name="data.qcow2", size_bytes=2**30)

    wire = json.loads(command_to_json(CommandEnvelope(id="c", command=command)))

    assert wire["type"] == "CreateVolume"
    assert wire["payload"]["size_bytes"] == 2**30
    assert wire["payload"]["backing_name"] is None
    assert wire["payload"]["backing_format"] is None


def test_vm_state_result_decoded_from_hand_written_json():
    text = (
        '{"id": "c", "state": "done", "answer": {"ok": true, "result":'
        ' {"type": "VmStateResult", "name": "i-1-1-VM", "state": "paused"}}}'
    )

    status = from_json(CommandStatus, text)

    assert status.answer == Answer(
        ok=True, result=VmStateResult(name="i-1-1-VM", state=VmPowerState.PAUSED)
    )


def test_pool_file_deleted_keeps_false():
    status = CommandStatus(
        id="c",
        state=CommandState.DONE,
        answer=Answer(ok=True, result=PoolFileDeleted(existed=False)),
    )

    decoded = from_json(CommandStatus, to_json(status))

    assert decoded.answer is not None
    assert decoded.answer.result == PoolFileDeleted(existed=False)


def test_heartbeat_vm_states_default_unknown():
    decoded = from_json(Heartbeat, to_json(Heartbeat(host_uuid="h", report=REPORT)))

    assert decoded.vm_states is None


def test_heartbeat_with_no_vms_is_not_unknown():
    decoded = from_json(Heartbeat, to_json(Heartbeat(host_uuid="h", report=REPORT, vm_states={})))

    assert decoded.vm_states == {}


def test_heartbeat_without_vm_states_field_decodes_unknown():
    plain = json.loads(to_json(Heartbeat(host_uuid="h", report=REPORT)))
    del plain["vm_states"]

    decoded = from_json(Heartbeat, json.dumps(plain))

    assert decoded.vm_states is None


def test_heartbeat_vm_states_wire_shape_and_types():
    heartbeat = Heartbeat(
        host_uuid="h",
        report=REPORT,
        vm_states={"i-1-1-VM": VmPowerState.RUNNING, "i-1-2-VM": VmPowerState.STOPPED},
    )

    wire = json.loads(to_json(heartbeat))
    decoded = from_json(Heartbeat, to_json(heartbeat))

    assert wire["vm_states"] == {"i-1-1-VM": "running", "i-1-2-VM": "stopped"}
    assert decoded.vm_states == heartbeat.vm_states
    assert all(type(v) is VmPowerState for v in decoded.vm_states.values())


# --- unknown fields are ignored -------------------------------------------------------------


def test_unknown_fields_ignored_in_command():
    text = json.dumps(
        {
            "id": "c1",
            "type": "CheckPool",
            "priority": 5,
            "payload": {
                "pool": {"uuid": "p", "type": "Filesystem", "path": "/p", "iops": 7},
                "new_field": [1, 2],
            },
        }
    )

    assert command_from_json(text) == CommandEnvelope(
        id="c1",
        command=CheckPoolCommand(pool=PoolSpec(uuid="p", type=PoolType.FILESYSTEM, path="/p")),
    )


def test_nics_are_optional_both_ways_between_old_and_new_peers():
    new = command_to_json(
        CommandEnvelope(
            id="c", command=StartVmCommand(spec=dataclasses.replace(VM_SPEC, nics=NICS))
        )
    )
    wire = json.loads(new)
    # What a server before NicSpec sends: an agent of today reads no NICs, and the MAC.
    del wire["payload"]["spec"]["nics"]
    old = command_from_json(json.dumps(wire)).command
    assert isinstance(old, StartVmCommand)
    assert (old.spec.nics, old.spec.mac_address) == ([], VM_SPEC.mac_address)
    # An agent before NicSpec ignores the field and still finds the default NIC's MAC.
    assert wire["payload"]["spec"]["mac_address"] == NICS[0].mac_address


def test_unknown_fields_ignored_in_heartbeat():
    plain = json.loads(to_json(Heartbeat(host_uuid="h", report=REPORT)))
    plain["uptime_s"] = 12
    plain["report"]["gpu_count"] = 2

    assert from_json(Heartbeat, json.dumps(plain)) == Heartbeat(host_uuid="h", report=REPORT)


def test_unknown_fields_ignored_in_result():
    text = (
        '{"id": "c", "state": "done", "eta_s": 3, "answer": {"ok": true, "result":'
        ' {"type": "CheckUrlResult", "physical_size_bytes": 5, "etag": "x"}}}'
    )

    status = from_json(CommandStatus, text)

    assert status.answer == Answer(ok=True, result=CheckUrlResult(physical_size_bytes=5))


@pytest.mark.parametrize(
    "text",
    [
        '{"id": "c", "state": "done", "answer": {"ok": false,'
        ' "error": {"code": "timeout", "message": "m", "type": "network"}}}',
        '{"id": "c", "state": "done", "answer": {"ok": true, "type": "v2"}}',
    ],
    ids=["error", "answer"],
)
def test_unknown_field_named_type_ignored(text):
    status = from_json(CommandStatus, text)

    assert status.state is CommandState.DONE


# --- malformed messages ---------------------------------------------------------------------


DISK_PLAIN = {"path": "/p/root.qcow2", "format": "qcow2"}
SPEC_PLAIN = {"name": "i-1-1-VM", "uuid": "u", "vcpus": 1, "memory_mib": 256}


def envelope_text(payload: object, *, type_: object = "CheckUrl", id_: object = "c1") -> str:
    return json.dumps({"id": id_, "type": type_, "payload": payload})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (envelope_text({"format": "RAW"}), "CheckUrlCommand.url is missing"),
        (envelope_text({"url": "u"}), "CheckUrlCommand.format is missing"),
        (envelope_text({}, type_="CheckPool"), "CheckPoolCommand.pool is missing"),
        (
            envelope_text({"pool": {"uuid": "p", "type": "Filesystem"}}, type_="CheckPool"),
            "CheckPoolCommand.pool.path is missing",
        ),
        (envelope_text({"url": 5, "format": "RAW"}), "CheckUrlCommand.url must be of type str"),
        (
            envelope_text({"url": "u", "format": "RAW", "follow_redirects": "yes"}),
            "CheckUrlCommand.follow_redirects must be of type bool",
        ),
        (
            envelope_text({"url": "u", "format": "RAW", "timeouts": {"connect_s": "5"}}),
            "CheckUrlCommand.timeouts.connect_s must be of type float",
        ),
        (
            envelope_text({"url": "u", "format": "RAW", "timeouts": {"read_s": True}}),
            "CheckUrlCommand.timeouts.read_s must be of type float",
        ),
        (
            envelope_text({"url": "u", "format": "RAW", "headers": {"X-A": 1}}),
            "CheckUrlCommand.headers.X-A must be of type str",
        ),
        (
            envelope_text({"url": "u", "format": "RAW", "headers": ["X-A"]}),
            "CheckUrlCommand.headers must be an object",
        ),
        (
            envelope_text({"url": "u", "format": "RAW", "timeouts": 5}),
            "CheckUrlCommand.timeouts must be an object",
        ),
        (envelope_text([], type_="CheckPool"), "CheckPoolCommand must be an object"),
        (
            envelope_text({"pool": {"uuid": "p", "type": "NFS", "path": "/p"}}, type_="CheckPool"),
            "CheckPoolCommand.pool.type has unknown value 'NFS'",
        ),
        (
            envelope_text({"pool": {"uuid": "p", "type": 3, "path": "/p"}}, type_="CheckPool"),
            "CheckPoolCommand.pool.type has unknown value 3",
        ),
        (
            envelope_text({"spec": {**SPEC_PLAIN, "disks": {"path": "/p"}}}, type_="StartVm"),
            "StartVmCommand.spec.disks must be a list",
        ),
        (
            envelope_text({"spec": {**SPEC_PLAIN, "disks": "/p/root.qcow2"}}, type_="StartVm"),
            "StartVmCommand.spec.disks must be a list",
        ),
        (
            envelope_text(
                {"spec": {**SPEC_PLAIN, "disks": [DISK_PLAIN, "/p/data.raw"]}}, type_="StartVm"
            ),
            "StartVmCommand.spec.disks[1] must be an object",
        ),
        (
            envelope_text(
                {"spec": {**SPEC_PLAIN, "disks": [DISK_PLAIN, DISK_PLAIN, {"path": "/p"}]}},
                type_="StartVm",
            ),
            "StartVmCommand.spec.disks[2].format is missing",
        ),
        (
            envelope_text(
                {"spec": {**SPEC_PLAIN, "disks": [{**DISK_PLAIN, "device": 1}]}}, type_="StartVm"
            ),
            "StartVmCommand.spec.disks[0].device must be of type str",
        ),
        (
            envelope_text({"spec": {**SPEC_PLAIN, "boot_devices": "hd"}}, type_="StartVm"),
            "StartVmCommand.spec.boot_devices must be a list",
        ),
        (
            envelope_text({"spec": {**SPEC_PLAIN, "boot_devices": ["hd", None]}}, type_="StartVm"),
            "StartVmCommand.spec.boot_devices[1] must be of type str",
        ),
        (
            envelope_text({"spec": {**SPEC_PLAIN, "vcpus": "2"}}, type_="StartVm"),
            "StartVmCommand.spec.vcpus must be of type int",
        ),
        (envelope_text({}, type_="StartVm"), "StartVmCommand.spec is missing"),
        (envelope_text({}, type_="StopVm"), "StopVmCommand.name is missing"),
        (
            envelope_text({"name": "v", "forced": 1}, type_="StopVm"),
            "StopVmCommand.forced must be of type bool",
        ),
        (
            envelope_text({"name": "v", "iso_path": 5}, type_="AttachIso"),
            "AttachIsoCommand.iso_path must be of type str",
        ),
        (
            envelope_text(
                {"pool": {"uuid": "p", "type": "Filesystem", "path": "/p"}}, type_="DeletePoolFile"
            ),
            "DeletePoolFileCommand.name is missing",
        ),
        (
            envelope_text(
                {
                    "pool": {"uuid": "p", "type": "Filesystem", "path": "/p"},
                    "name": "v",
                    "size_bytes": 1.5,
                },
                type_="CreateVolume",
            ),
            "CreateVolumeCommand.size_bytes must be of type int",
        ),
        (envelope_text({}, type_="Reboot"), "unknown command type 'Reboot'"),
        (json.dumps({"id": "c1", "payload": {}}), "unknown command type None"),
        (json.dumps({"id": "c1", "type": 7, "payload": {}}), "unknown command type 7"),
        (envelope_text({}, id_=""), "command 'id' must be a non-empty string"),
        (envelope_text({}, id_=5), "command 'id' must be a non-empty string"),
        (json.dumps({"type": "CheckUrl", "payload": {}}), "command 'id'"),
        ("[1, 2]", "message must be a JSON object"),
        ('"CheckUrl"', "message must be a JSON object"),
        ("null", "message must be a JSON object"),
        ("{", "message is not valid JSON"),
        ("", "message is not valid JSON"),
        (b"\xff\xfe{", "message is not valid JSON"),
    ],
)
def test_command_from_json_errors(text, fragment):
    with pytest.raises(MessageFormatError) as info:
        command_from_json(text)

    assert fragment in str(info.value)


HEARTBEAT_PREFIX = '{"host_uuid": "h", "report": ' + to_json(REPORT) + ", "


@pytest.mark.parametrize(
    ("cls", "text", "fragment"),
    [
        (CommandStatus, '{"state": "done"}', "CommandStatus.id is missing"),
        (CommandStatus, '{"id": "c"}', "CommandStatus.state is missing"),
        (
            CommandStatus,
            '{"id": "c", "state": "paused"}',
            "CommandStatus.state has unknown value 'paused'",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "bytes_done": 1.5}',
            "CommandStatus.bytes_done must be of type int",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "bytes_total": true}',
            "CommandStatus.bytes_total must be of type int",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "answer": {"ok": "yes"}}',
            "CommandStatus.answer.ok must be of type bool",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "answer": {"ok": true, "result": {"type": "Nope"}}}',
            "CommandStatus.answer.result has unknown type 'Nope'",
        ),
        (
            CommandStatus,
            # Untagged: the text is poor ("must be of type NoneType") but names the field.
            '{"id": "c", "state": "done", "answer": {"ok": true, "result": {"uuid": "p"}}}',
            "CommandStatus.answer.result ",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "answer": {"ok": true, "result": [1]}}',
            "CommandStatus.answer.result must be an object",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "answer": {"ok": true,'
            ' "result": {"type": "PoolReport", "uuid": "p", "capacity_bytes": 1}}}',
            "CommandStatus.answer.result.available_bytes is missing",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "answer": {"ok": false,'
            ' "error": {"code": "meltdown", "message": "m"}}}',
            "CommandStatus.answer.error.code has unknown value 'meltdown'",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "answer": {"ok": false, "error": {"code": "timeout"}}}',
            "CommandStatus.answer.error.message is missing",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "answer": {"ok": true,'
            ' "result": {"type": "VmStateResult", "name": "v", "state": "exploded"}}}',
            "CommandStatus.answer.result.state has unknown value 'exploded'",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "answer": {"ok": true,'
            ' "result": {"type": "VmStateResult", "name": "v", "state": "Running"}}}',
            "CommandStatus.answer.result.state has unknown value 'Running'",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "answer": {"ok": true,'
            ' "result": {"type": "PoolFileDeleted", "existed": "no"}}}',
            "CommandStatus.answer.result.existed must be of type bool",
        ),
        (
            CommandStatus,
            '{"id": "c", "state": "done", "answer": {"ok": true,'
            ' "result": {"type": "VolumeResult", "path": "/p", "virtual_size_bytes": 1}}}',
            "CommandStatus.answer.result.physical_size_bytes is missing",
        ),
        (VmStateResult, '{"name": "v", "state": 1}', "VmStateResult.state has unknown value 1"),
        (VmStateResult, '{"name": "v"}', "VmStateResult.state is missing"),
        (
            Heartbeat,
            HEARTBEAT_PREFIX + '"vm_states": {"i-1-1-VM": "running", "i-1-2-VM": "exploded"}}',
            "Heartbeat.vm_states.i-1-2-VM has unknown value 'exploded'",
        ),
        (
            Heartbeat,
            HEARTBEAT_PREFIX + '"vm_states": ["i-1-1-VM"]}',
            "Heartbeat.vm_states must be an object",
        ),
        (
            Heartbeat,
            HEARTBEAT_PREFIX + '"vm_states": {"i-1-1-VM": null}}',
            "Heartbeat.vm_states.i-1-1-VM has unknown value None",
        ),
        (Heartbeat, '{"host_uuid": "h"}', "Heartbeat.report is missing"),
        (
            Heartbeat,
            '{"host_uuid": "h", "report": {"hostname": "x"}}',
            "Heartbeat.report.agent_version is missing",
        ),
        (HeartbeatReply, '{"interval_s": "60"}', "HeartbeatReply.interval_s must be of type float"),
        (EnrollRequest, '{"token": "t"}', "EnrollRequest.host_uuid is missing"),
        (HeartbeatReply, "[]", "message must be a JSON object"),
        (HeartbeatReply, "not json", "message is not valid JSON"),
    ],
)
def test_from_json_errors(cls, text, fragment):
    with pytest.raises(MessageFormatError) as info:
        from_json(cls, text)

    assert fragment in str(info.value)


def test_message_format_error_is_a_value_error():
    assert issubclass(MessageFormatError, ValueError)


# --- pool keys ------------------------------------------------------------------------


RBD_POOL = PoolSpec(
    uuid="p-rbd", type=PoolType.RBD, path="cloud", server="10.0.0.5:6789", user="cs", secret="K+/="
)


def test_a_pool_key_is_in_no_repr():
    command = StartVmCommand(
        spec=VmSpec(
            name="i-2-7-VM",
            uuid="u",
            vcpus=1,
            memory_mib=64,
            disks=[DiskSpec(path="ROOT-7", format="raw", pool=RBD_POOL)],
        )
    )
    assert "K+/=" not in repr(command)
    assert "K+/=" not in repr(CheckPoolCommand(pool=RBD_POOL))


def test_map_pool_specs_reaches_every_pool_and_keeps_the_rest():
    command = StartVmCommand(
        spec=VmSpec(
            name="i-2-7-VM",
            uuid="u",
            vcpus=1,
            memory_mib=64,
            disks=[
                DiskSpec(path="ROOT-7", format="raw", pool=RBD_POOL),
                DiskSpec(path="/p/x.iso", format="raw", device="cdrom"),
            ],
        )
    )
    opened = map_pool_specs(command, lambda p: replace(p, secret="opened"))
    assert opened.spec.disks[0].pool is not None
    assert opened.spec.disks[0].pool.secret == "opened"
    assert opened.spec.disks[1] is command.spec.disks[1]
    assert command.spec.disks[0].pool is RBD_POOL  # the original is unchanged
    check = map_pool_specs(CheckPoolCommand(pool=RBD_POOL), lambda p: replace(p, secret="x"))
    assert check.pool.secret == "x"
    untouched = StopVmCommand(name="i-2-7-VM")
    assert map_pool_specs(untouched, lambda p: p) is untouched
