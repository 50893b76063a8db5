"""Upgrading the packages keeps /etc/kvmcloud, the secrets key and the database."""

import os
import shutil
from pathlib import Path

import pytest

from kvmcloud import __version__, env_files
from tests.support import debian_packages as packages
from tests.support.processes import free_port

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.timeout(packages.BUILD_TIMEOUT_S + 3 * packages.APT_TIMEOUT_S),
    pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="installs packages: needs root"),
]

OLD = "~old1"


@pytest.mark.usefixtures("not_installed")
def test_an_upgrade_keeps_the_settings_the_key_and_the_data(
    debs: list[Path], tmp_path: Path, shared_tmp: Path
) -> None:
    old = packages.older_copies(debs, OLD, tmp_path)
    packages.apt_get("install", *(str(path) for path in old))
    assert packages.installed_version("kvmcloud-management") == __version__ + OLD
    keys = packages.printed_keys(packages.run("kvmcloud-setup-database", "sqlite"))
    conf = Path("/etc/kvmcloud/server.conf")
    port = free_port()
    # The operator's own settings, next to what the setup wrote.
    edited = env_files.set_values(
        conf.read_text(),
        {
            "KVMCLOUD_LISTEN_HOST": "127.0.0.1",
            "KVMCLOUD_LISTEN_PORT": str(port),
            "KVMCLOUD_AGENTS_PORT": str(free_port()),
        },
    )
    conf.write_text(edited)
    key = Path("/etc/kvmcloud/secrets.key").read_bytes()

    packages.apt_get("install", *(str(path) for path in debs))

    assert packages.installed_version("kvmcloud-management") == __version__
    assert conf.read_text() == edited
    assert Path("/etc/kvmcloud/secrets.key").read_bytes() == key
    log = shared_tmp / "server.log"
    with packages.server_as_unit(conf, log) as server:
        zones = packages.list_zones(f"http://127.0.0.1:{port}/client/api", keys, server, log)
    assert zones.get("zone", []) == []
