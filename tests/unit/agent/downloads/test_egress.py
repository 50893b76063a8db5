import re
import socket

import pytest

from kvmcloud.agent.downloads.egress import allowed_addresses, policy_from_rules
from kvmcloud.agent.downloads.errors import DnsFailureError, SourceRefusedError
from kvmcloud.agent.errors import BadCommandError
from kvmcloud.protocol.agent_messages import EgressRules
from kvmcloud.protocol.egress import EgressPolicy
from kvmcloud.protocol.error_codes import ErrorCode

URL = "http://host/x"
DEFAULT = EgressPolicy()


class Resolver:
    def __init__(self, answer: list[str] | None = None) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def __call__(self, name: str) -> list[str]:
        self.asked.append(name)
        if self.answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answer


def test_a_literal_is_its_own_canonical_address_and_never_resolved() -> None:
    resolver = Resolver(["10.0.0.1"])

    assert allowed_addresses(DEFAULT, "0x8.0x8.0x8.0x8", url=URL, resolve=resolver) == ["8.8.8.8"]
    assert allowed_addresses(DEFAULT, "2606:4700::1111", url=URL, resolve=resolver) == [
        "2606:4700::1111"
    ]
    assert resolver.asked == []


def test_a_name_is_resolved_once_and_every_address_returned() -> None:
    resolver = Resolver(["93.184.216.34", "2606:2800:220:1::1"])

    addresses = allowed_addresses(DEFAULT, "Example.COM.", url=URL, resolve=resolver)

    assert addresses == ["93.184.216.34", "2606:2800:220:1::1"]
    assert resolver.asked == ["example.com"]


def test_a_refusal_is_a_source_refused_error_naming_the_url() -> None:
    with pytest.raises(SourceRefusedError) as caught:
        allowed_addresses(DEFAULT, "127.1", url=URL, resolve=Resolver())

    assert caught.value.code is ErrorCode.EGRESS_REFUSED
    assert str(caught.value) == (
        "refused by the egress policy: 127.1 (127.0.0.1) is a loopback address, denied by "
        "default (URL http://host/x)"
    )


def test_a_name_with_a_denied_address_is_refused() -> None:
    resolver = Resolver(["93.184.216.34", "169.254.169.254"])

    with pytest.raises(SourceRefusedError, match="link-local"):
        allowed_addresses(DEFAULT, "rebind.example", url=URL, resolve=resolver)


def test_a_name_that_does_not_resolve_is_a_dns_failure() -> None:
    with pytest.raises(DnsFailureError, match=re.escape("cannot resolve host 'nowhere.invalid'")):
        allowed_addresses(DEFAULT, "nowhere.invalid", url=URL, resolve=Resolver())


def test_a_denied_name_is_refused_before_it_is_resolved() -> None:
    resolver = Resolver(["93.184.216.34"])
    policy = EgressPolicy.parse(deny=[".internal"])

    with pytest.raises(SourceRefusedError, match=re.escape("deny entry .internal")):
        allowed_addresses(policy, "db.internal", url=URL, resolve=resolver)

    assert resolver.asked == []


def test_policy_from_rules() -> None:
    policy = policy_from_rules(EgressRules(allow=["127.0.0.0/8"], deny=["127.0.0.9"]))

    policy.check_host("127.0.0.1")
    with pytest.raises(BadCommandError, match="egress rules are invalid"):
        policy_from_rules(EgressRules(allow=["not a range/8"]))
