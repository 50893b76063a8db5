"""The pure checks of createNetworkOffering, createNetwork and deploy, on plain values."""

import pytest

from kvmcloud.server.errors import InvalidParameterError, PermissionDeniedError
from kvmcloud.server.infrastructure.models import Zone
from kvmcloud.server.networks import rules
from kvmcloud.server.networks.defaults import DEFAULT_OFFERINGS
from kvmcloud.server.networks.models import GuestType, Network, OfferingState
from kvmcloud.server.networks.rules import GuestRange, guest_range


@pytest.mark.parametrize(
    ("text", "expected"),
    [("l2", GuestType.L2), ("SHARED", GuestType.SHARED), ("Isolated", GuestType.ISOLATED)],
)
def test_guest_types_match_in_any_case(text: str, expected: GuestType) -> None:
    assert rules.guest_type_of(text) is expected


def test_an_unknown_guest_type_has_cloudstacks_text() -> None:
    with pytest.raises(InvalidParameterError, match='Invalid "type" parameter') as caught:
        rules.guest_type_of("Routed")
    assert caught.value.param == "guestiptype"


def test_only_guest_traffic_is_taken() -> None:
    assert rules.check_traffic_type("GUEST") == "Guest"
    with pytest.raises(InvalidParameterError, match="Only traffic type Guest"):
        rules.check_traffic_type("Public")
    with pytest.raises(InvalidParameterError, match="Supported traffic types"):
        rules.check_traffic_type("Bogus")


def test_availability_defaults_to_optional_and_is_checked() -> None:
    assert rules.availability_of(None) == "Optional"
    assert rules.availability_of("required") == "Required"
    with pytest.raises(InvalidParameterError, match="Required, Optional"):
        rules.availability_of("Sometimes")


def test_services_are_named_as_cloudstack_but_none_is_provided() -> None:
    rules.check_services([], [])
    with pytest.raises(InvalidParameterError, match="Invalid service Teleport"):
        rules.check_services(["Teleport"], [])
    with pytest.raises(InvalidParameterError, match="no network service provider for Dhcp"):
        rules.check_services(["Dhcp"], [])
    with pytest.raises(InvalidParameterError, match="serviceproviderlist must be empty"):
        rules.check_services([], ["VirtualRouter"])


def test_l2_networks_have_no_addresses() -> None:
    assert guest_range(GuestType.L2, None, None, "10.0.0.0/24") == GuestRange(None, None)
    with pytest.raises(InvalidParameterError, match="L2 networks have no IP addressing"):
        guest_range(GuestType.L2, "10.0.0.1", "255.255.255.0", None)


def test_shared_networks_need_gateway_and_netmask() -> None:
    with pytest.raises(InvalidParameterError, match="required when creating Shared networks"):
        guest_range(GuestType.SHARED, None, None, None)
    got = guest_range(GuestType.SHARED, "192.168.5.1", "255.255.255.0", None)
    assert got == GuestRange("192.168.5.1", "192.168.5.0/24")


def test_isolated_networks_default_to_the_zones_guest_cidr() -> None:
    assert guest_range(GuestType.ISOLATED, None, None, "10.7.0.0/16") == GuestRange(
        "10.7.0.1", "10.7.0.0/16"
    )
    assert guest_range(GuestType.ISOLATED, None, None, None) == GuestRange(
        "10.1.1.1", "10.1.1.0/24"
    )


@pytest.mark.parametrize(
    ("gateway", "netmask", "param", "text"),
    [
        ("10.0.0.1", None, "netmask", "given together"),
        (None, "255.255.255.0", "gateway", "given together"),
        ("10.0.0.300", "255.255.255.0", "gateway", "Invalid gateway"),
        ("10.0.0.1", "255.0.255.0", "netmask", "Invalid netmask"),
        ("10.0.0.0", "255.255.255.0", "gateway", "must be a host address"),
        ("10.0.0.255", "255.255.255.0", "gateway", "must be a host address"),
        ("10.0.0.1", "255.255.255.254", "gateway", "at least 4 addresses"),
    ],
)
def test_bad_addresses_are_refused_naming_the_parameter(
    gateway: str | None, netmask: str | None, param: str, text: str
) -> None:
    with pytest.raises(InvalidParameterError, match=text) as caught:
        guest_range(GuestType.ISOLATED, gateway, netmask, None)
    assert caught.value.param == param


def test_the_default_offerings_are_cloudstacks_and_unique() -> None:
    names = [o.name for o in DEFAULT_OFFERINGS]
    assert names == [
        "DefaultL2NetworkOffering",
        "DefaultSharedNetworkOffering",
        "DefaultIsolatedNetworkOfferingWithSourceNatService",
    ]
    assert len({o.uuid for o in DEFAULT_OFFERINGS}) == len({o.id for o in DEFAULT_OFFERINGS}) == 3


# --- deploying on networks --------------------------------------------------------------


def test_a_network_named_twice_is_refused() -> None:
    rules.check_unique_networks(["a", "b"])
    with pytest.raises(InvalidParameterError, match="Network id=a is given more than once"):
        rules.check_unique_networks(["a", "b", "a"])


def a_network(guest_type: GuestType, account_id: int = 7, zone_id: int = 1) -> Network:
    return Network(
        uuid="net-1", guest_type=guest_type, account_id=account_id, data_center_id=zone_id
    )


ZONE = Zone(id=1, uuid="zone-1")


@pytest.mark.parametrize("guest_type", list(GuestType))
def test_own_networks_are_usable(guest_type: GuestType) -> None:
    rules.check_deploy_network(
        a_network(guest_type), OfferingState.ENABLED, owner_account_id=7, zone=ZONE
    )


def test_shared_networks_are_usable_by_any_account() -> None:
    rules.check_deploy_network(
        a_network(GuestType.SHARED), OfferingState.ENABLED, owner_account_id=8, zone=ZONE
    )


@pytest.mark.parametrize("guest_type", [GuestType.L2, GuestType.ISOLATED])
def test_another_accounts_network_is_denied(guest_type: GuestType) -> None:
    with pytest.raises(PermissionDeniedError, match="Unable to use network with id= net-1"):
        rules.check_deploy_network(
            a_network(guest_type), OfferingState.ENABLED, owner_account_id=8, zone=ZONE
        )


def test_a_disabled_offering_or_another_zone_is_refused() -> None:
    assert rules.usable_for_deploy(OfferingState.ENABLED)
    assert not rules.usable_for_deploy(OfferingState.DISABLED)
    with pytest.raises(InvalidParameterError, match="not in Enabled state"):
        rules.check_deploy_network(
            a_network(GuestType.L2), OfferingState.DISABLED, owner_account_id=7, zone=ZONE
        )
    with pytest.raises(InvalidParameterError, match="doesn't belong to zone zone-1"):
        rules.check_deploy_network(
            a_network(GuestType.L2, zone_id=2), OfferingState.ENABLED, owner_account_id=7, zone=ZONE
        )
