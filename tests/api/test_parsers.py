"""Parsing of answers shaped like the reference's examples, hostile ones refused."""

from __future__ import annotations

import tracemalloc

import pytest

from custom_components.kalliopepbx.api import (
    ContactType,
    Failover,
    FailoverType,
    FirmwareSlot,
    FirmwareUpdateStatus,
    GatewayType,
    KalliopeApiError,
    KalliopeLicenseError,
    KalliopeResponseError,
    LicenseStatus,
    RegistrationStatus,
    decode,
    envelope,
    parsers,
)
from tests.conftest import load_fixture_bytes

EP = "GET /test"


def test_registrations_reference_shape() -> None:
    registrations = parsers.parse_registrations(
        load_fixture_bytes("registrations.xml"), EP
    )
    assert [r.exten for r in registrations] == ["201", "202", "203"]
    ok, unreachable, unknown = registrations
    assert ok.status is RegistrationStatus.OK
    assert ok.registered
    assert ok.rtt_ms == 12.0
    assert ok.contact == "sip:201@192.168.0.100:5060"
    assert ok.ip == "192.168.0.100"
    assert ok.port == 5060
    assert ok.user_agent == "Yealink SIP-T46S 66.86.0.15"
    assert unreachable.status is RegistrationStatus.UNREACHABLE
    assert not unreachable.registered
    assert unreachable.rtt_ms is None  # <rtt />
    assert unknown.contact is None
    assert unknown.port is None


def test_single_registration_without_declaration_and_decimal_rtt() -> None:
    (only,) = parsers.parse_registrations(
        load_fixture_bytes("registration_one.xml"), EP
    )
    assert only.rtt_ms == 7.5


def test_zero_element_list_and_empty_container() -> None:
    assert (
        parsers.parse_registrations(
            b"<kpbx_response><registrations/></kpbx_response>", EP
        )
        == []
    )
    assert (
        parsers.parse_registrations(
            b"<kpbx_response><registrations>\n  </registrations></kpbx_response>", EP
        )
        == []
    )


def test_unexpected_registration_status_keeps_raw_value() -> None:
    body = (
        b"<kpbx_response><registrations><registration><exten>9</exten>"
        b"<status>LAGGED</status><rtt>1500 ms</rtt></registration>"
        b"</registrations></kpbx_response>"
    )
    (registration,) = parsers.parse_registrations(body, EP)
    assert registration.status is RegistrationStatus.UNKNOWN
    assert registration.status_raw == "LAGGED"
    assert registration.rtt_ms == 1500.0


def test_bom_crlf_accents_escaped_ampersand_and_extra_elements() -> None:
    (user,) = parsers.parse_users_brief(
        load_fixture_bytes("users_brief_bom_crlf.xml"), EP
    )
    assert user.exten == "201"
    assert user.enabled is True
    assert user.first_name == "Niccolò"
    assert user.last_name == "D'Amico & Figli"
    assert user.name == "Niccolò D'Amico & Figli"


def test_latin1_body_without_declaration() -> None:
    body = "<kpbx_response><users><user><exten>5</exten><enabled>true</enabled><first_name>Lucà</first_name></user></users></kpbx_response>".encode(
        "latin-1"
    )
    (user,) = parsers.parse_users_brief(body, EP)
    assert user.first_name == "Lucà"


def test_configs_drop_secrets_and_parse_failover() -> None:
    configs = parsers.parse_users_configs(load_fixture_bytes("users_configs.xml"), EP)
    mario, giulia, luca = configs
    assert mario.vm_enabled
    assert mario.vm_email == "mario.rossi@example.com"
    assert mario.failover == Failover(
        type=FailoverType.FORWARD_TO_EXTERNAL_NUMBER,
        destination="3351234567",
        gateway_type=GatewayType.GATEWAY,
        gateway_id="1",
        gateway_name="PRI Telecom",
        type_raw="FORWARD_TO_EXTERNAL_NUMBER",
    )
    assert mario.failover.forwards_to_number
    assert not giulia.enabled
    assert giulia.phonebook_manager
    assert giulia.failover is not None
    assert giulia.failover.type is FailoverType.HANGUP
    assert not giulia.failover.forwards_to_number
    assert luca.failover is not None
    assert luca.failover.type is FailoverType.UNKNOWN
    assert luca.failover.type_raw == "FORWARD_TO_SOMETHING_NEW"
    # Nothing secret survives parsing, not even in repr.
    text = repr(configs)
    for secret in ("s3cr3t-sip", "4321", "0c88028bf3aa6a6a143ed846f2be1ea4"):
        assert secret not in text


def test_failover_round_trip_through_storage_form() -> None:
    (mario, *_) = parsers.parse_users_configs(
        load_fixture_bytes("users_configs.xml"), EP
    )
    assert mario.failover is not None
    assert Failover.from_dict(mario.failover.as_dict()) == mario.failover


def test_voicemail_count() -> None:
    count = parsers.parse_voicemail_count(
        load_fixture_bytes("voicemail_count.xml"), EP, "201"
    )
    assert (count.mailbox, count.new, count.urgent, count.old) == ("201", 3, 1, 12)


@pytest.mark.parametrize(
    "body",
    [
        load_fixture_bytes("voicemail_count_empty.xml"),
        b"<kpbx_response><voicemails/></kpbx_response>",
    ],
)
def test_voicemail_count_of_an_empty_mailbox_is_zero(body: bytes) -> None:
    count = parsers.parse_voicemail_count(body, EP, "201")
    assert (count.mailbox, count.new, count.urgent, count.old) == ("201", 0, 0, 0)


def test_voicemail_count_without_voicemails_is_an_error() -> None:
    with pytest.raises(KalliopeResponseError, match="lacks <voicemails>"):
        parsers.parse_voicemail_count(b"<kpbx_response><x/></kpbx_response>", EP, "201")


def test_firmware_and_update_status() -> None:
    firmware = parsers.parse_firmware(load_fixture_bytes("firmware.xml"), EP)
    assert firmware.running is FirmwareSlot.SECONDARY
    assert firmware.running_version == "3.9.5-2701"
    state = parsers.parse_firmware_update_status(
        load_fixture_bytes("update_status.xml"), EP
    )
    assert state.status is FirmwareUpdateStatus.DOWNLOADING
    assert state.status.key == "downloading"
    assert state.message == "Downloading update"


def test_unknown_update_status_code() -> None:
    body = b"<kpbx_response><update_status><error><code>99</code></error></update_status></kpbx_response>"
    state = parsers.parse_firmware_update_status(body, EP)
    assert state.status is None
    assert state.code == 99


def test_license_states() -> None:
    active = parsers.parse_license(load_fixture_bytes("license_active.xml"), EP)
    assert active.status is LicenseStatus.ACTIVE
    assert active.licensed_extensions == 50
    not_required = parsers.parse_license(
        load_fixture_bytes("license_not_required.xml"), EP
    )
    assert not_required.status is LicenseStatus.NOT_REQUIRED
    assert not_required.status.allows_api
    missing = parsers.parse_license(
        b"<kpbx_response><pbx_instance_license><error><code>11</code><message>No license present</message></error></pbx_instance_license></kpbx_response>",
        EP,
    )
    assert missing.status is LicenseStatus.MISSING
    assert not missing.status.allows_api
    with pytest.raises(KalliopeApiError) as err:
        parsers.parse_license(
            b"<kpbx_response><pbx_instance_license><error><code>12</code><message>missing</message></error></pbx_instance_license></kpbx_response>",
            EP,
        )
    assert err.value.code == 12


def test_request_not_allowed_raises_licence_error_with_code() -> None:
    with pytest.raises(KalliopeLicenseError) as err:
        parsers.parse_registrations(load_fixture_bytes("request_not_allowed.xml"), EP)
    assert err.value.code == 2
    assert err.value.message == "License expired"
    assert err.value.endpoint == EP


def test_result_error_code_becomes_api_error() -> None:
    with pytest.raises(KalliopeApiError) as err:
        envelope.parse_result(
            load_fixture_bytes("click2call_error.xml"),
            EP,
            "click2call",
            key="error_code",
        )
    assert (err.value.code, err.value.message) == (12, "Missing number to call tag")


def test_contacts_with_escaped_ampersand_and_accents() -> None:
    anna, caffe = parsers.parse_contacts(load_fixture_bytes("contacts.xml"), EP)
    assert anna.organization == "Rossi & Figli S.r.l."
    assert anna.type is ContactType.SYSTEM
    assert anna.name == "Anna Esposito"
    assert caffe.name == "Caffè Città"
    assert caffe.type is ContactType.PRIVATE


def test_callgroups_and_conferences_without_pins() -> None:
    (group,) = parsers.parse_callgroups(load_fixture_bytes("callgroups.xml"), EP)
    assert group.id == "incoming"
    assert group.timeout == 20
    assert [len(p.members) for p in group.priorities] == [2, 1]
    assert group.priorities[0].members[1].display_name == "Giulia Bianchi"
    assert group.failover is not None
    assert group.failover.type is FailoverType.FORWARD_TO_VOICEMAIL
    (room,) = parsers.parse_conferences(load_fixture_bytes("conferences.xml"), EP)
    assert room.internal_selection == "801"
    assert "9999" not in repr(room)
    assert "1234" not in repr(room)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty answer"),
        (b"   \r\n ", "empty answer"),
        (
            b"<html><body>502 Bad Gateway</body></html>",
            "unexpected root element <html>",
        ),
        (b"Internal Server Error", "not XML"),
        (b"<kpbx_response><registrations><registration><exten>2", "truncated"),
        (b"<kpbx_response><a></b></kpbx_response>", "not well-formed"),
        (b"<kpbx_response>text only</kpbx_response>", "no elements"),
        (b"<kpbx_response><other/></kpbx_response>", "lacks <registrations>"),
    ],
)
def test_unusable_bodies(body: bytes, reason: str) -> None:
    with pytest.raises(KalliopeResponseError, match=reason) as err:
        parsers.parse_registrations(body, EP)
    assert err.value.endpoint == EP


def test_entity_declarations_are_refused_before_parsing() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<kpbx_response><registrations>&lol2;</registrations></kpbx_response>"
    )
    with pytest.raises(KalliopeResponseError, match="document type declarations"):
        parsers.parse_registrations(laughs, EP)


def nested(depth: int) -> bytes:
    """A registrations answer with `depth` elements nested inside the root."""
    inner = b"<a>" * (depth - 1) + b"x" + b"</a>" * (depth - 1)
    return b"<kpbx_response>" + inner + b"</kpbx_response>"


def test_deeply_nested_answers_are_refused_early() -> None:
    """Nesting past the limit is refused while parsing, not built in memory."""
    assert decode.decode_document(nested(decode.MAX_XML_DEPTH), EP)
    with pytest.raises(KalliopeResponseError, match="nested deeper than 64"):
        decode.decode_document(nested(decode.MAX_XML_DEPTH + 1), EP)
    tracemalloc.start()
    try:
        with pytest.raises(KalliopeResponseError, match="nested deeper"):
            parsers.parse_registrations(nested(1_000_000), EP)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The 7 MB body and its copies; unbounded, parsing it took about 300 MB.
    assert peak < 64 * 1024 * 1024


def test_status_flags() -> None:
    content = envelope.parse_response(
        b"<kpbx_response><pbx_pending>true</pbx_pending></kpbx_response>", EP
    )
    assert envelope.parse_status_flag(content, "pbx_pending", EP) is True
    content = envelope.parse_response(
        b"<kpbx_response><pbx_pending>maybe</pbx_pending></kpbx_response>", EP
    )
    with pytest.raises(KalliopeResponseError, match="not true/false"):
        envelope.parse_status_flag(content, "pbx_pending", EP)


def test_salt_in_json_xml_and_garbage() -> None:
    assert parsers.parse_salt(b'{"salt": "abc"}', EP) == "abc"
    assert (
        parsers.parse_salt(b"<kpbx_response><salt>def</salt></kpbx_response>", EP)
        == "def"
    )
    assert parsers.parse_salt(b"<salt>ghi</salt>", EP) == "ghi"
    assert parsers.parse_salt(b"<html>Not Found</html>", EP) is None
    assert parsers.parse_salt(b"{broken", EP) is None
    assert parsers.parse_salt(b'{"nosalt": 1}', EP) is None
    assert parsers.parse_salt(b"Not Found", EP) is None


def test_json_dashboard_values() -> None:
    assert (
        parsers.parse_json_value(b'{"serialNumber": "KP-1"}', ["serialNumber"])
        == "KP-1"
    )
    assert parsers.parse_json_value(b'"KP-2"', ["serial"]) == "KP-2"
    assert parsers.parse_json_value(b"KP-3\n", ["serial"]) == "KP-3"
    assert parsers.parse_json_value(b"", ["serial"]) is None
    assert parsers.parse_json_value(b"<html/>", ["serial"]) is None
    assert parsers.parse_json_value(b'{"other": 1}', ["serial"]) is None


def test_pbx_text_in_errors_is_escaped() -> None:
    """Whoever logs a client error gets it on one line."""
    license_error = load_fixture_bytes("license_error_forged_newline.xml")
    with pytest.raises(KalliopeApiError) as api_error:
        parsers.parse_license(license_error, "GET /license/pxbinstance")
    refusal = (
        b"<kpbx_response><request_not_allowed><error><code>2</code>"
        b"<message>License expired\nERROR forged line</message>"
        b"</error></request_not_allowed></kpbx_response>"
    )
    with pytest.raises(KalliopeLicenseError) as license_refused:
        parsers.parse_registrations(refusal, "GET /users/registrations/")
    redirect = KalliopeResponseError("GET /x", "redirects to http://a\r\nX: 1", 301)
    for err in (api_error.value, license_refused.value, redirect):
        assert "\n" not in str(err)
        assert "\r" not in str(err)
    assert (
        api_error.value.message
        == "One or more required field missing\\nERROR forged line"
    )
