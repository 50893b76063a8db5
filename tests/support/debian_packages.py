"""The Debian packages in tests: build, install and purge them; run the server as its unit."""

import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from kvmcloud import env_files
from kvmcloud.protocol.api_signing import sign

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "kvmcloud-common",
    "kvmcloud-management",
    "kvmcloud-agent",
    "kvmcloud-docs",
    "kvmcloud-integration-tests",
)
UNITS = Path("/lib/systemd/system")
BUILD_TIMEOUT_S = 900
APT_TIMEOUT_S = 600
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def apt_get(action: str, *args: str) -> str:
    """``apt-get -y <action> …``, waiting for dpkg's lock if another install holds it."""
    lock_wait = f"DPkg::Lock::Timeout={int(APT_TIMEOUT_S / 2)}"
    return run("apt-get", "-o", lock_wait, "-y", "-q", action, *args)


def run(*argv: str, timeout_s: float = APT_TIMEOUT_S, check: bool = True) -> str:
    """Run a command to completion (apt non-interactive); its output, or fail with it."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout_s, env=env, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout + done.stderr


def installed(package: str) -> bool:
    """Tell whether dpkg has ``package`` installed (not only its configuration)."""
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return status.endswith(" installed")


def installed_version(package: str) -> str:
    """The version dpkg has installed."""
    return run("dpkg-query", "-W", "-f=${Version}", package)


def purge_all() -> None:
    """Purge every kvmcloud package (dpkg: apt cannot name a package it has no source for)."""
    run("dpkg", "--purge", *PACKAGES)
    assert not any(installed(package) for package in PACKAGES)
    assert not Path("/usr/lib/kvmcloud").exists() and not Path("/etc/kvmcloud").exists()


def older_copies(debs: list[Path], suffix: str, into: Path) -> list[Path]:
    """Copies of ``debs`` whose version (and exact inter-dependencies) end in ``suffix``.

    A fixture for upgrades: the same files under a lower version (``0.1.0~old`` sorts
    before ``0.1.0``), repacked with dpkg-deb instead of built again.
    """
    copies = []
    for deb in debs:
        tree = into / deb.stem
        run("dpkg-deb", "-R", str(deb), str(tree))
        control = tree / "DEBIAN" / "control"
        fields = control.read_text()
        version = next(
            line.split(": ", 1)[1] for line in fields.splitlines() if line.startswith("Version:")
        )
        control.write_text(
            fields.replace(f"Version: {version}", f"Version: {version}{suffix}").replace(
                f"(= {version})", f"(= {version}{suffix})"
            )
        )
        target = into / deb.name.replace(f"_{version}_", f"_{version}{suffix}_")
        # Uncompressed: a fixture, repacked in seconds rather than a minute.
        run("dpkg-deb", "--root-owner-group", "-Znone", "-b", str(tree), str(target))
        copies.append(target)
    return copies


def unit(name: str) -> dict[str, str]:
    """The first value of each ``Key=value`` line of an installed unit file."""
    entries: dict[str, str] = {}
    for line in (UNITS / f"{name}.service").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            entries.setdefault(key.strip(), value.strip())
    return entries


def uid(user: str) -> int:
    """The uid of a system user."""
    return pwd.getpwnam(user).pw_uid


def printed_keys(out: str) -> dict[str, str]:
    """``user:``, ``api key:``, ``secret key:`` (and ``password:``) lines as a dict."""
    return {
        name.strip(): value.strip()
        for name, _, value in (line.partition(":") for line in out.splitlines())
        if value
    }


@contextmanager
def server_as_unit(conf: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start the installed server as its unit would (ExecStart, User, Group), with the
    settings of ``conf`` in place of its EnvironmentFile; stop it by its PID after."""
    with as_unit("kvmcloud-management", conf, log) as process:
        yield process


@contextmanager
def as_unit(
    name: str, conf: Path, log: Path, *, sandboxed: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """Start the installed unit ``name``'s ExecStart as its User and Group (root when the
    unit names none), with the settings of ``conf``; stop it by its PID after.

    ``sandboxed`` also confines its files as the unit does (:func:`sandbox_argv`).
    """
    entries = unit(name)
    argv = entries["ExecStart"].split()
    if sandboxed:
        argv = sandbox_argv(name) + argv
    environ = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    environ |= env_files.parse(conf.read_text())
    with log.open("ab") as output:
        process = subprocess.Popen(
            argv,
            env=environ,
            user=None if sandboxed else entries.get("User"),
            group=None if sandboxed else entries.get("Group"),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd="/",
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``, or fail with the log."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode}:\n{log.read_text()}")
        with socket.socket() as probe:
            probe.settimeout(1.0)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on {port} after {START_TIMEOUT_S} s:\n{log.read_text()}")


def list_zones(
    url: str, keys: dict[str, str], server: subprocess.Popen[bytes], log: Path
) -> dict[str, object]:
    """Call listZones signed with ``keys`` once the server answers; its response object."""
    params = {"command": "listZones", "response": "json", "apiKey": keys["api key"]}
    params["signature"] = sign(params, keys["secret key"])
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited with {server.returncode}:\n{log.read_text()}")
        try:
            response = httpx.get(url, params=params, timeout=5.0)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()["listzonesresponse"]
        return body
    raise AssertionError(
        f"the server did not answer within {START_TIMEOUT_S} s:\n{log.read_text()}"
    )


def sandbox_argv(name: str) -> list[str]:
    """An argv prefix that confines a command's files as the installed unit ``name`` would.

    No systemd as PID 1 here, so its file-system sandbox is rebuilt with a private mount
    namespace: every mount read-only but /proc, /sys and /dev (ProtectSystem=strict), the
    unit's ReadWritePaths bound writable, empty /tmp and /var/tmp (PrivateTmp) and no
    /home, /root or /run/user (ProtectHome); then the unit's User and Group, without new
    privileges. The other settings (system calls, capabilities, devices) are not rebuilt.
    """
    entries = unit(name)
    assert entries.get("ProtectSystem") == "strict", entries
    writable = [path.lstrip("-") for path in entries.get("ReadWritePaths", "").split()]
    script = ["set -e"]
    script += [f"mount --bind {path} {path}" for path in writable]
    skip = " ".join(["/proc", "/sys", "/dev", *writable])
    script.append(
        "awk '{print $5}' /proc/self/mountinfo | while read -r point; do\n"
        f"  for kept in {skip}; do\n"
        '    case "$point/" in "$kept"/*) continue 2;; esac\n'
        "  done\n"
        '  mount -o remount,bind,ro "$point"\n'
        "done"
    )
    if entries.get("PrivateTmp") == "yes":
        script += [
            "mount -t tmpfs -o mode=1777 tmpfs /tmp",
            "mount -t tmpfs -o mode=1777 tmpfs /var/tmp",
        ]
    if entries.get("ProtectHome") == "yes":
        script += [
            f"[ ! -d {path} ] || mount -t tmpfs -o ro,mode=0 tmpfs {path}"
            for path in ("/home", "/root", "/run/user")
        ]
    user = entries["User"]
    script.append(
        f"exec setpriv --reuid {user} --regid {entries.get('Group', user)} --init-groups "
        '--no-new-privs -- "$@"'
    )
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        "\n".join(script),
        "sandbox",
    ]
