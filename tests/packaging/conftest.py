"""The packages of this tree, built once per session, and a directory the server can read."""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import debian_packages as packages


@pytest.fixture(scope="session")
def debs() -> list[Path]:
    """The five packages (``KVMCLOUD_DEBS`` names a directory of prebuilt ones)."""
    given = os.environ.get("KVMCLOUD_DEBS")
    if given:
        folder = Path(given)
    else:
        packages.run(
            str(packages.ROOT / "scripts" / "build-debs"), timeout_s=packages.BUILD_TIMEOUT_S
        )
        folder = packages.ROOT / "build" / "deb"
    found = sorted(folder.glob("kvmcloud-*.deb"))
    assert {path.name.split("_")[0] for path in found} == set(packages.PACKAGES), found
    return found


@pytest.fixture
def not_installed() -> Iterator[None]:
    """Nothing of kvmcloud installed before; everything purged after (even on failure)."""
    already = [package for package in packages.PACKAGES if packages.installed(package)]
    if already:
        pytest.skip(f"{', '.join(already)} installed here already: the test would purge it")
    try:
        yield
    finally:
        packages.purge_all()


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory the kvmcloud user can reach (pytest's tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="kvmcloud-packaging-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
