"""``kvmcloud-setup-agent``: check the host, write agent.conf, print the enrolment step."""

import argparse
import os
import shutil
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

from kvmcloud import env_files
from kvmcloud.agent.__main__ import token_line
from kvmcloud.agent.enrollment import EnrollmentStateError, load_or_create_enroll_token
from kvmcloud.agent.host.commands import CommandError, CommandNotFoundError, run
from kvmcloud.agent.settings import PREFIX, AgentSettings, SettingsError
from kvmcloud.agent.tls_identity import TlsIdentity

PROG = "kvmcloud-setup-agent"
AGENT_CONF_NAME = "agent.conf"
DEFAULT_CONFIG_DIR = Path("/etc/kvmcloud")
_CHECK_TIMEOUT_S = 30.0
# Programs the agent runs, by the Debian package that has them, and what needs them.
_TOOLS = (
    ("qemu-img", "qemu-utils", "every image and VM disk"),
    ("qemu-system-x86_64", "qemu-system-x86", "running VMs"),
    ("nfs-ls", "libnfs-utils", "nfs:// sources and NFS pools"),
    ("rbd", "ceph-common", "Ceph RBD pools"),
)
# Options written into agent.conf, by the variable they set.
_OPTIONS = {
    "listen_host": "LISTEN_HOST",
    "listen_port": "LISTEN_PORT",
    "state_dir": "STATE_DIR",
    "libvirt_uri": "LIBVIRT_URI",
    "log_level": "LOG_LEVEL",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Check this KVM host (KVM, libvirt, qemu-img, storage tools), write "
        "agent.conf with the values given and print how to enrol the host. Safe to run "
        "again: values not given are kept.",
    )
    parser.add_argument("--config-dir", type=Path, default=DEFAULT_CONFIG_DIR)
    parser.add_argument("--listen-host", help="the address the server reaches (0.0.0.0)")
    parser.add_argument("--listen-port", help="the agent's TLS port (8252)")
    parser.add_argument("--state-dir", help="enrolment, TLS key (/var/lib/kvmcloud-agent)")
    parser.add_argument("--libvirt-uri", help="the libvirt connection (qemu:///system)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (INFO)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Set the agent up; return the exit status."""
    args = _parser().parse_args(argv)
    if os.geteuid() != 0:
        print(f"{PROG}: run as root: the agent runs as root (libvirt, pools)", file=sys.stderr)
        return 1
    conf: Path = args.config_dir / AGENT_CONF_NAME
    old = conf.read_text(encoding="utf-8") if conf.exists() else ""
    given = {
        PREFIX + name: str(getattr(args, option))
        for option, name in _OPTIONS.items()
        if getattr(args, option) is not None
    }
    try:
        new = env_files.set_values(old, given)
        settings = AgentSettings.from_env(env_files.parse(new))
    except (env_files.EnvFileError, SettingsError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    problems = _check_host(settings)
    if problems:
        for problem in problems:
            print(f"{PROG}: {problem}", file=sys.stderr)
        print(f"{PROG}: nothing written; fix the above and run it again", file=sys.stderr)
        return 1
    if new != old:
        args.config_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        conf.write_text(new, encoding="utf-8")
        print(f"{PROG}: wrote {conf}; restart the agent: systemctl restart kvmcloud-agent")
    else:
        print(f"{PROG}: {conf} is up to date")
    try:
        _print_enrolment(settings)
    except EnrollmentStateError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    return 0


def _check_host(settings: AgentSettings) -> list[str]:
    """What is missing for the agent to work here (the KVM device is only a warning)."""
    problems = [
        f"{program} is missing (Debian package {package}), needed for {what}"
        for program, package, what in _TOOLS
        if shutil.which(program) is None
    ]
    try:
        run(["virsh", "-c", settings.libvirt_uri, "version"], timeout_s=_CHECK_TIMEOUT_S)
    except CommandNotFoundError:
        problems.append("virsh is missing (Debian package libvirt-clients)")
    except CommandError as exc:
        problems.append(
            f"cannot reach libvirt at {settings.libvirt_uri} ({exc}); start it: "
            "systemctl enable --now libvirtd"
        )
    if not Path("/dev/kvm").exists():
        print(
            f"{PROG}: warning: no /dev/kvm: VMs will run under emulation (TCG), much more "
            "slowly; enable virtualisation in the firmware and load kvm_intel or kvm_amd",
            file=sys.stderr,
        )
    return problems


def _print_enrolment(settings: AgentSettings) -> None:
    now = datetime.now(UTC)
    identity = TlsIdentity.open(settings.state_dir, now)
    if identity.issued:
        print(
            "this agent is enrolled already; to enrol it with a server again run "
            "`kvmcloud-agent reset-enrolment` first"
        )
        return
    token, _created = load_or_create_enroll_token(settings.state_dir, now.timestamp())
    print(token_line(settings, token, identity.fingerprint))
    host = socket.getfqdn()
    print("Enrol this host: on the management server, with an admin's keys, run")
    print(
        "  kvmcloud api addHost zoneid=<zone id> podid=<pod id> clusterid=<cluster id> "
        f"hypervisor=KVM url=http://{host}:{settings.listen_port} username=root "
        "password=<the enrolment token above>"
    )


if __name__ == "__main__":
    sys.exit(main())
