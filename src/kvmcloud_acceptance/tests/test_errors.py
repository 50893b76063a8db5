"""Bad calls answer CloudStack's 431 with a text naming the parameter."""

import pytest
from cs import CloudStack, CloudStackApiException

pytestmark = pytest.mark.cloudstack_compatible


def test_a_missing_parameter_answers_431_naming_it(api: CloudStack) -> None:
    with pytest.raises(CloudStackApiException) as raised:
        api.createServiceOffering(displaytext="no name", cpunumber=1, cpuspeed=500, memory=128)

    assert raised.value.error["errorcode"] == 431
    assert "name" in raised.value.error["errortext"]


def test_a_malformed_id_answers_431_naming_it(api: CloudStack) -> None:
    with pytest.raises(CloudStackApiException) as raised:
        api.listZones(id="not-a-uuid")

    assert raised.value.error["errorcode"] == 431
    assert "id" in raised.value.error["errortext"]
