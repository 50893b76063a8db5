"""The Debian packages: install here, verify the units, set up, serve, remove and purge.

Runs where dpkg-deb exists and as root (it installs into this machine with apt-get);
select it with ``-m packaging``. There is no systemd as PID 1 here, so the server is
started the way its unit would start it: the unit's ExecStart, as its User, with its
EnvironmentFile's settings (pointed at a temporary configuration and state directory).
Everything is purged at the end, so the source-tree tests find no /etc/kvmcloud.
"""

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cs import CloudStack
from sqlalchemy import create_engine, text

from kvmcloud import __version__, env_files
from tests.support import debian_packages as packages
from tests.support.egress import ALLOW_SETTING, LOOPBACK
from tests.support.libvirt import libvirt_or_skip
from tests.support.mariadb import mariadb_or_skip
from tests.support.processes import free_port

# The module shares one build and one installation; each test is bounded by the build and
# apt timeouts rather than the suite's 60 s.
pytestmark = [
    pytest.mark.packaging,
    pytest.mark.timeout(packages.BUILD_TIMEOUT_S + 2 * packages.APT_TIMEOUT_S),
    pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="installs packages: needs root"),
]


@pytest.fixture(scope="module")
def installed(debs: list[Path]) -> Iterator[list[Path]]:
    """Install the packages with apt (Debian resolves their dependencies); purge after."""
    already = [package for package in packages.PACKAGES if packages.installed(package)]
    if already:
        pytest.skip(f"{', '.join(already)} installed here already: the test would purge it")
    try:
        packages.apt_get("install", *(str(path) for path in debs))
        yield debs
    finally:
        packages.purge_all()


def test_the_version_is_kvmclouds_own(installed: list[Path]) -> None:
    assert packages.installed_version("kvmcloud-common") == __version__
    assert packages.run("kvmcloud", "--version").strip() == f"kvmcloud {__version__}"


def test_systemd_accepts_the_units(installed: list[Path]) -> None:
    names = ("kvmcloud-management", "kvmcloud-agent")
    units = [str(packages.UNITS / f"{name}.service") for name in names]

    # `verify` loads the units offline: no systemd as PID 1 is needed. It exits non-zero
    # on a missing ExecStart program and prints unknown keys naming the file.
    out = packages.run("systemd-analyze", "verify", *units)

    assert "kvmcloud" not in out, out


# systemd's own rating, 0 (confined) to 10 (exposed), of what each unit's sandbox allows.
# The agent keeps the host's mount namespace and root's capabilities (its unit says why).
EXPOSURE_AT_MOST = {"kvmcloud-management": 2.0, "kvmcloud-agent": 8.0}


def test_systemd_rates_each_units_sandbox_below_its_threshold(installed: list[Path]) -> None:
    rated = {}
    for name in EXPOSURE_AT_MOST:
        out = packages.run(
            "systemd-analyze", "security", "--offline=true", str(packages.UNITS / f"{name}.service")
        )
        line = next(line for line in out.splitlines() if "Overall exposure level" in line)
        rated[name] = float(line.split(": ", 1)[1].split()[0])

    assert all(rated[name] <= limit for name, limit in EXPOSURE_AT_MOST.items()), rated


def test_the_installed_server_writes_only_where_its_unit_lets_it(
    installed: list[Path], shared_tmp: Path
) -> None:
    unit = packages.unit("kvmcloud-management")
    writable = unit["ReadWritePaths"].split()
    assert set(writable) == {"/var/lib/kvmcloud", "/var/log/kvmcloud", "/etc/kvmcloud/pki"}
    # The sandbox as rebuilt here: read-only everywhere but the unit's paths, /tmp private.
    mounts = packages.run(
        *packages.sandbox_argv("kvmcloud-management"), "cat", "/proc/self/mountinfo"
    )
    options = {
        fields[4]: fields[5].split(",") for fields in (line.split() for line in mounts.splitlines())
    }
    kept = ("/proc", "/sys", "/dev", *writable)
    confined = [
        point for point in options if not any((point + "/").startswith(k + "/") for k in kept)
    ]
    assert all("ro" in options[point] for point in confined if point not in ("/tmp", "/var/tmp"))
    assert all("rw" in options[path] for path in writable)

    # The packaged places, as kvmcloud-setup-database makes them with no options.
    keys = packages.printed_keys(packages.run("kvmcloud-setup-database", "sqlite"))
    conf, port = Path("/etc/kvmcloud/server.conf"), free_port()
    conf.write_text(
        env_files.set_values(
            conf.read_text(),
            {
                "KVMCLOUD_LISTEN_HOST": "127.0.0.1",
                "KVMCLOUD_LISTEN_PORT": str(port),
                "KVMCLOUD_AGENTS_PORT": str(free_port()),
            },
        )
    )
    started = shared_tmp / "started"
    started.touch()
    endpoint, log = f"http://127.0.0.1:{port}/client/api", shared_tmp / "server.log"
    with packages.as_unit("kvmcloud-management", conf, log, sandboxed=True) as server:
        packages.list_zones(endpoint, keys, server, log)
        api = CloudStack(endpoint=endpoint, key=keys["api key"], secret=keys["secret key"])
        api.createZone(name="confined", networktype="Advanced", dns1="127.0.0.53")
        zones = api.listZones()["zone"]

    assert [zone["name"] for zone in zones] == ["confined"]
    # It made the agent CA in the one place under /etc that it may write.
    assert sorted(path.name for path in Path("/etc/kvmcloud/pki").iterdir())
    assert "Read-only file system" not in log.read_text(), log.read_text()
    # Nothing of the kvmcloud user's appeared elsewhere on the root file system.
    out = packages.run(
        "find", "/", "-xdev", "-user", "kvmcloud", "-newer", str(started), check=False
    )  # fmt: skip
    allowed = (*writable, str(shared_tmp))
    found = [
        path
        for path in out.split()
        if not any(path == place or path.startswith(place + "/") for place in allowed)
    ]
    assert found == [], out


def test_the_installed_server_runs_as_its_user_and_answers_with_the_admin_keys(
    installed: list[Path], shared_tmp: Path
) -> None:
    unit = packages.unit("kvmcloud-management")
    assert unit["EnvironmentFile"] == "/etc/kvmcloud/server.conf"
    config, db = shared_tmp / "etc", shared_tmp / "state" / "kvmcloud.db"
    setup = ["kvmcloud-setup-database", "--config-dir", str(config), "sqlite", "--path", str(db)]
    keys = packages.printed_keys(packages.run(*setup))
    again = packages.printed_keys(packages.run(*setup))
    assert again["api key"] == keys["api key"]
    assert (config / "secrets.key").stat().st_uid == packages.uid(unit["User"])

    port = free_port()
    conf = config / "server.conf"
    conf.write_text(
        env_files.set_values(
            conf.read_text(),
            {
                "KVMCLOUD_LISTEN_HOST": "127.0.0.1",
                "KVMCLOUD_LISTEN_PORT": str(port),
                "KVMCLOUD_AGENTS_PORT": str(free_port()),
            },
        )
    )
    log = shared_tmp / "server.log"
    with packages.server_as_unit(conf, log) as server:
        zones = packages.list_zones(f"http://127.0.0.1:{port}/client/api", keys, server, log)

    # No zone yet: CloudStack answers an empty list as an empty object.
    assert zones.get("zone", []) == []
    assert db.stat().st_uid == packages.uid(unit["User"])


def test_the_installed_acceptance_suite_passes_against_the_installed_server(
    installed: list[Path], shared_tmp: Path
) -> None:
    config, db = shared_tmp / "etc", shared_tmp / "state" / "kvmcloud.db"
    setup = ["kvmcloud-setup-database", "--config-dir", str(config), "sqlite", "--path", str(db)]
    keys = packages.printed_keys(packages.run(*setup))
    port = free_port()
    conf = config / "server.conf"
    conf.write_text(
        env_files.set_values(
            conf.read_text(),
            {
                "KVMCLOUD_LISTEN_HOST": "127.0.0.1",
                "KVMCLOUD_LISTEN_PORT": str(port),
                "KVMCLOUD_AGENTS_PORT": str(free_port()),
            },
        )
    )
    log, endpoint = shared_tmp / "server.log", f"http://127.0.0.1:{port}/client/api"
    with packages.server_as_unit(conf, log) as server:
        packages.list_zones(endpoint, keys, server, log)
        api = CloudStack(endpoint=endpoint, key=keys["api key"], secret=keys["secret key"])
        api.createZone(name="accept1", networktype="Advanced", dns1="127.0.0.53")
        # No host here (the agent needs libvirt as root): the VM tests skip, the rest run.
        out = packages.run(
            "kvmcloud-integration-tests", "--endpoint", endpoint, "--api-key", keys["api key"],
            "--secret-key", keys["secret key"], "--zone", "accept1", "-v",
            check=False,
        )  # fmt: skip

    summary = out.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, out
    assert "test_a_malformed_id_answers_431_naming_it PASSED" in out, out
    # It ran as root from /usr/lib and wrote nothing there.
    assert not list(Path("/usr/lib/kvmcloud-integration-tests").rglob("__pycache__"))


@pytest.mark.usefixtures("libvirt_run_lock")
@pytest.mark.timeout(packages.APT_TIMEOUT_S + 300)
def test_the_installed_suite_deploys_a_vm_through_the_installed_server_and_agent(
    installed: list[Path], shared_tmp: Path
) -> None:
    config, agent_state = shared_tmp / "etc", shared_tmp / "agent"
    setup = ["kvmcloud-setup-database", "--config-dir", str(config), "sqlite", "--path",
             str(shared_tmp / "state" / "kvmcloud.db")]  # fmt: skip
    keys = packages.printed_keys(packages.run(*setup))
    port, agents_port, agent_port = free_port(), free_port(), free_port()
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
    pool = shared_tmp / "pool"
    pool.mkdir()
    endpoint = f"http://127.0.0.1:{port}/client/api"
    server_log, agent_log = shared_tmp / "server.log", shared_tmp / "agent.log"
    with libvirt_or_skip():
        enrol = packages.run(
            "kvmcloud-setup-agent", "--config-dir", str(config), "--state-dir", str(agent_state)
        )
        token = enrol.split("enrolment token: ", 1)[1].split(";", 1)[0].split()[0].strip()
        agent_conf = config / "agent.conf"
        agent_conf.write_text(
            env_files.set_values(
                agent_conf.read_text(),
                {
                    "KVMCLOUD_AGENT_LISTEN_HOST": "127.0.0.1",
                    "KVMCLOUD_AGENT_LISTEN_PORT": str(agent_port),
                    "KVMCLOUD_AGENT_STATE_DIR": str(agent_state),
                    "KVMCLOUD_AGENT_CONSOLE_DIR": str(shared_tmp / "consoles"),
                },
            )
        )
        with (
            packages.server_as_unit(conf, server_log) as server,
            packages.as_unit("kvmcloud-agent", agent_conf, agent_log) as agent,
        ):
            packages.list_zones(endpoint, keys, server, server_log)
            packages.wait_listening(agent_port, agent, agent_log)
            api = CloudStack(
                endpoint=endpoint, key=keys["api key"], secret=keys["secret key"],
                fetch_result=True, job_timeout=120,
            )  # fmt: skip
            zone = api.createZone(name="accept2", networktype="Advanced", dns1="127.0.0.53")
            zone_id = zone["zone"]["id"]
            # The suite serves its image on loopback, which the egress policy denies.
            api.updateConfiguration(name=ALLOW_SETTING, value=LOOPBACK, zoneid=zone_id)
            api.updateConfiguration(name="instance.name", value=f"pk-{secrets.token_hex(3)}")
            pod = api.createPod(name="pod1", zoneid=zone_id)["pod"]
            cluster = api.addCluster(
                clustername="c1", zoneid=zone_id, podid=pod["id"], hypervisor="KVM"
            )["cluster"][0]
            api.addHost(
                zoneid=zone_id, podid=pod["id"], clusterid=cluster["id"], hypervisor="KVM",
                url=f"http://127.0.0.1:{agent_port}", username="root", password=token,
            )  # fmt: skip
            api.createStoragePool(
                name="pool1", zoneid=zone_id, clusterid=cluster["id"],
                url=f"SharedMountPoint://localhost{pool}",
            )  # fmt: skip
            out = packages.run(
                "kvmcloud-integration-tests", "--endpoint", endpoint, "--api-key",
                keys["api key"], "--secret-key", keys["secret key"], "--zone", "accept2",
                "--serve-image", "-v", check=False,
            )  # fmt: skip

    summary = out.strip().splitlines()[-1]
    assert "failed" not in summary and "error" not in summary and "skipped" not in summary, out
    assert "test_a_vm_is_deployed_stopped_started_destroyed_and_expunged PASSED" in out, out


@pytest.mark.mariadb
def test_the_installed_setup_makes_a_mariadb_database_with_the_packaged_driver(
    installed: list[Path], shared_tmp: Path
) -> None:
    config = shared_tmp / "etc-mariadb"
    # Not "kvmcloud": the test server has a passwordless 'kvmcloud'@'127.0.0.1' already.
    with mariadb_or_skip() as server:
        admin = f"mysql+mysqldb://root@localhost/mysql?unix_socket={server.socket_path}"
        setup = [
            "kvmcloud-setup-database", "--config-dir", str(config), "mariadb",
            "--host", server.host, "--port", str(server.port), "--name", "kvmcloud_pkg",
            "--db-user", "kvmcloud_pkg", "--deploy-as", admin,
        ]  # fmt: skip
        keys = packages.printed_keys(packages.run(*setup))
        again = packages.printed_keys(packages.run(*setup))
        url = env_files.parse((config / "server.conf").read_text())["KVMCLOUD_DATABASE_URL"]
        engine = create_engine(url)
        with engine.connect() as connection:
            admins = connection.execute(text("SELECT count(*) FROM account")).scalar_one()
        engine.dispose()

    assert url.startswith("mysql+mysqldb://kvmcloud_pkg:")
    assert again["api key"] == keys["api key"] and admins >= 1


def test_the_installed_agent_setup_checks_the_host_and_prints_the_enrolment_step(
    installed: list[Path], shared_tmp: Path
) -> None:
    # libvirt's test driver: the check runs virsh without needing this machine's libvirtd.
    out = packages.run(
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

    packages.apt_get("remove", "kvmcloud-management", "kvmcloud-agent")
    assert all(path.exists() for path in kept)
    assert not Path("/usr/bin/kvmcloud-server").exists()

    packages.apt_get("purge", "kvmcloud-management", "kvmcloud-agent")
    assert not any(path.exists() for path in kept)
    assert not Path("/var/lib/kvmcloud").exists() and not Path("/var/log/kvmcloud").exists()
    # The user stays (Debian policy: files it owned may remain elsewhere).
    assert packages.uid("kvmcloud") > 0
