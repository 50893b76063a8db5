from collections.abc import Sequence

import pytest

from kvmcloud.agent.downloads.base import Downloader, DownloadRequest
from kvmcloud.agent.downloads.errors import (
    DnsFailureError,
    SourceDeniedError,
    SourceNotFoundError,
    SourceRefusedError,
    SourceUnavailableError,
    UnsupportedUrlError,
)
from kvmcloud.agent.downloads.nfs import NfsDownloader
from kvmcloud.agent.downloads.nfs_output import DirectoryEntry, error_from_libnfs, parse_nfs_ls
from kvmcloud.agent.downloads.nfs_urls import NfsLocation, parse_nfs_url
from kvmcloud.agent.host.commands import CommandResult
from kvmcloud.protocol.egress import EgressPolicy
from kvmcloud.protocol.error_codes import ErrorCode

# URL validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "directory", "name"),
    [
        (
            "nfs://10.0.0.1/export/templates/tmpl.qcow2",
            "10.0.0.1",
            None,
            "/export/templates",
            "tmpl.qcow2",
        ),
        ("nfs://nfs.example.com/export/t.qcow2", "nfs.example.com", None, "/export", "t.qcow2"),
        ("nfs://filer-01/vol/images/t.raw", "filer-01", None, "/vol/images", "t.raw"),
        ("NFS://filer:2049/e/t.iso", "filer", 2049, "/e", "t.iso"),
        ("nfs://127.0.0.1:20490/srv/nfs/t.qcow2", "127.0.0.1", 20490, "/srv/nfs", "t.qcow2"),
        ("nfs://[::1]/e/t.qcow2", "::1", None, "/e", "t.qcow2"),
        ("nfs://[2001:DB8::5]:2050/e/t.qcow2", "2001:db8::5", 2050, "/e", "t.qcow2"),
        ("nfs://h/e/v1.2_final-x~y+z=1,a@b.qcow2", "h", None, "/e", "v1.2_final-x~y+z=1,a@b.qcow2"),
        ("nfs://h/e/%41bc.qcow2", "h", None, "/e", "Abc.qcow2"),
        ("nfs://h/e/.hidden/t.qcow2", "h", None, "/e/.hidden", "t.qcow2"),
    ],
)
def test_valid_urls_are_split(url, host, port, directory, name):
    location = parse_nfs_url(url)

    assert (location.host, location.port, location.directory, location.file_name) == (
        host,
        port,
        directory,
        name,
    )


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("nfs://h/e/t.qcow2;reboot", "character ';'"),
        ("nfs://h/e/$(reboot).qcow2", "character '$'"),
        ("nfs://h/e/`reboot`.qcow2", "character '`'"),
        ("nfs://h/e/a|b.qcow2", "character '|'"),
        ("nfs://h/e/a&b.qcow2", "character '&'"),
        ("nfs://h/e/a b.qcow2", "whitespace"),
        ("nfs://h/e/a\tb.qcow2", "whitespace"),
        ("nfs://h/e/a\nb.qcow2", "whitespace"),
        ("nfs://h/e/é.qcow2", "non-ASCII"),
        ("nfs://h;reboot/e/t.qcow2", "not a DNS name"),
        ("nfs://$(reboot)/e/t.qcow2", "not a DNS name"),
        ("nfs://-oProxyCommand=x/e/t.qcow2", "starts with '-'"),
        ("nfs://-h/e/t.qcow2", "starts with '-'"),
        ("nfs://h_x/e/t.qcow2", "not a DNS name"),
        ("nfs://h-/e/t.qcow2", "not a DNS name"),
        ("nfs://h..x/e/t.qcow2", "not a DNS name"),
        ("nfs://999.1.1.1/e/t.qcow2", "not a valid IPv4"),
        ("nfs://[::1%eth0]/e/t.qcow2", "IPv6"),
        ("nfs://[::1/e/t.qcow2", "unclosed"),
        ("nfs://[::1]x/e/t.qcow2", "after its IPv6"),
        ("nfs://user:pw@h/e/t.qcow2", "user information"),
        ("nfs://h:0/e/t.qcow2", "port"),
        ("nfs://h:65536/e/t.qcow2", "port"),
        ("nfs://h:x/e/t.qcow2", "port"),
        ("nfs://h:/e/t.qcow2", "port"),
        ("nfs://h/e/../etc/shadow", "'..' segment"),
        ("nfs://h/e/%2e%2e/etc/shadow", "'..' segment"),
        ("nfs://h/e/./t.qcow2", "'.' segment"),
        ("nfs://h/e//t.qcow2", "empty segment"),
        ("nfs://h/e/dir/", "empty segment"),
        ("nfs://h//e/t.qcow2", "empty segment"),
        ("nfs://h/e/t.qcow2?uid=0", "query string"),
        ("nfs://h/e/t.qcow2#x", "fragment"),
        ("nfs://h/e/t%00.qcow2", "control character"),
        ("nfs://h/e/t%0A.qcow2", "control character"),
        ("nfs://h/e/t%2F..%2Fx.qcow2", "character '/'"),
        ("nfs://h/e/t%20x.qcow2", "character ' '"),
        ("nfs://h/e/t%3Breboot.qcow2", "character ';'"),
        ("nfs://h/e/t%zz.qcow2", "two hex digits"),
        ("nfs://h/t.qcow2", "an export and a file"),
        ("nfs://h", "no path"),
        ("nfs:///e/t.qcow2", "no server"),
        ("http://h/e/t.qcow2", "not an nfs:// URL"),
        ("nfs:/h/e/t.qcow2", "not an nfs:// URL"),
        ("nfs://h/e/" + "a" * 256, "longer than 255"),
        ("nfs://h/e/" + "a/" * 600 + "t", "longer than 1024"),
    ],
)
def test_unsafe_or_malformed_urls_are_refused_naming_the_problem(url, complaint):
    with pytest.raises(UnsupportedUrlError, match=r"NFS URL|nfs://") as caught:
        parse_nfs_url(url)

    assert complaint in str(caught.value)
    assert caught.value.code == ErrorCode.UNSUPPORTED_URL


def test_libnfs_url_is_rebuilt_from_checked_parts_with_the_port_as_nfsport():
    location = parse_nfs_url("nfs://[::1]:20490/srv/nfs/%41.qcow2")

    assert location.libnfs_url(location.path) == "nfs://::1/srv/nfs/A.qcow2?nfsport=20490"
    assert location.libnfs_url(location.directory) == "nfs://::1/srv/nfs?nfsport=20490"
    assert location.server == "[::1]:20490"


def test_libnfs_url_without_port_has_no_query():
    location = parse_nfs_url("nfs://filer/e/t.qcow2")

    assert location.libnfs_url(location.path) == "nfs://filer/e/t.qcow2"


def test_messages_mask_user_information():
    with pytest.raises(UnsupportedUrlError) as caught:
        parse_nfs_url("nfs://admin:secret@filer/e/t.qcow2")

    assert "secret" not in str(caught.value)


# nfs-ls output ------------------------------------------------------------------------------

# Recorded from nfs-ls (libnfs-utils 4.0) against nfs-ganesha 4.3.
LISTING = """\
-rw-------  1     0     0      3000000 secret.bin
drwxr-xr-x  2     0     0         4096 sub
drwx------  2     0     0         4096 closed
-rw-r--r--  1     0     0      3000000 rand.bin
lrwxrwxrwx  1  1000  1000           8 latest.qcow2
-rw-r--r--  1     0     0      1234 name with spaces.qcow2
"""


def test_parse_nfs_ls():
    entries = parse_nfs_ls(LISTING + "\n  1234 of  5678 bytes free.\n")

    assert entries == [
        DirectoryEntry("-", 3000000, "secret.bin"),
        DirectoryEntry("d", 4096, "sub"),
        DirectoryEntry("d", 4096, "closed"),
        DirectoryEntry("-", 3000000, "rand.bin"),
        DirectoryEntry("l", 8, "latest.qcow2"),
        DirectoryEntry("-", 1234, "name with spaces.qcow2"),
    ]


# libnfs error messages ------------------------------------------------------------------

LOCATION = NfsLocation(
    url="nfs://127.0.0.1:20490/tmp/gx/export/missing.bin",
    host="127.0.0.1",
    port=20490,
    directory="/tmp/gx/export",
    file_name="missing.bin",
)
NAMED = NfsLocation(
    url="nfs://no-such-host.invalid/e/t.qcow2",
    host="no-such-host.invalid",
    port=None,
    directory="/e",
    file_name="t.qcow2",
)

# Recorded from nfs-cat / nfs-ls (libnfs-utils 4.0) against nfs-ganesha 4.3 on loopback.
SAMPLES = [
    (
        "missing file (nfs-cat)",
        'Failed to open file /missing.bin: open call failed with "NFS: Lookup of /missing.bin '
        'failed with NFS3ERR_NOENT(-2)"\n'
        "Failed to open nfs://127.0.0.1/tmp/gx/export/missing.bin?nfsport=20490\n",
        SourceNotFoundError,
        "does not exist",
    ),
    (
        "export or directory missing, or host not allowed (nfs-cat, nfs-ls)",
        "Failed to mount nfs share : mount_cb: RPC error: Mount failed with error "
        "MNT3ERR_ACCES(13) Permission denied(13)\n"
        "Failed to open nfs://127.0.0.1/tmp/gx/nothere/missing.bin\n",
        SourceDeniedError,
        "refused to mount /tmp/gx/export",
    ),
    (
        "nothing answers (refused, unroutable, wrong port)",
        "Failed to mount nfs share : nfs_service failed\nFailed to open nfs://192.0.2.1/x/y\n",
        SourceUnavailableError,
        "cannot reach NFS server 127.0.0.1:20490",
    ),
    (
        "file not readable by the agent's uid (nfs-cat)",
        'Failed to open file /secret.bin: open call failed with "NFS: ACCESS denied. '
        'Required access r--. Allowed access ---"\n',
        SourceDeniedError,
        "permission denied",
    ),
    (
        "directory not searchable (nfs-cat)",
        'Failed to open file /x.bin: open call failed with "NFS: Lookup of /x.bin failed '
        'with NFS3ERR_ACCES(-13)"\n',
        SourceDeniedError,
        "permission denied",
    ),
    (
        "directory not listable (nfs-ls prints this on stdout)",
        'Failed to opendir("") opendir call failed with "NFS: READDIRPLUS of  failed with '
        'NFS3ERR_ACCES(-13)"\n',
        SourceDeniedError,
        "permission denied",
    ),
    (
        "symbolic link leaving the export (libnfs refuses it)",
        'Failed to open file /abs.raw: open call failed with "Symbolic link points outside '
        'export"\n',
        SourceDeniedError,
        "symbolic link out of the export",
    ),
    (
        "NFSv4 path missing",
        "Failed to mount nfs share : mount_cb: NFS4: (path /tmp/gx/export) failed with "
        "NFS4ERR_NOENT(-2)\n",
        SourceNotFoundError,
        "does not exist",
    ),
    (
        "read failed mid-file (nfs-cat; also what it says for a directory)",
        "Failed to read from file\n",
        SourceUnavailableError,
        "Failed to read from file",
    ),
    (
        "anything else",
        "something new\n",
        SourceUnavailableError,
        "something new",
    ),
]


@pytest.mark.parametrize(
    ("case", "text", "error_type", "phrase"), SAMPLES, ids=[s[0] for s in SAMPLES]
)
def test_libnfs_messages_map_to_download_errors(case, text, error_type, phrase):
    error = error_from_libnfs(text, LOCATION, "reading /tmp/gx/export/missing.bin")

    assert type(error) is error_type
    assert phrase in str(error)
    # libnfs's own words are kept, on one line.
    assert "\n" not in str(error)


def test_unresolvable_host_name_is_a_dns_failure():
    text = (
        "Failed to mount nfs share : nfs_mount_async failed. Failed to start connection. "
        "Failed to start connection. Invalid address:no-such-host.invalid. Can not resolv "
        "into IPv4/v6 structure.\n"
        "Failed to open nfs://no-such-host.invalid/e/t.qcow2\n"
    )

    error = error_from_libnfs(text, NAMED, "listing /e")

    assert isinstance(error, DnsFailureError)
    assert "no-such-host.invalid" in str(error)


def test_nfs_downloader_is_a_downloader():
    # Checked by mypy as much as by pytest: the class meets the Downloader protocol.
    downloader: Downloader = NfsDownloader()

    assert isinstance(downloader, NfsDownloader)


# egress policy ---------------------------------------------------------------------------


class _RecordingRun:
    """Stands in for nfs-ls: records what it was asked and lists nothing."""

    def __init__(self) -> None:
        self.argvs: list[list[str]] = []

    def __call__(
        self, argv: Sequence[str], *, timeout_s: float, input: bytes | None = None
    ) -> CommandResult:
        self.argvs.append(list(argv))
        return CommandResult(returncode=0, stdout=b"", stderr=b"")


@pytest.mark.parametrize(
    "url",
    [
        "nfs://127.0.0.1/e/t.qcow2",
        "nfs://0x7f.1/e/t.qcow2",
        "nfs://[::1]/e/t.qcow2",
        "nfs://169.254.169.254/e/t.qcow2",
    ],
)
def test_a_refused_nfs_server_is_never_contacted(url):
    run = _RecordingRun()
    downloader = NfsDownloader(run=run, resolve=lambda name: ["127.0.0.1"])

    with pytest.raises(SourceRefusedError, match="refused by the egress policy") as caught:
        downloader.probe(DownloadRequest(url=url))

    assert caught.value.code is ErrorCode.EGRESS_REFUSED
    assert run.argvs == []


def test_an_nfs_server_name_resolving_to_a_denied_address_is_refused():
    run = _RecordingRun()
    downloader = NfsDownloader(run=run, resolve=lambda name: ["93.184.216.34", "10.0.0.7"])

    with pytest.raises(SourceRefusedError, match="private"):
        downloader.probe(DownloadRequest(url="nfs://filer.example/e/t.qcow2"))

    assert run.argvs == []


def test_libnfs_is_given_the_checked_address_never_the_name():
    run = _RecordingRun()
    policy = EgressPolicy.parse(allow=["10.0.0.0/8"])
    downloader = NfsDownloader(run=run, resolve=lambda name: ["10.0.0.7"])

    with pytest.raises(SourceNotFoundError):
        downloader.probe(DownloadRequest(url="nfs://filer.example:2050/e/t.qcow2", egress=policy))

    assert run.argvs == [["nfs-ls", "nfs://10.0.0.7/e?nfsport=2050"]]
