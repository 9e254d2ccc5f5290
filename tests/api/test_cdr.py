"""Call detail records: parsing the reference's shapes, the direction 4.x
leaves out, status spellings, and the one `call_records` for both firmwares."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp
import pytest
import xmltodict

from custom_components.kalliopepbx.api import (
    BasicCredentials,
    CallDirection,
    CallStatus,
    CdrFilter,
    CdrQuery,
    DigestCredentials,
    KalliopeApiError,
    KalliopeClient,
    KalliopeInputError,
    KalliopeResponseError,
    KalliopeUnsupportedFilterError,
    cdr,
    cdr_protocol,
    request_bodies,
)
from tests.conftest import load_fixture_bytes
from tests.reference_pbx import CONTENT_TYPES, Canned, bare_pbx

EP = "POST /cdr"

# The calls of tests/fixtures/cdr_v4.{xml,json,csv}: id, direction, status.
V4_CALLS = [
    ("1463997154.0", CallDirection.OUTBOUND, CallStatus.FAILED),
    ("1463997200.1", CallDirection.INBOUND, CallStatus.ANSWERED),
    ("1463997300.2", CallDirection.INTERNAL, CallStatus.NO_ANSWER),
    ("1463997400.3", CallDirection.INBOUND, CallStatus.ANSWERED),  # ibl → obl
    ("1463997500.4", CallDirection.INBOUND, CallStatus.CANCELLED),  # ibl → queue
    ("1463997600.5", CallDirection.UNKNOWN, "??"),  # service → local_exten
    ("1463997700.6", CallDirection.INTERNAL, CallStatus.BUSY),  # → callg
]


def v4_digest() -> DigestCredentials:
    """4.x credentials: `call_records` speaks the 4.x API with them."""
    return DigestCredentials.from_password("admin", "b5a8fdcf2f8d5acdad33c4a072a97d7a")


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("kind", ["xml", "json", "csv"])
def test_v4_answers_parse_alike(kind: str) -> None:
    """XML, JSON and CSV answers give the same calls, directions and statuses."""
    records = cdr_protocol.parse_call_records(load_fixture_bytes(f"cdr_v4.{kind}"), EP)
    assert [(r.id, r.direction, r.status) for r in records] == V4_CALLS
    failed, answered = records[0], records[1]
    assert (failed.source, failed.destination) == ("local_exten", "obl")
    assert (failed.caller, failed.called) == ("201", "0612345678")
    assert failed.unique_id == "1463997154.0"
    assert failed.answer is None
    assert failed.status_raw == "FAILED"
    assert answered.start == datetime(2016, 5, 23, 12, 0, 0)
    assert answered.answer == datetime(2016, 5, 23, 12, 0, 4)
    assert answered.end == datetime(2016, 5, 23, 12, 3, 0)
    assert (answered.billsec, answered.duration) == (176, 180)
    assert answered.answered_by == "202"
    assert answered.gateway_name == "VoIP Trunk"
    assert answered.account_code is None


def test_v3_answer() -> None:
    outbound, missed = cdr_protocol.parse_call_records(
        load_fixture_bytes("cdr_v3.xml"), EP
    )
    assert outbound.direction is CallDirection.OUTBOUND
    assert outbound.status is CallStatus.ANSWERED
    assert outbound.called == "0212345XXX"
    assert outbound.start == datetime(2026, 11, 20, 9, 15, 2)
    assert outbound.billsec == 95
    assert missed.direction is CallDirection.INBOUND
    assert missed.unique_id is None
    assert missed.answer is None
    assert missed.status is CallStatus.NO_ANSWER


def test_call_records_are_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3.x answer goes through the XML parser once, not once per envelope."""
    parse = xmltodict.parse
    calls: list[object] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return parse(*args, **kwargs)

    monkeypatch.setattr(xmltodict, "parse", counting)
    assert (
        len(cdr_protocol.parse_call_records(load_fixture_bytes("cdr_v3.xml"), EP)) == 2
    )
    assert len(calls) == 1


def test_cdr_error_code() -> None:
    body = (
        b"<kpbx_response><cdr><error_code><code>3</code>"
        b"<message>Authentication error</message></error_code></cdr></kpbx_response>"
    )
    with pytest.raises(KalliopeApiError) as err:
        cdr_protocol.parse_call_records(body, EP)
    assert err.value.code == 3


@pytest.mark.parametrize(
    "body",
    [b"", b'{"cdr": 5}', b"[1, 2", b"caller,called\n201,202\n", b"<html/>"],
)
def test_unusable_answers(body: bytes) -> None:
    with pytest.raises(KalliopeResponseError):
        cdr_protocol.parse_call_records(body, EP)


# ---------------------------------------------------------------- vocabulary


@pytest.mark.parametrize(
    ("source", "destination", "direction"),
    [
        ("ibl", "local_exten", CallDirection.INBOUND),
        ("ibl", "obl", CallDirection.INBOUND),
        ("ibl", "queue", CallDirection.INBOUND),
        ("ibl", "ivr", CallDirection.INBOUND),
        ("ibl", "callg", CallDirection.INBOUND),
        ("ibl", "service", CallDirection.INBOUND),
        ("ibl", "voicemail", CallDirection.INBOUND),
        ("ibl", None, CallDirection.INBOUND),
        ("local_exten", "obl", CallDirection.OUTBOUND),
        ("fax", "obl", CallDirection.OUTBOUND),
        ("conference", "obl", CallDirection.OUTBOUND),
        ("local_exten", "local_exten", CallDirection.INTERNAL),
        ("local_exten", "service", CallDirection.INTERNAL),
        ("local_exten", "callg", CallDirection.INTERNAL),
        ("local_exten", "queue", CallDirection.INTERNAL),
        ("local_exten", "ivr", CallDirection.INTERNAL),
        ("local_exten", "conference", CallDirection.INTERNAL),
        ("local_exten", "fax", CallDirection.INTERNAL),
        ("LOCAL_EXTEN", " local_exten ", CallDirection.INTERNAL),
        ("local_exten", None, CallDirection.UNKNOWN),
        ("local_exten", "external", CallDirection.UNKNOWN),
        ("service", "local_exten", CallDirection.UNKNOWN),
        ("obl", "local_exten", CallDirection.UNKNOWN),
        ("external", "202", CallDirection.UNKNOWN),
        (None, None, CallDirection.UNKNOWN),
    ],
)
def test_direction_from_type_codes(
    source: str | None, destination: str | None, direction: CallDirection
) -> None:
    assert cdr.derive_direction(source, destination) is direction


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("ANSWERED", CallStatus.ANSWERED),
        ("OK", CallStatus.ANSWERED),
        ("NO ANSWER", CallStatus.NO_ANSWER),
        ("NOANSWER", CallStatus.NO_ANSWER),
        ("no_answer", CallStatus.NO_ANSWER),
        ("BUSY", CallStatus.BUSY),
        ("FAILED", CallStatus.FAILED),
        ("CANCELLED", CallStatus.CANCELLED),
        ("CANCELED", CallStatus.CANCELLED),
        ("UNAVAILABLE", CallStatus.UNAVAILABLE),
        ("FORBIDDEN", CallStatus.FORBIDDEN),
        ("CONGESTION", CallStatus.CONGESTION),
        ("??", "??"),
        ("CHANUNAVAIL", "CHANUNAVAIL"),
        (None, None),
    ],
)
def test_status_spellings(raw: str | None, status: CallStatus | str | None) -> None:
    """Known spellings become our words; anything else stays as the PBX wrote it."""
    normalized = cdr.normalize_status(raw)
    assert normalized == status
    assert isinstance(normalized, CallStatus) == isinstance(status, CallStatus)


# ---------------------------------------------------------------- requests


def _request(content: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = xmltodict.parse(request_bodies.build_request(content))
    return parsed["kpbx_request"]


def test_v3_request_selects_calls_by_start() -> None:
    empty = _request(cdr_protocol.v3_request(CdrQuery()))
    assert empty == {"cdr": {"start_flag": "true"}}
    query = CdrQuery(
        begin=datetime(2026, 11, 1),
        end=datetime(2026, 11, 22, 23, 59, 59),
        filter=CdrFilter(
            direction=CallDirection.INBOUND,
            status=CallStatus.NO_ANSWER,
            caller_num="335%",
        ),
        privacy_password_md5="abc",
    )
    request = _request(cdr_protocol.v3_request(query))["cdr"]
    assert request["begin"] == "2026-11-01 00:00:00"
    assert request["start_flag"] == "true"
    assert request["filter"] == {"direction": "1", "caller_num": "335%", "status": "4"}
    assert "abc" not in repr(query)
    any_query = _request(cdr_protocol.v3_request(CdrQuery(filter=CdrFilter(any="201"))))
    assert any_query["cdr"]["filter"] == {"any": "201"}


def test_v4_request() -> None:
    query = CdrQuery(begin=datetime(2026, 1, 1), filter=CdrFilter(unique_id="1.2"))
    assert _request(cdr_protocol.v4_request(query)) == {
        "cdr": {"begin": "2026-01-01 00:00:00", "unique_id": "1.2"}
    }
    wildcard = CdrQuery(filter=CdrFilter(unique_id="1463%"))
    assert _request(cdr_protocol.v4_request(wildcard)) == {"cdr": None}


# ---------------------------------------------------------------- client


@pytest.mark.parametrize("kind", ["xml", "json", "csv"])
async def test_v4_call_records_filtered_by_derived_direction(
    session: aiohttp.ClientSession, kind: str
) -> None:
    """4.x: one POST for the period, direction and the rest filtered here."""
    body = load_fixture_bytes(f"cdr_v4.{kind}")
    async with bare_pbx(
        {"/cdr/summary": Canned(body, content_type=CONTENT_TYPES[kind])}
    ) as pbx:
        client = KalliopeClient(
            session, pbx.host, port=pbx.port, credentials=v4_digest(), timeout=5
        )
        period = {"begin": datetime(2016, 5, 23), "end": datetime(2016, 5, 24)}
        for direction, ids in (
            (CallDirection.INBOUND, ["1463997200.1", "1463997400.3", "1463997500.4"]),
            (CallDirection.OUTBOUND, ["1463997154.0"]),
            (CallDirection.INTERNAL, ["1463997300.2", "1463997700.6"]),
        ):
            records = await client.call_records(
                CdrQuery(**period, filter=CdrFilter(direction=direction))
            )
            assert [r.id for r in records] == ids
        everything = await client.call_records(CdrQuery(**period))
        assert len(everything) == len(V4_CALLS)
        by_status_and_caller = await client.call_records(
            CdrQuery(
                **period,
                filter=CdrFilter(status=CallStatus.ANSWERED, caller_num="%4567"),
            )
        )
        assert [r.id for r in by_status_and_caller] == ["1463997400.3"]
        by_called = await client.call_records(
            CdrQuery(**period, filter=CdrFilter(called_num="0287654%"))
        )
        assert [r.id for r in by_called] == [
            "1463997200.1",
            "1463997400.3",
            "1463997500.4",
        ]
        anywhere = await client.call_records(
            CdrQuery(**period, filter=CdrFilter(any="%queue%"))
        )
        assert [r.id for r in anywhere] == ["1463997500.4"]
    assert {(r.method, r.path) for r in pbx.requests} == {("POST", "/cdr/summary")}
    sent = xmltodict.parse(pbx.requests[0].body)["kpbx_request"]["cdr"]
    assert sent == {"begin": "2016-05-23 00:00:00", "end": "2016-05-24 00:00:00"}


@pytest.mark.parametrize(
    "search",
    [
        CdrFilter(caller_name="Mario%"),
        CdrFilter(called_name="Rossi"),
        CdrFilter(called_callgroup="incoming"),
        CdrFilter(gateway_id="1"),
    ],
)
async def test_v4_refuses_filters_its_records_cannot_answer(
    session: aiohttp.ClientSession, search: CdrFilter
) -> None:
    """A filter on a field 4.x records lack is refused, not answered with nothing."""
    body = load_fixture_bytes("cdr_v4.xml")
    async with bare_pbx({"/cdr/summary": Canned(body)}) as pbx:
        client = KalliopeClient(
            session, pbx.host, port=pbx.port, credentials=v4_digest(), timeout=5
        )
        with pytest.raises(KalliopeUnsupportedFilterError) as err:
            await client.call_records(CdrQuery(filter=search))
    absent = ("caller_name", "called_name", "called_callgroup", "gateway_id")
    name = next(name for name in absent if getattr(search, name) is not None)
    assert (err.value.filter, err.value.value) == (name, None)
    assert pbx.requests == []


@pytest.mark.parametrize(
    "status", [CallStatus.CANCELLED, CallStatus.UNAVAILABLE, CallStatus.FORBIDDEN]
)
async def test_v3_refuses_statuses_it_never_reports(
    session: aiohttp.ClientSession, status: CallStatus
) -> None:
    """3.x has status codes for five outcomes only: the others are refused."""
    body = load_fixture_bytes("cdr_v3.xml")
    async with bare_pbx({"/cdr": Canned(body)}) as pbx:
        client = KalliopeClient(
            session,
            pbx.host,
            port=pbx.port,
            credentials=BasicCredentials.from_password("admin"),
            timeout=5,
        )
        with pytest.raises(KalliopeUnsupportedFilterError) as err:
            await client.call_records(CdrQuery(filter=CdrFilter(status=status)))
        assert (err.value.filter, err.value.value) == ("status", status.value)
        assert pbx.requests == []
        records = await client.call_records(
            CdrQuery(filter=CdrFilter(status=CallStatus.NO_ANSWER))
        )
    assert [r.id for r in records] == ["812", "813"]
    (seen,) = pbx.requests
    path = seen.path
    request = xmltodict.parse(seen.body)["kpbx_request"]["cdr"]
    assert (path, request["filter"], request["start_flag"]) == (
        "/cdr",
        {"status": "4"},
        "true",
    )


async def test_unknown_direction_is_no_filter(session: aiohttp.ClientSession) -> None:
    async with bare_pbx() as pbx:
        client = KalliopeClient(
            session, pbx.host, port=pbx.port, credentials=v4_digest(), timeout=5
        )
        with pytest.raises(KalliopeInputError):
            await client.call_records(
                CdrQuery(filter=CdrFilter(direction=CallDirection.UNKNOWN))
            )
    assert pbx.requests == []
