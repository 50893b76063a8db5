"""kvmcloud-setup-agent: checks the host, writes agent.conf, prints the enrolment step."""

import os
from pathlib import Path

import pytest

from kvmcloud import env_files
from kvmcloud.agent import setup

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="kvmcloud-setup-agent runs as root")


def _args(tmp_path: Path, *more: str) -> list[str]:
    # libvirt's test driver answers without a libvirtd.
    return [
        "--config-dir", str(tmp_path / "etc"), "--state-dir", str(tmp_path / "state"),
        "--libvirt-uri", "test:///default", *more,
    ]  # fmt: skip


@pytest.mark.allow_commands("virsh")
def test_it_writes_the_values_given_and_prints_the_same_token_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "etc" / "agent.conf"

    assert setup.main(_args(tmp_path, "--listen-port", "18252")) == 0
    first = capsys.readouterr().out
    assert env_files.parse(conf.read_text()) == {
        "KVMCLOUD_AGENT_STATE_DIR": str(tmp_path / "state"),
        "KVMCLOUD_AGENT_LIBVIRT_URI": "test:///default",
        "KVMCLOUD_AGENT_LISTEN_PORT": "18252",
    }
    assert "enrolment token: " in first and "hypervisor=KVM url=http://" in first
    assert ":18252 username=root" in first

    assert setup.main(_args(tmp_path)) == 0
    again = capsys.readouterr().out

    assert "is up to date" in again
    token = next(line for line in first.splitlines() if line.startswith("enrolment token"))
    assert token in again
    assert env_files.parse(conf.read_text())["KVMCLOUD_AGENT_LISTEN_PORT"] == "18252"


def test_a_bad_value_is_refused_naming_the_variable_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert setup.main(_args(tmp_path, "--listen-port", "99999")) == 1

    assert "KVMCLOUD_AGENT_LISTEN_PORT" in capsys.readouterr().err
    assert not (tmp_path / "etc").exists()


@pytest.mark.allow_commands("virsh")
def test_an_unreachable_libvirt_is_refused_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(tmp_path)
    args[args.index("test:///default")] = "qemu+unix:///system?socket=/nonexistent/sock"

    assert setup.main(args) == 1

    err = capsys.readouterr().err
    assert "cannot reach libvirt at qemu+unix:///system?socket=/nonexistent/sock" in err
    assert "nothing written" in err
    assert not (tmp_path / "etc").exists()
