"""Which template URLs registration accepts (pure)."""

import pytest

from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.templates.urls import is_metalink, validate_source_url


@pytest.mark.parametrize(
    "url",
    [
        "http://images.example.org/debian.qcow2",
        "https://10.0.0.5:8443/a/b.img?token=abc",
        " https://[fd00::1]/x.iso ",
        "nfs://10.0.0.1/export/templates/tmpl.qcow2",
        "nfs://nas.example.org:2049/export/a+b/file_1.raw",
        "https://mirrors.example.org/debian.meta4",
    ],
)
def test_accepted(url: str) -> None:
    assert validate_source_url(url) == url.strip()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://host/x.qcow2", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("http:///nohost.qcow2", "no host"),
        ("http://-bad/x", "host name"),
        ("http://exa mple.org/x", "spaces"),
        ("nfs://10.0.0.1/export/../etc/shadow", "'..'"),
        ("nfs://10.0.0.1/export//file", "empty"),
        ("nfs://10.0.0.1/export/$(reboot)", "characters"),
        ("nfs://10.0.0.1/export/a;b", "characters"),
        ("nfs://10.0.0.1/export/`id`", "characters"),
        ("nfs://10.0.0.1/export/a|b", "characters"),
        ("nfs://-o/export/file", "host name"),
        ("nfs://10.0.0.1/file.qcow2", "export and a file"),
        ("nfs://10.0.0.1/export/file?x=1", "query"),
        ("nfs://root@10.0.0.1/export/file", "user name"),
        ("nfs://10.0.0.1/export/list.metalink", "http or https"),
        ("http://host:99999/x", "malformed"),
    ],
)
def test_refused_with_a_reason(url: str, words: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        validate_source_url(url)
    assert caught.value.param == "url"
    assert words in caught.value.message


def test_metalink_is_told_by_the_path() -> None:
    assert is_metalink("https://h/d/image.metalink")
    assert is_metalink("http://h/image.META4?sig=1")
    assert not is_metalink("http://h/image.qcow2?f=x.meta4")
