"""Decoding the event notifications a KalliopePBX pushes.

The parameters are the vendor's one published example (queue unserved
call), in the three formats its `%call_params[…]%` placeholder renders;
the request around them is what the PBX makes of our templates.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.kalliopepbx.api import (
    MAX_NOTIFICATION_BYTES,
    NOTIFICATION_QUERY_TEMPLATE,
    NOTIFICATION_TEMPLATE,
    EventName,
    EventSeverity,
    KalliopeError,
    KalliopeNotificationError,
    PbxEvent,
    parse_notification,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
# The vendor's example for `pbx.queue.unservedcall` (administrator manual,
# "Notifica eventi") as `%call_params[JSON]%`, `[XML]%` and `[AVP]%`.
PARAMS_JSON = (FIXTURES / "notification_queue_unservedcall.json").read_text()
PARAMS_XML = (FIXTURES / "notification_queue_unservedcall.xml").read_text()
PARAMS_AVP = (FIXTURES / "notification_queue_unservedcall.avp").read_text()
REFERENCE_PARAMS = {
    "reason": "CANCELED",
    "queue_id": "1",
    "uniqueid": "1511212918.0",
    "called_num": "201",
    "caller_num": "103",
    "queue_name": "QueueTest",
    "waiting_time": "5",
}
EVENT = {
    "%event_id%": "42",
    "%event_name%": "pbx.queue.unservedcall",
    "%event_severity%": "3",
    "%event_timestamp%": "1511212918.0",
    "%event_description%": "Unserved call in queue",
}


def render(template: str, params: str, **overrides: str) -> str:
    """Fill a template in as the PBX does: plain substitution, no escaping."""
    values = {**EVENT, **{f"%{key}%": value for key, value in overrides.items()}}
    for placeholder, value in values.items():
        template = template.replace(placeholder, value)
    for fmt in ("JSON", "XML", "AVP"):
        template = template.replace(f"%call_params[{fmt}]%", params)
    return template


def assert_reference_event(event: PbxEvent) -> None:
    assert event.name == "pbx.queue.unservedcall"
    assert event.known_name is EventName.QUEUE_UNSERVED
    assert event.event_id == 42
    assert event.timestamp == 1511212918.0
    assert event.severity is EventSeverity.INFO
    assert dict(event.params) == REFERENCE_PARAMS
    assert event.call_id == "1511212918.0"
    assert event.caller_number == "103"
    assert event.called_number == "201"
    assert event.queue_id == "1"
    assert event.queue_name == "QueueTest"
    assert event.waiting_time == 5
    assert event.reason == "CANCELED"
    assert event.extension is None
    assert event.unrecognised_params == {}


def test_post_with_our_template() -> None:
    body = render(NOTIFICATION_TEMPLATE, PARAMS_JSON)
    event = parse_notification(body.encode())
    assert_reference_event(event)
    assert event.description == "Unserved call in queue"


def test_get_with_our_query_template() -> None:
    query = render(NOTIFICATION_QUERY_TEMPLATE, PARAMS_AVP)
    event = parse_notification(b"", parse_qsl(query, keep_blank_values=True))
    assert_reference_event(event)
    assert event.description is None


@pytest.mark.parametrize(
    "params", [PARAMS_XML, PARAMS_AVP, PARAMS_JSON], ids=["xml", "avp", "json"]
)
def test_call_params_as_a_string_in_any_format(params: str) -> None:
    """A template that quotes `%call_params[XML]%` or `[AVP]%` still decodes."""
    escaped = params.replace("\\", "\\\\").replace('"', '\\"')
    body = NOTIFICATION_TEMPLATE.replace("%call_params[JSON]%", '"%call_params[JSON]%"')
    event = parse_notification(render(body, escaped).encode())
    assert_reference_event(event)


def test_body_in_avp() -> None:
    body = (
        "event_id=42&event_name=pbx.queue.unservedcall&event_severity=3"
        f"&event_timestamp=1511212918.0&{PARAMS_AVP}"
    )
    assert_reference_event(parse_notification(body.encode()))


def test_body_in_xml() -> None:
    inner = PARAMS_XML.removeprefix('<?xml version="1.0"?>')
    body = inner.replace(
        "<response>",
        "<response><event_id>42</event_id>"
        "<event_name>pbx.queue.unservedcall</event_name>"
        "<event_severity>3</event_severity>"
        "<event_timestamp>1511212918.0</event_timestamp>",
    )
    assert_reference_event(parse_notification(body.encode()))


def test_xml_params_nested_under_call_params() -> None:
    inner = PARAMS_XML.removeprefix('<?xml version="1.0"?>')
    body = (
        "<notification><event_id>42</event_id>"
        "<event_name>pbx.queue.unservedcall</event_name>"
        "<event_severity>3</event_severity>"
        "<event_timestamp>1511212918.0</event_timestamp>"
        f"{inner.replace('response', 'call_params')}</notification>"
    )
    assert_reference_event(parse_notification(body.encode()))


def test_description_that_breaks_the_json_is_kept() -> None:
    """The PBX does not escape `%event_description%`: quotes and newlines."""
    description = 'Call from "Mario" \\ rossi\nsecond line'
    body = render(NOTIFICATION_TEMPLATE, PARAMS_JSON, event_description=description)
    event = parse_notification(body.encode())
    assert_reference_event(event)
    assert event.description == description


def test_body_fields_win_over_the_query() -> None:
    body = render(NOTIFICATION_TEMPLATE, PARAMS_JSON)
    event = parse_notification(
        body.encode(), {"event_name": "pbx.call.start", "token": "x"}
    )
    assert event.name == "pbx.queue.unservedcall"
    assert event.params["token"] == "x"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"exten": "201", "callerid_num": "0612345678", "calleridname": "Rossi"},
            {"extension": "201", "caller_number": "0612345678", "caller_name": "Rossi"},
        ),
        (
            {"extension": "*72", "src": "+390612", "dst": "201", "linkedid": "9.1"},
            {
                "extension": "*72",
                "caller_number": "+390612",
                "called_number": "201",
                "call_id": "9.1",
            },
        ),
        (
            {"Caller-Num": " 103 ", "Called Number": "201", "billsec": "61"},
            {"caller_number": "103", "called_number": "201", "duration": 61},
        ),
        (
            {"interface": "SIP/201-0000001a", "queue": "5", "holdtime": "12"},
            {"member": "201", "queue_id": "5", "waiting_time": 12},
        ),
        (
            {"agent": "PJSIP/10#", "did": "0612345000", "trunk": "Provider"},
            {"member": "10#", "did": "0612345000", "account": "Provider"},
        ),
        (
            {"caller_num": "", "callerid": "555"},
            {"caller_number": "555"},
        ),
    ],
)
def test_parameters_are_recognised_under_plausible_names(
    params: dict[str, str], expected: dict[str, object]
) -> None:
    body = {"event_name": "pbx.extension.incomingcall", "call_params": params}
    event = parse_notification(json.dumps(body).encode())
    for attribute, value in expected.items():
        assert getattr(event, attribute) == value, attribute
    assert dict(event.params) == params


def test_unrecognised_parameters_are_kept_apart() -> None:
    body = (
        b'{"event_name":"cti.client.login","call_params":'
        b'{"username":"mrossi","client_ip":"10.0.0.9","exten":"201"}}'
    )
    event = parse_notification(body)
    assert event.known_name is None
    assert event.extension == "201"
    assert event.unrecognised_params == {"username": "mrossi", "client_ip": "10.0.0.9"}


def test_flat_json_parameters_and_non_string_values() -> None:
    body = (
        b'{"event_name":"PBX.Call.End","event_id":7,"event_timestamp":1511212918,'
        b'"uniqueid":"1.2","duration":30,"answered":true,"extra":{"a":[1]},"n":null}'
    )
    event = parse_notification(body)
    assert event.name == "pbx.call.end"
    assert event.known_name is EventName.CALL_END
    assert event.event_id == 7
    assert event.duration == 30
    assert event.params == {
        "uniqueid": "1.2",
        "duration": "30",
        "answered": "true",
        "extra": '{"a":[1]}',
        "n": "",
    }


@pytest.mark.parametrize(
    ("raw", "severity"),
    [
        ("0", EventSeverity.FATAL),
        ("4", EventSeverity.DEBUG),
        ("warning", EventSeverity.WARNING),
        ("CRITICAL", EventSeverity.CRITICAL),
        ("7", None),
        ("-1", None),
        ("", None),
        ("loud", None),
    ],
)
def test_severity(raw: str, severity: EventSeverity | None) -> None:
    event = parse_notification(
        b"", {"event_name": "pbx.call.start", "event_severity": raw}
    )
    assert event.severity is severity


@pytest.mark.parametrize(
    ("event_id", "timestamp", "expected_id", "expected_time"),
    [
        ("42", "1511212918.0", 42, 1511212918.0),
        ("%event_id%", "%event_timestamp%", None, None),
        ("-3", "-5", None, None),
        ("nan", "inf", None, None),
        ("1e400", "1e400", None, None),
    ],
)
def test_ids_and_timestamps_that_are_not_numbers_are_dropped(
    event_id: str, timestamp: str, expected_id: int | None, expected_time: float | None
) -> None:
    event = parse_notification(
        b"",
        {
            "event_name": "pbx.call.start",
            "event_id": event_id,
            "event_timestamp": timestamp,
        },
    )
    assert event.event_id == expected_id
    assert event.timestamp == expected_time


def test_dedup_key_needs_an_id() -> None:
    first = parse_notification(b"", {"event_name": "pbx.call.start", "event_id": "9"})
    assert first.dedup_key == (9, None, "pbx.call.start")
    assert parse_notification(b"", {"event_name": "pbx.call.start"}).dedup_key is None


def test_latin1_and_bom_bodies() -> None:
    latin1 = '{"event_name":"pbx.call.start","caller_name":"Niccolò"}'
    assert parse_notification(latin1.encode("latin-1")).caller_name == "Niccolò"
    with_bom = b"\xef\xbb\xbf" + latin1.encode()
    assert parse_notification(with_bom).caller_name == "Niccolò"


@pytest.mark.parametrize(
    "body",
    [
        b'{"event_id":"1"}',
        b'{"event_name":""}',
        b'{"event_name":"pbx call start"}',
        b'{"event_name":"' + b"a" * 101 + b'"}',
        b"[1, 2]",
        b"{not json",
        b'<!DOCTYPE x [<!ENTITY a "b">]><response><event_name>&a;</event_name></response>',
        b"<response><event_name>pbx.call.start</response>",
        b"<a/><b/>",
        b"&".join(b"k%d=v" % i for i in range(101)) + b"&event_name=pbx.call.start",
        b"x" * (MAX_NOTIFICATION_BYTES + 1),
    ],
    ids=[
        "no-name",
        "empty-name",
        "name-with-spaces",
        "name-too-long",
        "json-list",
        "broken-json",
        "doctype",
        "broken-xml",
        "two-roots",
        "too-many-params",
        "too-large",
    ],
)
def test_malformed_notifications_are_refused(body: bytes) -> None:
    with pytest.raises(KalliopeNotificationError):
        parse_notification(body)


def test_refusal_message_is_one_log_line() -> None:
    with pytest.raises(KalliopeNotificationError) as err:
        parse_notification(b"<response><a>\n</response>")
    assert "\n" not in str(err.value)


FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=2048),
        st.text(max_size=512).map(str.encode),
        st.builds(
            lambda params: render(NOTIFICATION_TEMPLATE, params).encode(),
            st.text(max_size=200),
        ),
        st.builds(
            lambda description: render(
                NOTIFICATION_TEMPLATE, PARAMS_JSON, event_description=description
            ).encode(),
            st.text(max_size=200),
        ),
    ),
    query=st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=8),
)
def test_any_request_gives_an_event_or_a_notification_error(
    body: bytes, query: list[tuple[str, str]]
) -> None:
    try:
        event = parse_notification(body, query)
    except KalliopeNotificationError:
        return
    except KalliopeError as err:  # pragma: no cover - the failure being tested
        pytest.fail(f"other client error escaped: {err!r}")
    assert event.name
    assert all(isinstance(value, str) for value in event.params.values())
