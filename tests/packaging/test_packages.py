"""The Debian packages: build once, install here, verify the units, set up, serve, purge.

Runs where dpkg-deb exists and as root (it installs into this machine with apt-get);
select it with ``-m packaging``. There is no systemd as PID 1 here, so the server is
started the way its unit would start it: the unit's ExecStart, as its User, with its
EnvironmentFile's settings (pointed at a temporary configuration and state directory).
Everything is purged at the end, so the source-tree tests find no /etc/kvmcloud.
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kvmcloud import __version__, env_files
from kvmcloud.protocol.api_signing import sign
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kvmcloud-common", "kvmcloud-management", "kvmcloud-agent", "kvmcloud-docs")
UNITS = Path("/lib/systemd/system")
BUILD_TIMEOUT_S = 900
APT_TIMEOUT_S = 600
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
# The whole module shares one build and one installation; each test is bounded by the
# build and apt timeouts rather than the suite's 60 s.
pytestmark = [
    pytest.mark.packaging,
    pytest.mark.timeout(BUILD_TIMEOUT_S + 2 * APT_TIMEOUT_S),
    pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="installs packages: needs root"),
]


def _run(*argv: str, timeout_s: float = APT_TIMEOUT_S, check: bool = True) -> str:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout_s, env=env, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout + done.stderr


def _installed(package: str) -> bool:
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return "installed" in status and "not-installed" not in status


@pytest.fixture(scope="session")
def debs() -> list[Path]:
    """The packages of this tree, built once (``KVMCLOUD_DEBS`` names a prebuilt directory)."""
    given = os.environ.get("KVMCLOUD_DEBS")
    if given:
        folder = Path(given)
    else:
        _run(str(ROOT / "scripts" / "build-debs"), timeout_s=BUILD_TIMEOUT_S)
        folder = ROOT / "build" / "deb"
    found = sorted(folder.glob("kvmcloud-*.deb"))
    assert {path.name.split("_")[0] for path in found} == set(PACKAGES), found
    return found


@pytest.fixture(scope="module")
def installed(debs: list[Path]) -> Iterator[list[Path]]:
    """Install the packages with apt (Debian resolves their dependencies); purge after."""
    already = [package for package in PACKAGES if _installed(package)]
    if already:
        pytest.skip(f"{', '.join(already)} installed here already: the test would purge it")
    try:
        _run("apt-get", "install", "-y", "-q", *(f"{path}" for path in debs))
        yield debs
    finally:
        # dpkg, not apt: apt cannot name a package that is neither installed nor in a source.
        _run("dpkg", "--purge", *PACKAGES)
        assert not any(_installed(package) for package in PACKAGES)
        assert not Path("/usr/lib/kvmcloud").exists() and not Path("/etc/kvmcloud").exists()


def test_the_version_is_kvmclouds_own(installed: list[Path]) -> None:
    version = _run("dpkg-query", "-W", "-f=${Version}", "kvmcloud-common")

    assert version == __version__
    assert _run("kvmcloud", "--version").strip() == f"kvmcloud {__version__}"


def test_systemd_accepts_the_units(installed: list[Path]) -> None:
    units = [str(UNITS / f"{name}.service") for name in ("kvmcloud-management", "kvmcloud-agent")]

    # `verify` loads the units offline: no systemd as PID 1 is needed.
    out = _run("systemd-analyze", "verify", *units)

    assert "kvmcloud" not in out, out


def _unit(name: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in (UNITS / f"{name}.service").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            entries.setdefault(key.strip(), value.strip())
    return entries


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory the kvmcloud user can reach (pytest's tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="kvmcloud-packaging-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _keys(out: str) -> dict[str, str]:
    return {
        name.strip(): value.strip()
        for name, _, value in (line.partition(":") for line in out.splitlines())
        if value
    }


def test_the_installed_server_runs_as_its_user_and_answers_with_the_admin_keys(
    installed: list[Path], shared_tmp: Path
) -> None:
    unit = _unit("kvmcloud-management")
    config, db = shared_tmp / "etc", shared_tmp / "state" / "kvmcloud.db"
    setup = ["kvmcloud-setup-database", "--config-dir", str(config), "sqlite", "--path", str(db)]
    keys = _keys(_run(*setup))
    again = _keys(_run(*setup))
    assert again["api key"] == keys["api key"]
    assert (config / "secrets.key").stat().st_uid == _uid(unit["User"])

    port, agents_port = free_port(), free_port()
    conf = config / "server.conf"
    conf.write_text(
        env_files.set_values(
            conf.read_text(),
            {
                "KVMCLOUD_LISTEN_HOST": "127.0.0.1",
                "KVMCLOUD_LISTEN_PORT": str(port),
                "KVMCLOUD_AGENTS_PORT": str(agents_port),
            },
        )
    )
    assert unit["EnvironmentFile"] == "/etc/kvmcloud/server.conf"
    environ = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    environ |= env_files.parse(conf.read_text())
    log = shared_tmp / "server.log"
    with log.open("ab") as output:
        server = subprocess.Popen(
            unit["ExecStart"].split(),
            env=environ,
            user=unit["User"],
            group=unit["Group"],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd="/",
        )
    try:
        zones = _list_zones(f"http://127.0.0.1:{port}/client/api", keys, server, log)
        # No zone yet: CloudStack answers an empty list as an empty object.
        assert zones.get("zone", []) == []
    finally:
        _stop(server)
    assert db.stat().st_uid == _uid(unit["User"])


def _uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def _list_zones(
    url: str, keys: dict[str, str], server: subprocess.Popen[bytes], log: Path
) -> dict[str, object]:
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


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


def test_the_installed_agent_setup_checks_the_host_and_prints_the_enrolment_step(
    installed: list[Path], shared_tmp: Path
) -> None:
    # libvirt's test driver: the check runs virsh without needing this machine's libvirtd.
    out = _run(
        "kvmcloud-setup-agent", "--config-dir", str(shared_tmp / "etc"),
        "--state-dir", str(shared_tmp / "agent"), "--libvirt-uri", "test:///default",
    )  # fmt: skip

    assert "enrolment token: " in out and "kvmcloud api addHost" in out
    assert (shared_tmp / "etc" / "agent.conf").exists()


def test_remove_keeps_configuration_and_state_and_purge_deletes_them(
    installed: list[Path],
) -> None:
    state = Path("/var/lib/kvmcloud/kvmcloud.db")
    state.write_text("the operator's data")
    kept = [Path("/etc/kvmcloud/server.conf"), Path("/etc/kvmcloud/agent.conf"), state]

    _run("apt-get", "remove", "-y", "-q", "kvmcloud-management", "kvmcloud-agent")
    assert all(path.exists() for path in kept)
    assert not Path("/usr/bin/kvmcloud-server").exists()

    _run("apt-get", "purge", "-y", "-q", "kvmcloud-management", "kvmcloud-agent")
    assert not any(path.exists() for path in kept)
    assert not Path("/var/lib/kvmcloud").exists() and not Path("/var/log/kvmcloud").exists()
    # The user stays (Debian policy: files it owned may remain elsewhere).
    assert _uid("kvmcloud") > 0
