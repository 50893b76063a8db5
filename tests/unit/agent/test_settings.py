from pathlib import Path

import pytest

from kvmcloud.agent.settings import AgentSettings, SettingsError


def test_defaults():
    settings = AgentSettings.from_env({})

    assert settings.listen_host == "0.0.0.0"
    assert settings.listen_port == 8252
    assert settings.state_dir == Path("/var/lib/kvmcloud-agent")
    assert settings.enroll_token_ttl_s == 86400
    assert settings.buffer_size_bytes == 4 * 1024 * 1024


def test_reads_prefixed_variables():
    settings = AgentSettings.from_env(
        {
            "KVMCLOUD_AGENT_LISTEN_HOST": "127.0.0.1",
            "KVMCLOUD_AGENT_LISTEN_PORT": "9000",
            "KVMCLOUD_AGENT_STATE_DIR": "/tmp/agent",
            "KVMCLOUD_AGENT_ENROLL_TOKEN_TTL_S": "3600",
            "KVMCLOUD_AGENT_BUFFER_SIZE_BYTES": "65536",
            "KVMCLOUD_AGENT_LOG_LEVEL": "debug",
            "UNRELATED": "x",
        }
    )

    assert settings.listen_host == "127.0.0.1"
    assert settings.listen_port == 9000
    assert settings.state_dir == Path("/tmp/agent")
    assert settings.enroll_token_ttl_s == 3600
    assert settings.buffer_size_bytes == 65536
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"KVMCLOUD_AGENT_LISTEN_PORT": "http"}, "KVMCLOUD_AGENT_LISTEN_PORT"),
        ({"KVMCLOUD_AGENT_LISTEN_PORT": "70000"}, "KVMCLOUD_AGENT_LISTEN_PORT"),
        ({"KVMCLOUD_AGENT_BUFFER_SIZE_BYTES": "1"}, "KVMCLOUD_AGENT_BUFFER_SIZE_BYTES"),
        ({"KVMCLOUD_AGENT_STATE_DIR": "relative"}, "KVMCLOUD_AGENT_STATE_DIR"),
        ({"KVMCLOUD_AGENT_LOG_LEVEL": "chatty"}, "KVMCLOUD_AGENT_LOG_LEVEL"),
        ({"KVMCLOUD_AGENT_ENROLL_TOKEN_TTL_S": "5"}, "KVMCLOUD_AGENT_ENROLL_TOKEN_TTL_S"),
    ],
)
def test_invalid_values_name_the_variable(environ, variable):
    with pytest.raises(SettingsError) as caught:
        AgentSettings.from_env(environ)

    assert caught.value.variable == variable
    assert str(caught.value).startswith(variable + ":")


def test_libvirt_and_console_defaults():
    settings = AgentSettings.from_env({})

    assert settings.libvirt_uri == "qemu:///system"
    assert settings.console_dir == Path("/var/log/kvmcloud-agent/consoles")


def test_reads_libvirt_uri_and_console_dir():
    settings = AgentSettings.from_env(
        {
            "KVMCLOUD_AGENT_LIBVIRT_URI": "qemu+unix:///system?socket=/run/x/libvirt-sock",
            "KVMCLOUD_AGENT_CONSOLE_DIR": "/srv/consoles",
        }
    )

    assert settings.libvirt_uri == "qemu+unix:///system?socket=/run/x/libvirt-sock"
    assert settings.console_dir == Path("/srv/consoles")
    assert "qemu+unix:///system" in repr(settings)
    assert "/srv/consoles" in repr(settings)


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"KVMCLOUD_AGENT_CONSOLE_DIR": "consoles"}, "KVMCLOUD_AGENT_CONSOLE_DIR"),
        ({"KVMCLOUD_AGENT_LIBVIRT_URI": "system"}, "KVMCLOUD_AGENT_LIBVIRT_URI"),
        ({"KVMCLOUD_AGENT_LIBVIRT_URI": "qemu:///sys tem"}, "KVMCLOUD_AGENT_LIBVIRT_URI"),
    ],
)
def test_invalid_libvirt_settings_name_their_variable(environ, variable):
    with pytest.raises(SettingsError) as caught:
        AgentSettings.from_env(environ)
    assert caught.value.variable == variable


def test_certificate_store_directory():
    assert AgentSettings.from_env({}).cert_dir == Path("/etc/kvmcloud-agent/certs")

    settings = AgentSettings.from_env({"KVMCLOUD_AGENT_CERT_DIR": "/srv/agent-certs"})

    assert settings.cert_dir == Path("/srv/agent-certs")
    assert "/srv/agent-certs" in repr(settings)


def test_relative_certificate_store_is_refused():
    with pytest.raises(SettingsError) as caught:
        AgentSettings.from_env({"KVMCLOUD_AGENT_CERT_DIR": "certs"})
    assert caught.value.variable == "KVMCLOUD_AGENT_CERT_DIR"


def test_nfs_settings_default_to_auto_under_mnt():
    from pathlib import Path

    from kvmcloud.agent.nfs_modes import NfsMode
    from kvmcloud.agent.settings import AgentSettings, SettingsError

    settings = AgentSettings.from_env({})
    assert settings.nfs_mode == NfsMode.AUTO
    assert settings.nfs_mount_base == Path("/mnt")
    assert settings.pool_check_interval_s == 60
    forced = AgentSettings.from_env(
        {
            "KVMCLOUD_AGENT_NFS_MODE": "Mount",
            "KVMCLOUD_AGENT_NFS_MOUNT_BASE": "/var/lib/kvmcloud/mnt",
            "KVMCLOUD_AGENT_NFS_PROBE_TIMEOUT_S": "3",
            "KVMCLOUD_AGENT_POOL_CHECK_INTERVAL_S": "2",
        }
    )
    assert forced.nfs_mode == NfsMode.MOUNT
    assert forced.nfs_mount_base == Path("/var/lib/kvmcloud/mnt")
    assert forced.nfs_probe_timeout_s == 3
    assert forced.pool_check_interval_s == 2
    for name, value in (("NFS_MODE", "kernel"), ("NFS_MOUNT_BASE", "mnt")):
        with pytest.raises(SettingsError, match=f"KVMCLOUD_AGENT_{name}"):
            AgentSettings.from_env({f"KVMCLOUD_AGENT_{name}": value})
