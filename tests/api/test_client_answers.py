"""KalliopeClient against answers shaped like other firmwares' (or broken
ones'), served over HTTP on 127.0.0.1 by a PBX stand-in with canned bodies:
what the caller gets back, or which error names the endpoint.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import aiohttp
import pytest

from custom_components.kalliopepbx.api import (
    AuthScheme,
    BasicCredentials,
    CallDirection,
    CallStatus,
    FailoverType,
    KalliopeApiError,
    KalliopeClient,
    KalliopeLicenseError,
    KalliopeResponseError,
    LicenseStatus,
    Registration,
    RegistrationStatus,
)
from tests.reference_pbx import bare_pbx

HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'


def answer(inner: str | bytes) -> bytes:
    """A `<kpbx_response>` document around `inner`."""
    body = inner.encode() if isinstance(inner, str) else inner
    return HEAD + b"<kpbx_response>" + body + b"</kpbx_response>"


@asynccontextmanager
async def canned_pbx(
    session: aiohttp.ClientSession, bodies: dict[str, bytes]
) -> AsyncIterator[KalliopeClient]:
    """A client for a PBX on 127.0.0.1 answering `bodies[path]` (path
    without /rest) with HTTP 200, anything else with 404."""
    async with bare_pbx(bodies) as pbx:
        yield KalliopeClient(
            session,
            pbx.host,
            port=pbx.port,
            credentials=BasicCredentials.from_password("admin"),
            timeout=5,
        )


async def test_tolerant_registrations(session: aiohttp.ClientSession) -> None:
    body = b"\xef\xbb\xbf" + answer(
        "<request_id>r1</request_id>\r\n<registrations>\r\n"
        "<registration><status>OK</status></registration>"  # no extension
        '<registration><exten kind="sip">201</exten><status>ok</status>'
        "<status>UNREACHABLE</status><rtt>12,5 ms</rtt><port>5060</port>"
        "<useragent></useragent><unknown_tag>x</unknown_tag></registration>"
        "<registration><exten>202</exten><status>LAGGED</status><rtt>n/a</rtt>"
        "</registration></registrations>"
    ).replace(b"\n", b"\r\n")
    async with canned_pbx(session, {"/users/registrations/": body}) as client:
        found = await client.registrations()
    assert found == [
        Registration(
            exten="201",
            status=RegistrationStatus.OK,
            status_raw="ok",
            rtt_ms=12.5,
            port=5060,
        ),
        Registration(
            exten="202", status=RegistrationStatus.UNKNOWN, status_raw="LAGGED"
        ),
    ]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (answer(""), "answer lacks <registrations>"),
        (HEAD + b"<kpbx_response/>", "answer lacks <registrations>"),
        (HEAD + b"<html><body>login</body></html>", "unexpected root element <html>"),
        (HEAD + b"<kpbx_response>text only</kpbx_response>", "answer has no elements"),
        (b'<?xml version="1.0" encoding="bogus"?><kpbx_response/>', "unknown encoding"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><kpbx_response/>',
            "document type declarations refused",
        ),
        (b"Service temporarily unavailable", "answer is not XML"),
        (answer(b"<registrations>\xff</registration>"), "well-formed"),
    ],
)
async def test_unusable_registrations(
    session: aiohttp.ClientSession, body: bytes, reason: str
) -> None:
    async with canned_pbx(session, {"/users/registrations/": body}) as client:
        with pytest.raises(KalliopeResponseError) as err:
            await client.registrations()
    assert err.value.endpoint == "GET /users/registrations/"
    assert reason in err.value.reason


async def test_latin1_answer_without_a_declaration(
    session: aiohttp.ClientSession,
) -> None:
    body = (
        b"<kpbx_response><users><user><exten>211</exten><enabled>true</enabled>"
        b"<first_name>Niccol\xf2</first_name><last_name>Luc\xe0</last_name></user>"
        b"<user><enabled>true</enabled></user></users></kpbx_response>"
    )
    async with canned_pbx(session, {"/users/brief/": body}) as client:
        (user,) = await client.users_brief()
    assert (user.exten, user.name) == ("211", "Niccolò Lucà")


async def test_configs_with_odd_failovers(session: aiohttp.ClientSession) -> None:
    body = answer(
        "<configs>"
        "<config><exten>201</exten><failover/></config>"
        "<config><exten>202</exten><failover><destination><value>203</value>"
        "</destination></failover></config>"
        "<config><exten>203</exten><enabled>maybe</enabled><failover>"
        "<type>FORWARD_TO_SATELLITE</type><destination><value>9</value>"
        "<gateway_type>PIGEON</gateway_type></destination></failover></config>"
        "<config><first_name>No extension</first_name></config>"
        "</configs>"
    )
    async with canned_pbx(session, {"/users/configs/": body}) as client:
        configs = await client.users_configs()
    assert [c.exten for c in configs] == ["201", "202", "203"]
    assert configs[0].failover is None
    assert configs[1].failover is None  # no type: nothing usable
    odd = configs[2]
    assert odd.enabled is True  # unreadable flag: the reference's default
    assert odd.failover is not None
    assert odd.failover.type is FailoverType.UNKNOWN
    assert odd.failover.type_raw == "FORWARD_TO_SATELLITE"
    assert odd.failover.gateway_type is None
    assert not odd.failover.forwards_to_number


async def test_lists_skip_entries_without_identity(
    session: aiohttp.ClientSession,
) -> None:
    bodies = {
        "/phonebook/contacts": answer(
            "<contacts><contact><first_name>Nobody</first_name></contact>"
            "<contact><id>7</id><organization>ACME</organization><type>shared</type>"
            "</contact></contacts>"
        ),
        "/pbx/callgroups": answer(
            "<callgroups><callgroup><name>No id</name></callgroup>"
            "<callgroup><id>5</id><priorities><priority><members>"
            "<member><exten>201</exten></member><member><display_name>x"
            "</display_name></member></members></priority></priorities>"
            "</callgroup></callgroups>"
        ),
        "/pbx/conferences": answer(
            "<conferences><conference><enabled>true</enabled></conference>"
            "<conference><name>Room</name></conference></conferences>"
        ),
        "/voicemails/count/201": answer(
            "<voicemails><voicemail><new_messages>3</new_messages></voicemail>"
            "</voicemails>"
        ),
    }
    async with canned_pbx(session, bodies) as client:
        (contact,) = await client.phonebook_contacts()
        (group,) = await client.callgroups()
        (room,) = await client.conferences()
        count = await client.voicemail_count("201")
    assert (contact.id, contact.name, contact.type) == ("7", "ACME", None)
    assert group.id == "5"
    assert group.enabled is True
    assert [(p.id, [m.exten for m in p.members]) for p in group.priorities] == [
        ("1", ["201"])
    ]
    assert (room.name, room.enabled, room.internal_selection) == ("Room", False, None)
    assert (count.new, count.urgent, count.old) == (3, 0, 0)


async def test_odd_status_answers(session: aiohttp.ClientSession) -> None:
    bodies = {
        "/system/firmware/updatestatus": answer(
            "<update_status><error><code>40</code><message>Rebooting</message>"
            "</error></update_status>"
        ),
        "/license/pxbinstance": answer(
            "<pbx_instance_license><license_status>TRIAL</license_status>"
            "</pbx_instance_license>"
        ),
        "/pbx/pending": answer("<pbx_pending>maybe</pbx_pending>"),
        "/system/firmware": answer(
            "<firmware><primary>4.0.1-5000</primary><running/></firmware>"
        ),
    }
    async with canned_pbx(session, bodies) as client:
        update = await client.firmware_update_status()
        assert (update.status, update.code, update.message) == (None, 40, "Rebooting")
        licence = await client.license()
        assert (licence.status, licence.status_raw) == (LicenseStatus.UNKNOWN, "TRIAL")
        firmware = await client.firmware()
        assert (firmware.running, firmware.running_version) == (None, "4.0.1-5000")
        with pytest.raises(KalliopeResponseError) as err:
            await client.pending()
        assert err.value.reason == "<pbx_pending> is not true/false"

        bodies["/system/firmware/updatestatus"] = answer(
            "<update_status><error><message>?</message></error></update_status>"
        )
        with pytest.raises(KalliopeResponseError, match="without a code"):
            await client.firmware_update_status()
        bodies["/license/pxbinstance"] = answer(
            "<pbx_instance_license><error><code>12</code>"
            "<message>Invalid PBX instance license request</message></error>"
            "</pbx_instance_license>"
        )
        with pytest.raises(KalliopeApiError) as api_err:
            await client.license()
        assert api_err.value.code == 12
        assert api_err.value.endpoint == "GET /license/pxbinstance"
        # A refusal without a code still says it is the licence.
        bodies["/license/pxbinstance"] = answer("<request_not_allowed/>")
        with pytest.raises(KalliopeLicenseError) as lic_err:
            await client.license()
        assert (lic_err.value.code, lic_err.value.message) == (0, "request not allowed")


async def test_write_answers_without_a_result_code(
    session: aiohttp.ClientSession,
) -> None:
    bodies = {
        "/click2call": answer(
            "<click2call><error_code><message>Error</message></error_code></click2call>"
        ),
        "/phonebook/contacts/3": answer("<contact/>"),
        "/pbx/apply": answer("<pbx_applied>false</pbx_applied>"),
    }
    async with canned_pbx(session, bodies) as client:
        with pytest.raises(KalliopeResponseError) as err:
            await client.click2call("201", "202")
        assert err.value.reason == "error element without a code"
        with pytest.raises(KalliopeResponseError) as err:
            await client.delete_contact("3")
        assert err.value.reason == "<contact> carries no result code"
        assert err.value.endpoint == "DELETE /phonebook/contacts/{id}"
        assert await client.apply() is False


async def test_cdr_shapes(session: aiohttp.ClientSession) -> None:
    bodies = {
        "/cdr": answer(
            "<cdr><error_code><code>0</code></error_code><calls>"
            "<call><unique_id>no-id</unique_id></call>"
            "<call><id>9</id><direction>8</direction><status>8</status>"
            '<called_num>"0612345678"</called_num><start>yesterday</start>'
            "<answer>2026-03-02T10:00:05</answer><end>2026-03-02 10:01</end>"
            "</call></calls></cdr>"
        ),
    }
    async with canned_pbx(session, bodies) as client:
        (v3,) = await client.call_records()
        assert (v3.id, v3.direction, v3.status) == (
            "9",
            CallDirection.UNKNOWN,
            CallStatus.ANSWERED,
        )
        assert v3.called == "0612345678"
        assert v3.start is None
        assert v3.answer == datetime(2026, 3, 2, 10, 0, 5)
        assert v3.end == datetime(2026, 3, 2, 10, 1)


@pytest.mark.parametrize(
    ("body", "salt"),
    [
        (b'{"salt": " abc "}', "abc"),
        (answer("<salt>def</salt>"), "def"),
        (HEAD + b"<salt>ghi</salt>", "ghi"),
    ],
)
async def test_salt_answers(
    session: aiohttp.ClientSession, body: bytes, salt: str
) -> None:
    async with canned_pbx(session, {"/salt/default": body}) as client:
        detection = await client.detect()
    assert (detection.scheme, detection.salt) == (AuthScheme.V4_DIGEST, salt)


@pytest.mark.parametrize(
    "body", [b'{"salt": ""}', b'{"nosalt": 1}', b"{not json", b"<html>", b""]
)
async def test_salt_answer_without_a_salt_is_not_taken_for_3x(
    session: aiohttp.ClientSession, body: bytes
) -> None:
    """Only a 404 means 3.x: an answer without a salt is an error, not a downgrade."""
    async with canned_pbx(session, {"/salt/default": body}) as client:
        with pytest.raises(KalliopeResponseError) as err:
            await client.detect()
    assert err.value.endpoint == "GET /salt/{domain}"


async def test_salt_endpoint_missing_means_3x(session: aiohttp.ClientSession) -> None:
    async with canned_pbx(session, {}) as client:
        detection = await client.detect()
    assert (detection.scheme, detection.salt) == (AuthScheme.V3_BASIC, None)


@pytest.mark.parametrize(
    ("body", "serial"),
    [
        (b'{"SerialNumber": "KPBX-1"}', "KPBX-1"),
        (b'{"serial": 12345}', "12345"),
        (b'"KPBX-2"', "KPBX-2"),
        (b"KPBX-3\n", "KPBX-3"),
        (b'["KPBX-4"]', None),
        (b'{"serialNumber": ""}', None),
        (b"", None),
        (answer("<serialNumber>KPBX-5</serialNumber>"), None),
    ],
)
async def test_serial_number_answers(
    session: aiohttp.ClientSession, body: bytes, serial: str | None
) -> None:
    async with canned_pbx(session, {"/dashboard/serialNumber": body}) as client:
        assert await client.serial_number() == serial
