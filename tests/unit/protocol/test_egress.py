import ipaddress
import re
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kvmcloud.protocol.egress import (
    REFUSED,
    EgressEntryError,
    EgressPolicy,
    EgressRefusedError,
    canonical_host,
    default_denied,
    embedded_ipv4,
    inet_aton,
    parse_entries,
    split_entries,
)

DEFAULT = EgressPolicy()
LOOPBACK_ALLOWED = EgressPolicy.parse(allow=["127.0.0.0/8"])
V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address


# numeric host forms ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0X7F.0X1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("1.2.3", "1.2.0.3"),
        ("10.0x10.0300", "10.16.0.192"),
        ("0", "0.0.0.0"),
        ("0xffffffff", "255.255.255.255"),
    ],
)
def test_inet_aton_reads_every_numeric_form(text: str, expected: str) -> None:
    assert inet_aton(text) == V4(expected)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0x",
        "0x.1",
        "08.1",
        "09",
        "1.2.3.256",
        "256.1.1.1",
        "1.2.3.4.5",
        "1..2",
        "4294967296",
        "0x100000000",
        "1.0x1000000",
        "127.0.0.1.",
        "a.1",
        "1.2.3.-4",
    ],
)
def test_inet_aton_refuses_what_the_c_resolver_refuses(text: str) -> None:
    assert inet_aton(text) is None


@given(st.text(alphabet="0123456789xXabcdefABCDEF.", min_size=1, max_size=24))
def test_inet_aton_agrees_with_the_c_library(text: str) -> None:
    try:
        expected: V4 | None = V4(socket.inet_ntoa(socket.inet_aton(text)))
    except OSError:
        expected = None
    assert inet_aton(text) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0x7f.1", V4("127.0.0.1")),
        ("127.0.0.1.", V4("127.0.0.1")),
        ("::1", V6("::1")),
        ("[::1]", V6("::1")),
        ("::ffff:127.0.0.1", V6("::ffff:7f00:1")),
        ("fe80::1%eth0", V6("fe80::1")),
        ("fe80::1%25eth0", V6("fe80::1")),
        ("Mirror.Example.COM.", "mirror.example.com"),
        ("1e100.net", "1e100.net"),
    ],
)
def test_canonical_host(host: str, expected: object) -> None:
    assert canonical_host(host) == expected


@pytest.mark.parametrize(
    "host", ["", "[]", "1.2.3.999", "08.0.0.1", "example.0x", "::zz", "a.b.08"]
)
def test_hosts_the_resolver_might_read_either_way_are_refused(host: str) -> None:
    with pytest.raises(EgressRefusedError, match=REFUSED):
        canonical_host(host)


# default deny ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "category"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("0.0.0.0", "any-local"),
        ("0.1.2.3", "any-local"),
        ("169.254.169.254", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("::", "any-local"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "reserved"),
        ("100::1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "loopback"),
        ("::ffff:0:7f00:1", "reserved"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("2002:7f00:1::1", "loopback"),
        ("2002:a9fe:a9fe::1", "link-local"),
        ("4000::1", "reserved"),
    ],
)
def test_default_denied_ranges(address: str, category: str) -> None:
    found = default_denied(ipaddress.ip_address(address))
    assert found is not None and found.startswith(category)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_not_denied_by_default(address: str) -> None:
    assert default_denied(ipaddress.ip_address(address)) is None


def test_embedded_ipv4() -> None:
    assert embedded_ipv4(V6("::ffff:1.2.3.4")) == V4("1.2.3.4")
    assert embedded_ipv4(V6("::1.2.3.4")) == V4("1.2.3.4")
    assert embedded_ipv4(V6("64:ff9b::102:304")) == V4("1.2.3.4")
    assert embedded_ipv4(V6("2002:102:304::")) == V4("1.2.3.4")
    assert embedded_ipv4(V6("::1")) is None
    assert embedded_ipv4(V6("2606:4700::1111")) is None
    assert embedded_ipv4(V4("1.2.3.4")) is None


# the policy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "0x7f.1",
        "2130706433",
        "0177.0.0.1",
        "127.1",
        "[::1]",
        "::ffff:127.0.0.1",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",
        "0",
        "169.254.169.254",
        "0xa9.0xfe.0xa9.0xfe",
        "10.0.0.1",
        "fe80::1%25eth0",
        "224.0.0.1",
    ],
)
def test_the_default_policy_refuses_local_literals_in_every_spelling(host: str) -> None:
    with pytest.raises(EgressRefusedError, match=REFUSED) as caught:
        DEFAULT.check_host(host)
    assert "denied by default" in str(caught.value)
    with pytest.raises(EgressRefusedError):
        DEFAULT.check(host, [])


def test_the_refusal_names_the_canonical_address() -> None:
    with pytest.raises(EgressRefusedError) as caught:
        DEFAULT.check_host("0x7f.1")
    assert str(caught.value) == (
        "refused by the egress policy: 0x7f.1 (127.0.0.1) is a loopback address, denied by default"
    )


def test_a_public_literal_passes() -> None:
    assert DEFAULT.check_host("8.8.8.8") == V4("8.8.8.8")
    DEFAULT.check("8.8.8.8", ["8.8.8.8"])


def test_a_name_passes_check_host_and_is_decided_by_its_addresses() -> None:
    assert DEFAULT.check_host("Mirror.Example.com") == "mirror.example.com"
    DEFAULT.check("mirror.example.com", ["93.184.216.34", "2606:2800:220:1::1"])
    with pytest.raises(EgressRefusedError) as caught:
        DEFAULT.check("localhost", ["127.0.0.1"])
    # The address a name resolves to is not told.
    assert "127.0.0.1" not in str(caught.value)
    assert "host localhost resolves to an address that is a loopback address" in str(caught.value)


def test_every_resolved_address_must_pass() -> None:
    with pytest.raises(EgressRefusedError, match="private"):
        DEFAULT.check("rebind.example.com", ["93.184.216.34", "10.0.0.5"])
    with pytest.raises(EgressRefusedError, match="link-local"):
        DEFAULT.check("rebind.example.com", ["::ffff:169.254.169.254"])


def test_a_name_with_no_address_is_refused() -> None:
    with pytest.raises(EgressRefusedError, match="resolves to no address"):
        DEFAULT.check("example.com", [])


def test_an_allow_range_overrides_the_default_deny() -> None:
    LOOPBACK_ALLOWED.check_host("127.0.0.1")
    LOOPBACK_ALLOWED.check_host("0x7f.1")
    LOOPBACK_ALLOWED.check_host("::ffff:127.0.0.2")
    LOOPBACK_ALLOWED.check("localhost", ["127.0.0.1"])
    # Only what it names.
    with pytest.raises(EgressRefusedError, match="loopback"):
        LOOPBACK_ALLOWED.check("localhost", ["127.0.0.1", "::1"])
    with pytest.raises(EgressRefusedError, match="private"):
        LOOPBACK_ALLOWED.check_host("10.0.0.1")


def test_a_narrow_allow_range_admits_only_its_addresses() -> None:
    policy = EgressPolicy.parse(allow=["127.0.0.2/32"])
    policy.check_host("127.0.0.2")
    with pytest.raises(EgressRefusedError, match=re.escape("127.0.0.3 is a loopback")):
        policy.check_host("127.0.0.3")


def test_a_deny_entry_wins_over_an_allow_entry() -> None:
    policy = EgressPolicy.parse(allow=["127.0.0.0/8", ".example.com"], deny=["127.0.0.9"])
    policy.check_host("127.0.0.1")
    with pytest.raises(EgressRefusedError, match=re.escape("is in deny entry 127.0.0.9/32")):
        policy.check_host("127.0.0.9")
    with pytest.raises(EgressRefusedError, match=re.escape("deny entry 127.0.0.9/32")):
        policy.check("x.example.com", ["127.0.0.9"])


def test_a_deny_range_refuses_public_addresses_and_their_ipv6_forms() -> None:
    policy = EgressPolicy.parse(deny=["8.8.8.0/24"])
    with pytest.raises(EgressRefusedError, match=re.escape("deny entry 8.8.8.0/24")):
        policy.check_host("8.8.8.8")
    with pytest.raises(EgressRefusedError, match=re.escape("deny entry 8.8.8.0/24")):
        policy.check_host("::ffff:8.8.8.8")
    with pytest.raises(EgressRefusedError, match=re.escape("deny entry 8.8.8.0/24")):
        policy.check("dns.google", ["8.8.4.4", "8.8.8.8"])


def test_name_entries() -> None:
    policy = EgressPolicy.parse(allow=["mirror.internal", "*.lan"], deny=[".evil.example"])
    # An allowed name may resolve to a private address: the admin vouches for it.
    policy.check("MIRROR.internal.", ["10.0.0.5"])
    policy.check("a.b.lan", ["192.168.1.10"])
    with pytest.raises(EgressRefusedError, match="private"):
        policy.check("other.internal", ["10.0.0.5"])
    with pytest.raises(EgressRefusedError, match="private"):
        # A suffix entry does not match the bare name.
        policy.check("lan", ["10.0.0.5"])
    with pytest.raises(
        EgressRefusedError, match=re.escape("host x.evil.example matches deny entry")
    ):
        policy.check_host("x.evil.example")
    with pytest.raises(EgressRefusedError, match="deny entry"):
        policy.check("x.evil.example", ["8.8.8.8"])


def test_a_deny_range_wins_over_an_allowed_name() -> None:
    policy = EgressPolicy.parse(allow=["mirror.internal"], deny=["169.254.0.0/16"])
    with pytest.raises(EgressRefusedError, match=re.escape("deny entry 169.254.0.0/16")):
        policy.check("mirror.internal", ["10.0.0.5", "169.254.169.254"])


# entries ---------------------------------------------------------------------------------


def test_parse_entries() -> None:
    networks, names = parse_entries(
        [
            "127.0.0.0/8",
            " 10.1.2.3 ",
            "fd00::/8",
            "127.0.0.1/8",
            "Mirror.Example.com",
            "*.lan",
            ".corp",
            "",
        ]
    )
    assert [str(n) for n in networks] == ["127.0.0.0/8", "10.1.2.3/32", "fd00::/8", "127.0.0.0/8"]
    assert names == ("mirror.example.com", ".lan", ".corp")


@pytest.mark.parametrize(
    "entry",
    [
        "0x7f.1",
        "127.1/8",
        "1.2.3.4/33",
        "::1/129",
        "exa mple",
        "-bad.com",
        "a..b",
        "*",
        ".",
        "http://x",
        "x/8",
        "a" * 254,
    ],
)
def test_bad_entries_are_refused_by_name(entry: str) -> None:
    with pytest.raises(EgressEntryError, match="entry"):
        parse_entries([entry])


def test_split_entries() -> None:
    assert split_entries(" 127.0.0.0/8, ::1 ,,.lan\n10.0.0.0/8") == [
        "127.0.0.0/8",
        "::1",
        ".lan",
        "10.0.0.0/8",
    ]
    assert split_entries("") == []


def test_too_many_entries() -> None:
    with pytest.raises(EgressEntryError, match="at most"):
        parse_entries([f"10.0.{i // 256}.{i % 256}" for i in range(300)])


def test_an_ipv6_form_of_an_ipv4_address_names_both() -> None:
    with pytest.raises(EgressRefusedError) as caught:
        DEFAULT.check_host("[::ffff:127.0.0.1]")
    assert str(caught.value) == (
        "refused by the egress policy: [::ffff:127.0.0.1] (::ffff:7f00:1) is a loopback "
        "address (IPv4 127.0.0.1), denied by default"
    )
