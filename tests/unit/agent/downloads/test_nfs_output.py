from kvmcloud.agent.downloads.errors import SourceNotFoundError, SourceUnavailableError
from kvmcloud.agent.downloads.nfs_output import DirectoryEntry, error_from_libnfs, parse_nfs_ls
from kvmcloud.agent.downloads.nfs_urls import NfsLocation

LOCATION = NfsLocation(
    url="nfs://10.0.0.1/srv/images/t.qcow2",
    host="10.0.0.1",
    port=None,
    directory="/srv/images",
    file_name="t.qcow2",
)


def test_an_entry_without_a_type_letter_is_of_unknown_kind():
    # nfs-ls prints no type letter for sockets and FIFOs.
    assert parse_nfs_ls("rw-rw-rw-  1  0  0  0 fifo") == [DirectoryEntry("?", 0, "fifo")]


def test_an_export_without_the_directory_is_not_found():
    text = "Failed to mount nfs share : mount/mnt call failed with MNT3ERR_NOENT(2)"

    error = error_from_libnfs(text, LOCATION, "listing /srv/images")

    assert type(error) is SourceNotFoundError
    assert "has no directory /srv/images" in str(error)


def test_an_address_that_cannot_be_resolved_is_not_a_dns_failure():
    text = "Failed to start connection. Invalid address:10.0.0.1. Can not resolv into IPv4/v6"

    error = error_from_libnfs(text, LOCATION, "listing /srv/images")

    assert type(error) is SourceUnavailableError
    assert "cannot reach NFS server 10.0.0.1" in str(error)


def test_silence_and_long_messages_are_reported_on_one_bounded_line():
    assert str(error_from_libnfs("", LOCATION, "reading /srv/images/t.qcow2")) == (
        "reading /srv/images/t.qcow2 failed on NFS server 10.0.0.1: no message"
    )
    error = error_from_libnfs("x\n" * 1000, LOCATION, "reading /srv/images/t.qcow2")
    assert str(error).endswith(": " + "x " * 250)
