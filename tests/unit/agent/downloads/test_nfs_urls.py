import pytest

from kvmcloud.agent.downloads.nfs_urls import parse_nfs_url


@pytest.mark.parametrize(
    ("url", "is_dns_name"),
    [
        ("nfs://filer.example.com/e/t.qcow2", True),
        ("nfs://filer/e/t.qcow2", True),
        ("nfs://10.0.0.1/e/t.qcow2", False),
        ("nfs://[2001:db8::5]/e/t.qcow2", False),
    ],
)
def test_only_a_host_name_is_a_name_to_resolve(url, is_dns_name):
    assert parse_nfs_url(url).is_dns_name is is_dns_name


@pytest.mark.parametrize(
    ("url", "server"),
    [
        ("nfs://filer/e/t.qcow2", "filer"),
        ("nfs://10.0.0.1:2049/e/t.qcow2", "10.0.0.1:2049"),
        ("nfs://[::1]/e/t.qcow2", "[::1]"),
    ],
)
def test_server_is_named_for_messages_with_its_port_and_ipv6_brackets(url, server):
    assert parse_nfs_url(url).server == server


def test_path_joins_the_directory_and_the_decoded_file_name():
    location = parse_nfs_url("nfs://filer/export/a/%41.qcow2")

    assert location.path == "/export/a/A.qcow2"
    assert location.url == "nfs://filer/export/a/%41.qcow2"
