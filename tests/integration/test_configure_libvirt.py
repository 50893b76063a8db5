"""scripts/configure-libvirt-for-tests on scratch copies of qemu.conf: effective values, once."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "configure-libvirt-for-tests"
BLOCK = ['user = "+0"', 'group = "+0"', "namespaces = [ ]", 'security_driver = "none"']
DEBIAN_DEFAULTS = """\
# Master configuration file for the QEMU driver.
#user = "libvirt-qemu"
#group = "libvirt-qemu"
#security_driver = "selinux"
#namespaces = [ "mount" ]
"""


def configure(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--conf", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def effective(conf: Path) -> dict[str, str]:
    """First uncommented value of each key, as libvirt reads it (lists joined on one line)."""
    values: dict[str, str] = {}
    lines = iter(conf.read_text().splitlines())
    for line in lines:
        if line.lstrip().startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        while value.count("[") > value.count("]"):
            value += next(lines)
        values.setdefault(key.strip(), "".join(value.split()))
    return values


def test_debian_defaults_get_the_block_once(tmp_path: Path) -> None:
    conf = tmp_path / "qemu.conf"
    conf.write_text(DEBIAN_DEFAULTS)
    conf.chmod(0o600)

    first = configure(conf)
    after_first = conf.read_text()
    second = configure(conf)

    assert first.returncode == 0, first.stderr
    assert "appended" in first.stdout
    assert after_first.startswith(DEBIAN_DEFAULTS)
    assert all(line in after_first.splitlines() for line in BLOCK)
    assert after_first.count("kvmcloud-tests: begin") == 1
    assert second.returncode == 0
    assert "already" in second.stdout
    assert conf.read_text() == after_first
    assert conf.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "qemu.conf.kvmcloud-tests-orig").read_text() == DEBIAN_DEFAULTS


@pytest.mark.parametrize(
    "existing",
    [
        # The block a colleague added by hand before this script existed.
        '# kvmcloud-prototype\nuser = "+0"\ngroup = "+0"\nnamespaces = [ ]\n'
        'security_driver = "none"\n',
        # Equivalent spellings.
        "user='root'\ngroup = \"root\"  # the admin group\nnamespaces=[]\n"
        'security_driver = [ "none" ]\n',
        'namespaces = [\n]\nuser = "+0"\ngroup = "+0"\nsecurity_driver = "none"\n',
    ],
)
def test_an_equivalent_configuration_is_left_untouched(tmp_path: Path, existing: str) -> None:
    conf = tmp_path / "qemu.conf"
    conf.write_text(DEBIAN_DEFAULTS + existing)

    result = configure(conf)

    assert result.returncode == 0, result.stderr
    assert "already" in result.stdout
    assert conf.read_text() == DEBIAN_DEFAULTS + existing
    assert not (tmp_path / "qemu.conf.kvmcloud-tests-orig").exists()


def test_conflicting_assignments_are_commented_out(tmp_path: Path) -> None:
    conf = tmp_path / "qemu.conf"
    conf.write_text(
        'user = "libvirt-qemu"\ngroup = "+0"\nnamespaces = [\n  "mount"\n]\n'
        'security_driver = "apparmor"\nvnc_listen = "0.0.0.0"\n'
    )

    result = configure(conf)

    assert result.returncode == 0, result.stderr
    assert effective(conf) == {
        "user": '"+0"',
        "group": '"+0"',
        "namespaces": "[]",
        "security_driver": '"none"',
        "vnc_listen": '"0.0.0.0"',
    }
    text = conf.read_text()
    assert '# kvmcloud-tests: replaced: user = "libvirt-qemu"' in text
    assert '# kvmcloud-tests: replaced:   "mount"' in text
    # group was already right: it is neither commented out nor repeated.
    assert text.count('group = "+0"') == 1


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    result = configure(tmp_path / "missing.conf")

    assert result.returncode == 1
    assert "install libvirt-daemon-system" in result.stderr
