from urllib.parse import quote

import pytest

from kvmcloud.server.errors import InvalidParameterError
from kvmcloud.server.infrastructure.models import PoolType
from kvmcloud.server.infrastructure.rbd_urls import RbdUrl, parse_rbd_url
from kvmcloud.server.infrastructure.service import parse_pool_url

KEY = "AQBzUp9lAAAAABAA7g/x+Y3rGx1Jd0Rk2r+vYw=="
ENCODED = quote(KEY, safe="")


def test_a_cloudstack_rbd_url_gives_monitor_port_pool_user_and_key() -> None:
    parsed = parse_rbd_url(f"rbd://cloudstack:{ENCODED}@10.0.0.5:6789/cloudstack")
    assert parsed == RbdUrl(("10.0.0.5",), 6789, "cloudstack", "cloudstack", KEY)
    assert parsed.server == "10.0.0.5:6789"
    assert KEY not in repr(parsed)


def test_defaults_extra_monitors_and_the_client_prefix() -> None:
    parsed = parse_rbd_url(f"RBD://client.admin:{ENCODED}@Mon1.example.org/mon2/mon3/vms/")
    assert parsed.monitors == ("mon1.example.org", "mon2", "mon3")
    assert parsed.port == 6789
    assert parsed.pool == "vms"
    assert parsed.user == "admin"
    assert parsed.server == "mon1.example.org:6789,mon2:6789,mon3:6789"


def test_an_unencoded_plus_is_kept() -> None:
    key = "AQB+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    assert parse_rbd_url(f"rbd://u:{key}@mon/p").secret == key


def test_cloudstack_uis_url_safe_keys_are_read_back_as_the_key() -> None:
    # CloudStack's UI replaces + and / by - and _ (older versions only the first of each).
    url_safe = KEY.replace("+", "-").replace("/", "_")
    first_only = KEY.replace("+", "-", 1).replace("/", "_", 1)
    for sent in (url_safe, first_only):
        assert parse_rbd_url(f"rbd://admin:{sent}@mon/p").secret == KEY


def test_parse_pool_url_gives_the_pool_and_monitors() -> None:
    url = f"rbd://cloudstack:{ENCODED}@10.0.0.5:3300/cloudstack"
    assert parse_pool_url(url) == (PoolType.RBD, "cloudstack", "10.0.0.5")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        (f"rbd://u:{ENCODED}@mon", "monitor or pool is missing"),
        (f"rbd://u:{ENCODED}@mon/", "monitor or pool is missing"),
        (f"rbd://u:{ENCODED}@/pool", "monitor or pool is missing"),
        ("rbd://mon/pool", "needs the cephx user and key"),
        ("rbd://u@mon/pool", "needs the cephx user and key"),
        (f"rbd://u:{ENCODED}@mon/pool?x=1", "no query or fragment"),
        (f"rbd://u:{ENCODED}@mon/pool#x", "no query or fragment"),
        (f"rbd://u:{ENCODED}@mon:99999/pool", "invalid port"),
        (f"rbd://u:{ENCODED}@-mon-/pool", "no valid Ceph monitor"),
        (f"rbd://u:{ENCODED}@999.1.1.1/pool", "no valid Ceph monitor"),
        (f"rbd://u:{ENCODED}@mon/bad%20pool", "is not allowed"),
        (f"rbd://u:{ENCODED}@mon/p@ol", "is not allowed"),
        (f"rbd://bad%3Auser:{ENCODED}@mon/pool", "cephx user"),
        ("rbd://u:not%25base64@mon/pool", "not base64"),
        # An unencoded "/" splits the key: the URL no longer parses as intended.
        (f"rbd://u:{KEY}@mon/pool", "rbd://"),
    ],
)
def test_bad_rbd_urls_are_refused_naming_url_without_the_key(url: str, says: str) -> None:
    with pytest.raises(InvalidParameterError) as raised:
        parse_pool_url(url)
    assert raised.value.param == "url"
    assert says in str(raised.value)
    for secret in (KEY, ENCODED, "not%25base64", "not%base64"):
        assert secret not in str(raised.value)
