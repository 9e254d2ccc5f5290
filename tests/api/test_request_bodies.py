"""Request bodies: every value escaped, nothing XML cannot carry, the reference's shapes."""

from __future__ import annotations

import pytest
import xmltodict

from custom_components.kalliopepbx.api import (
    Click2CallType,
    ContactInput,
    Failover,
    FailoverType,
    GatewayType,
    KalliopeInputError,
    PhonebookFilter,
    UserUpdate,
    request_bodies,
)


def _parsed_request(body: bytes) -> dict:
    return xmltodict.parse(body)["kpbx_request"]


def test_requests_escape_user_input() -> None:
    hostile = '</number_to_call><exten>999</exten><x a="&amp;">'
    body = request_bodies.build_request(
        request_bodies.click2call_node("201", hostile, Click2CallType.OUT), "req1"
    )
    request = _parsed_request(body)
    assert request["request_id"] == "req1"
    assert request["click2call"] == {
        "exten": "201",
        "number_to_call": hostile,
        "type": "out",
    }


def test_requests_refuse_characters_xml_cannot_carry() -> None:
    with pytest.raises(KalliopeInputError):
        request_bodies.build_request(
            request_bodies.click2call_node("201", "12\x003", Click2CallType.AUTO)
        )


def test_user_update_request_with_failover() -> None:
    failover = Failover(
        type=FailoverType.FORWARD_TO_EXTERNAL_NUMBER,
        destination="+393351234567",
        gateway_type=GatewayType.TRUNK,
        gateway_id="2",
    )
    request = _parsed_request(
        request_bodies.build_request(
            request_bodies.user_update_node(
                UserUpdate(failover=failover, vm_enabled=True)
            )
        )
    )
    assert request["user"]["vm_enabled"] == "true"
    assert request["user"]["failover"] == {
        "type": "FORWARD_TO_EXTERNAL_NUMBER",
        "destination": {
            "value": "+393351234567",
            "gateway_type": "TRUNK",
            "gateway_id": "2",
        },
    }
    with pytest.raises(KalliopeInputError):
        request_bodies.user_update_node(UserUpdate())


def test_unknown_failover_type_is_sent_as_read() -> None:
    failover = Failover(
        type=FailoverType.UNKNOWN, destination="9", type_raw="FORWARD_TO_X"
    )
    assert request_bodies.failover_node(failover)["type"] == "FORWARD_TO_X"


def test_contact_and_search_requests() -> None:
    request = _parsed_request(
        request_bodies.build_request(
            request_bodies.contact_node(
                ContactInput(first_name="Anna", last_name="Rossi & Co", phone="02")
            )
        )
    )
    assert request["contact"] == {
        "first_name": "Anna",
        "last_name": "Rossi & Co",
        "phone": "02",
    }
    any_filter = _parsed_request(
        request_bodies.build_request(
            request_bodies.phonebook_filter_node(
                PhonebookFilter(any="%ross%", phone="1")
            )
        )
    )
    assert any_filter["filter"] == {"any": "%ross%"}
    by_field = _parsed_request(
        request_bodies.build_request(
            request_bodies.phonebook_filter_node(PhonebookFilter(last_name="Ross%"))
        )
    )
    assert by_field["filter"] == {"last_name": "Ross%"}
