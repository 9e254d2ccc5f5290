"""Answer size caps by endpoint: an answer larger than its endpoint can need
is refused while it is read, never loaded whole; lists get room for a very
large PBX; call records keep only the client-wide cap."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
import pytest

from custom_components.kalliopepbx.api import (
    BasicCredentials,
    KalliopeClient,
    KalliopeResponseError,
    KalliopeResponseTooLargeError,
    transport,
)
from tests.conftest import load_fixture_bytes
from tests.reference_pbx import Canned, ReferencePbx, bare_pbx

MIB = 1024 * 1024
HEAD = b'<?xml version="1.0"?>\n<kpbx_response>\n'
TAIL = b"</kpbx_response>\n"


def client_for(session: aiohttp.ClientSession, pbx: ReferencePbx) -> KalliopeClient:
    """A client with the default caps."""
    return KalliopeClient(
        session,
        "127.0.0.1",
        port=pbx.port,
        credentials=BasicCredentials.from_password("admin"),
        timeout=10,
    )


def registrations(count: int) -> bytes:
    """A registrations answer shaped like the reference's, `count` entries long."""
    entry = (
        "<registration><exten>{n}</exten><status>OK</status><rtt>7.5 ms</rtt>"
        "<contact>sip:{n}@192.168.0.100:5060</contact><ip>192.168.0.100</ip>"
        "<port>5060</port><useragent>Grandstream GXP2170</useragent></registration>"
    )
    entries = "".join(entry.format(n=1000 + n) for n in range(count))
    return HEAD + b"<registrations>" + entries.encode() + b"</registrations>" + TAIL


class Streamer:
    """A chunked answer (no Content-Length) of `total` bytes, written as fast
    as the client takes it; records how much went out."""

    def __init__(self, head: bytes, total: int) -> None:
        self.head = head
        self.total = total
        self.written = 0
        self.finished = False

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/xml"})
        await response.prepare(request)
        padding = b" " * (256 * 1024)
        try:
            await response.write(self.head)
            self.written = len(self.head)
            while self.written < self.total:
                await response.write(padding)
                self.written += len(padding)
            await response.write_eof()
            self.finished = True
        except (ConnectionError, asyncio.CancelledError):
            pass
        return response


async def test_single_object_answer_over_its_cap_is_refused_while_read(
    session: aiohttp.ClientSession,
) -> None:
    """64 MiB where a firmware answer of a few hundred bytes is due."""
    streamer = Streamer(HEAD + b"<firmware><primary>", 64 * MIB)
    async with bare_pbx({"/rest/system/firmware": streamer}) as pbx:
        with pytest.raises(KalliopeResponseTooLargeError) as err:
            await client_for(session, pbx).firmware()
        written_when_refused = streamer.written
    assert err.value.limit == transport.SINGLE_ANSWER_MAX_BYTES
    assert err.value.endpoint == "GET /system/firmware"
    assert isinstance(err.value, KalliopeResponseError)
    # Only what the connection buffers held was sent: the rest never left.
    assert not streamer.finished
    assert written_when_refused < 16 * MIB


async def test_announced_size_over_the_cap_is_refused_before_reading(
    session: aiohttp.ClientSession,
) -> None:
    """A Content-Length over the endpoint's cap: nothing of the body is read."""
    body = load_fixture_bytes("voicemail_count.xml") + b" " * (128 * 1024)
    async with bare_pbx({"/rest/voicemails/count/201": Canned(body)}) as pbx:
        with pytest.raises(KalliopeResponseTooLargeError) as err:
            await client_for(session, pbx).voicemail_count("201")
    assert err.value.limit == transport.SINGLE_ANSWER_MAX_BYTES
    assert "larger than 65536 bytes" in str(err.value)


async def test_caps_follow_what_an_endpoint_can_hold(
    session: aiohttp.ClientSession,
) -> None:
    """A 5,000-extension registrations list passes; that size for the
    firmware is refused. Small answers still parse."""
    big_list = registrations(5000)
    assert len(big_list) > 8 * transport.SINGLE_ANSWER_MAX_BYTES
    padded_firmware = load_fixture_bytes("firmware.xml").replace(
        b"</kpbx_response>", b" " * len(big_list) + b"</kpbx_response>"
    )
    answers = {
        "/rest/users/registrations/": Canned(big_list),
        "/rest/system/firmware": Canned(padded_firmware),
    }
    async with bare_pbx(answers) as pbx:
        client = client_for(session, pbx)
        found = await client.registrations()
        assert len(found) == 5000
        with pytest.raises(KalliopeResponseTooLargeError):
            await client.firmware()
        pbx.answers["/rest/system/firmware"] = Canned(
            load_fixture_bytes("firmware.xml")
        )
        assert (await client.firmware()).primary is not None


async def test_list_answer_over_its_cap_is_refused(
    session: aiohttp.ClientSession,
) -> None:
    streamer = Streamer(HEAD + b"<registrations>", 64 * MIB)
    async with bare_pbx({"/rest/users/registrations/": streamer}) as pbx:
        with pytest.raises(KalliopeResponseTooLargeError) as err:
            await client_for(session, pbx).registrations()
    assert err.value.limit == transport.REGISTRATIONS_MAX_BYTES
    assert not streamer.finished


def test_list_caps_fit_a_very_large_pbx() -> None:
    """10,000 entries, each a few times the size the simulator's are."""
    assert transport.REGISTRATIONS_MAX_BYTES >= 10_000 * 4 * 200
    assert transport.USERS_BRIEF_MAX_BYTES >= 10_000 * 4 * 120
    assert transport.USERS_CONFIGS_MAX_BYTES >= 10_000 * 3 * 600
    assert transport.CONTACTS_MAX_BYTES >= 20_000 * 4 * 250
    # Every list fits under the client-wide ceiling.
    assert (
        max(
            transport.REGISTRATIONS_MAX_BYTES,
            transport.USERS_CONFIGS_MAX_BYTES,
            transport.CONTACTS_MAX_BYTES,
            transport.CALLGROUPS_MAX_BYTES,
        )
        < transport.DEFAULT_MAX_RESPONSE_BYTES
    )


async def test_call_records_keep_only_the_client_wide_cap(
    session: aiohttp.ClientSession,
) -> None:
    """A CDR answer far over the list caps is still read and parsed."""
    cdr = load_fixture_bytes("cdr_v3.xml")
    padded = cdr.replace(b"</kpbx_response>", b" " * (24 * MIB) + b"</kpbx_response>")
    assert padded != cdr
    async with bare_pbx({"/rest/cdr": Canned(padded)}) as pbx:
        records = await client_for(session, pbx).call_records()
    assert records
