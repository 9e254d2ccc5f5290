"""KalliopeClient's transport and error paths over real HTTP on 127.0.0.1:
unreachable PBXs, TLS, broken answers, size and concurrency limits, input
refused before anything is sent.

Where the simulator cannot misbehave in the needed way (redirects, chunked or
cut-off bodies, odd `Date` headers) a raw socket server on 127.0.0.1 plays
the part of the PBX.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
import threading
import time
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from custom_components.kalliopepbx.api import (
    BasicCredentials,
    CdrFilter,
    CdrQuery,
    ContactInput,
    DigestCredentials,
    KalliopeAuthError,
    KalliopeCertificateError,
    KalliopeClient,
    KalliopeClockSkewError,
    KalliopeConnectionError,
    KalliopeError,
    KalliopeInputError,
    KalliopeLicenseError,
    KalliopeNotSupportedError,
    KalliopeResponseError,
    PhonebookFilter,
    UserUpdate,
    md5_hex,
    parsers,
    transport,
)
from simulator import (
    RunningSimulator,
    build_scenario,
    make_self_signed_cert,
    run_simulator,
    server_ssl_context,
)
from tests.conftest import free_port

from .conftest import credentials_for

BASIC = BasicCredentials.from_password("admin")


def make_client(
    session: aiohttp.ClientSession, sim: RunningSimulator, **kwargs: Any
) -> KalliopeClient:
    options: dict[str, Any] = {
        "port": sim.port,
        "timeout": 5,
        "credentials": credentials_for(sim.state),
    }
    options.update(kwargs)
    return KalliopeClient(session, sim.host, **options)


@asynccontextmanager
async def raw_server(answer: bytes) -> AsyncIterator[SimpleNamespace]:
    """A server on 127.0.0.1 that answers every request with `answer` (raw
    HTTP bytes) and closes; `.port`, `.requests` (raw request heads)."""
    requests: list[bytes] = []

    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(answer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        yield SimpleNamespace(port=port, requests=requests)
    finally:
        server.close()
        await server.wait_closed()


def raw_client(
    session: aiohttp.ClientSession, port: int, **kwargs: Any
) -> KalliopeClient:
    options: dict[str, Any] = {"port": port, "timeout": 5, "credentials": BASIC}
    options.update(kwargs)
    return KalliopeClient(session, "127.0.0.1", **options)


# ---------------------------------------------------------------- unreachable


async def test_connection_refused(session: aiohttp.ClientSession) -> None:
    client = raw_client(session, free_port())
    with pytest.raises(KalliopeConnectionError) as err:
        await client.firmware()
    assert type(err.value) is KalliopeConnectionError
    assert "GET /system/firmware" in str(err.value)
    # Detection does not hide an unreachable PBX behind a guessed scheme.
    with pytest.raises(KalliopeConnectionError):
        await client.detect()


async def test_timeout(
    session: aiohttp.ClientSession, simulator: RunningSimulator
) -> None:
    state = simulator.state
    state.add_fault("/system/firmware", "delay", delay_s=2.0)
    client = make_client(session, simulator, timeout=0.15)
    started = time.monotonic()
    with pytest.raises(KalliopeConnectionError) as err:
        await client.firmware()
    # Well under the delay, with room for a loaded machine.
    assert time.monotonic() - started < 1.5
    assert "no answer within 0.15 s" in str(err.value)
    # The fault was used up: the next call is answered.
    assert (await client.firmware()).primary == state.firmware_primary
    # Let the simulator finish the abandoned answer.
    await asyncio.sleep(max(0.0, 2.1 - (time.monotonic() - started)))


async def test_connection_reset(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    # aiohttp retries an idempotent request once on a dropped connection.
    simulator.state.add_fault("/users/brief/", "reset", count=2)
    with pytest.raises(KalliopeConnectionError) as err:
        await client.users_brief()
    assert "GET /users/brief/" in str(err.value)
    assert await client.users_brief()


# ---------------------------------------------------------------- TLS


async def test_tls(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    cert, key = make_self_signed_cert(tmp_path)
    state = build_scenario(3)
    async with run_simulator(state, ssl_context=server_ssl_context(cert, key)) as sim:
        verified = make_client(session, sim, use_ssl=True)
        assert str(verified.base_url) == f"https://127.0.0.1:{sim.port}"
        with pytest.raises(KalliopeCertificateError) as err:
            await verified.firmware()
        assert isinstance(err.value, KalliopeConnectionError)
        assert "certificate" in str(err.value)
        assert state.counters["GET /system/firmware"] == 0

        unverified = make_client(session, sim, use_ssl=True, verify_ssl=False)
        assert (await unverified.firmware()).primary == state.firmware_primary
        assert state.counters["GET /system/firmware"] == 1

        # Plain HTTP to an HTTPS port is a connection problem, not a crash.
        plain = make_client(session, sim)
        with pytest.raises(KalliopeConnectionError):
            await plain.firmware()


async def test_https_to_a_plain_http_pbx(
    session: aiohttp.ClientSession, simulator: RunningSimulator
) -> None:
    client = make_client(session, simulator, use_ssl=True)
    with pytest.raises(KalliopeConnectionError) as err:
        await client.firmware()
    assert type(err.value) is KalliopeConnectionError
    assert "TLS failure" in str(err.value)


# ---------------------------------------------------------------- broken answers


@pytest.mark.parametrize(
    ("kind", "reason", "status"),
    [
        ("http500", "HTTP 500", 500),
        ("html", "document type", None),
        ("empty", "empty answer", None),
        ("malformed", "well-formed", None),
        ("truncated", "truncated", None),
    ],
)
async def test_unusable_answers_name_the_endpoint(
    client: KalliopeClient,
    simulator: RunningSimulator,
    kind: str,
    reason: str,
    status: int | None,
) -> None:
    simulator.state.add_fault("/system/firmware", kind)
    with pytest.raises(KalliopeResponseError) as err:
        await client.firmware()
    assert err.value.endpoint == "GET /system/firmware"
    assert reason in err.value.reason
    assert err.value.status == status
    assert str(err.value).startswith("GET /system/firmware: ")
    # One bad answer does not poison the client.
    assert (await client.firmware()).running_version


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("http401", KalliopeAuthError),
        ("http403", KalliopeAuthError),
        ("http404", KalliopeNotSupportedError),
        ("request_not_allowed", KalliopeLicenseError),
    ],
)
async def test_refusals(
    client: KalliopeClient,
    simulator: RunningSimulator,
    kind: str,
    error: type[KalliopeError],
) -> None:
    simulator.state.add_fault("/pbx/conferences", kind)
    with pytest.raises(error) as err:
        await client.conferences()
    assert type(err.value) is error
    assert "GET /pbx/conferences" in str(err.value)


async def test_missing_endpoint_is_not_supported(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    simulator.state.disable_endpoint("/voicemails/")
    with pytest.raises(KalliopeNotSupportedError) as err:
        await client.voicemail_count("204")
    assert err.value.endpoint == "GET /voicemails/count/{mailbox}"
    simulator.state.enable_endpoint("/voicemails/")
    assert (await client.voicemail_count("204")).new == 5


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("http401", KalliopeAuthError),
        ("http403", KalliopeAuthError),
        ("http500", KalliopeResponseError),
        ("html", KalliopeResponseError),
        ("malformed", KalliopeResponseError),
        ("empty", KalliopeResponseError),
        ("truncated", KalliopeResponseError),
    ],
)
async def test_salt_endpoint_faults_are_errors_not_3x(
    session: aiohttp.ClientSession, kind: str, error: type[KalliopeError]
) -> None:
    """Only a 404 means 3.x; a 4.x PBX failing to answer is never taken for one."""
    state = build_scenario(3, auth="v4")
    async with run_simulator(state) as sim:
        client = make_client(session, sim, credentials=None)
        state.add_fault("/salt/", kind)
        with pytest.raises(error):
            await client.detect()
        assert await client.fetch_salt("default") == state.salt
        state.disable_endpoint("/salt/")
        assert await client.fetch_salt("default") is None


async def test_redirects_are_not_followed(
    session: aiohttp.ClientSession, simulator: RunningSimulator
) -> None:
    target = f"https://127.0.0.1:{simulator.port}/rest/system/firmware"
    answer = (
        f"HTTP/1.1 301 Moved Permanently\r\nLocation: {target}\r\n"
        "Content-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()
    async with raw_server(answer) as server:
        client = raw_client(session, server.port)
        with pytest.raises(KalliopeResponseError) as err:
            await client.firmware()
    assert err.value.status == 301
    assert target in err.value.reason
    assert "HTTPS" in err.value.reason
    assert len(server.requests) == 1
    assert simulator.state.counters["GET /system/firmware"] == 0


async def test_response_size_cap(
    session: aiohttp.ClientSession, simulator: RunningSimulator
) -> None:
    state = simulator.state
    capped = make_client(session, simulator, max_response_bytes=1000)
    with pytest.raises(KalliopeResponseError) as err:
        await capped.registrations()  # about 2.5 kB, announced by Content-Length
    assert "larger than 1000 bytes" in err.value.reason
    assert err.value.status == 200
    assert await capped.firmware()  # small answers still pass

    # A chunked answer announces no size: the cap applies while reading.
    chunk = b"<x>" + b"a" * 4000 + b"</x>"
    body = b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(40))
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body + b"0\r\n\r\n"
    )
    async with raw_server(answer) as server:
        client = raw_client(session, server.port, max_response_bytes=100_000)
        with pytest.raises(KalliopeResponseError) as err:
            # A list's own cap is far larger: the client-wide one applies.
            await client.registrations()
    assert "larger than 100000 bytes" in err.value.reason
    assert state.counters["GET /users/registrations/"] == 1


async def test_body_cut_off_by_the_connection(session: aiohttp.ClientSession) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 500\r\n\r\n"
        b'<?xml version="1.0"?><kpbx_response><firmware>'
    )
    async with raw_server(answer) as server:
        client = raw_client(session, server.port)
        with pytest.raises(KalliopeResponseError) as err:
            await client.firmware()
    assert err.value.endpoint == "GET /system/firmware"
    assert "truncated" in err.value.reason


@pytest.mark.parametrize(
    "date_header",
    [
        "",  # no Date at all
        "Date: not a date\r\n",
        "Date: Mon, 02 Jan 2006 15:04:05 -0000\r\n",  # no zone: read as UTC
    ],
)
async def test_401_without_a_usable_date_is_a_credential_problem(
    session: aiohttp.ClientSession, date_header: str
) -> None:
    answer = (
        f"HTTP/1.1 401 Unauthorized\r\n{date_header}"
        "Content-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()
    digest = DigestCredentials.from_password("admin", "salt")
    async with raw_server(answer) as server:
        client = raw_client(session, server.port, credentials=digest)
        with pytest.raises(KalliopeAuthError) as err:
            await client.firmware()
    if "2006" in date_header:
        # A Date twenty years off is the PBX's clock, whatever its zone says.
        assert isinstance(err.value, KalliopeClockSkewError)
        assert err.value.skew_seconds < -300
    else:
        assert type(err.value) is KalliopeAuthError


async def test_3x_refusal_is_never_a_clock_problem(
    session: aiohttp.ClientSession,
) -> None:
    answer = (
        b"HTTP/1.1 401 Unauthorized\r\nDate: Mon, 02 Jan 2006 15:04:05 GMT\r\n"
        b"Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    async with raw_server(answer) as server:
        client = raw_client(session, server.port)
        with pytest.raises(KalliopeAuthError) as err:
            await client.firmware()
    assert type(err.value) is KalliopeAuthError


# ---------------------------------------------------------------- limits


async def test_max_concurrent_requests(
    socket_enabled: None, simulator: RunningSimulator
) -> None:
    simulator.state.set_latency(60)
    in_flight = 0
    peak = 0

    async def started(*_: Any) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)

    async def ended(*_: Any) -> None:
        nonlocal in_flight
        in_flight -= 1

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(started)
    trace.on_request_end.append(ended)
    trace.on_request_exception.append(ended)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        for limit, expected in ((2, 2), (8, 6)):
            peak = 0
            client = make_client(session, simulator, max_concurrent_requests=limit)
            results = await asyncio.gather(*(client.firmware() for _ in range(6)))
            assert all(r.primary == simulator.state.firmware_primary for r in results)
            assert peak == expected
    assert simulator.state.counters["GET /system/firmware"] == 12


async def test_x_authenticate_is_built_once_a_request_slot_is_free(
    session: aiohttp.ClientSession,
) -> None:
    """A 4.x header made while waiting for a slot would arrive stale (`Created`)."""
    state = build_scenario(3, auth="v4")
    events: list[str] = []

    def clock() -> datetime:
        events.append("header built")
        return datetime.now(UTC)

    async with run_simulator(state) as sim:
        client = make_client(
            session,
            sim,
            credentials=credentials_for(state),
            max_concurrent_requests=1,
            clock=clock,
        )
        state.add_fault("/system/firmware", "delay", delay_s=0.3)

        async def first() -> None:
            await client.firmware()
            events.append("first answered")

        async def second() -> None:
            await asyncio.sleep(0.05)  # queued behind the slow first request
            await client.pending()
            events.append("second answered")

        await asyncio.gather(first(), second())
    assert events == [
        "header built",
        "first answered",
        "header built",
        "second answered",
    ]


async def test_request_id_is_sent_and_echoed(
    socket_enabled: None, simulator: RunningSimulator
) -> None:
    urls: list[str] = []
    bodies: list[bytes] = []

    async def started(*args: Any) -> None:
        params: aiohttp.TraceRequestStartParams = args[-1]
        urls.append(str(params.url))

    async def chunk(*args: Any) -> None:
        params: aiohttp.TraceRequestChunkSentParams = args[-1]
        bodies.append(params.chunk)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(started)
    trace.on_request_chunk_sent.append(chunk)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        client = make_client(session, simulator)
        # The PBX puts the id first in its answer; parsing is not disturbed.
        found = await client.registrations(request_id="poll-1")
        assert len(found) == len(simulator.state.extensions)
        assert urls[-1].endswith("/rest/users/registrations/?request_id=poll-1")
        await client.click2call("202", "203", request_id="call.2")
        assert b"<request_id>call.2</request_id>" in b"".join(bodies)
        assert "request_id" not in urls[-1]
        assert await client.reload_pbx_engine(request_id="r_3") is True
        assert b"<request_id>r_3</request_id>" in bodies[-1]

        before = dict(simulator.state.counters)
        for bad in ("", "with space", "a/b", "x" * 65, "ü"):
            with pytest.raises(KalliopeInputError):
                await client.firmware(request_id=bad)
        assert dict(simulator.state.counters) == before


# ---------------------------------------------------------------- input


INVALID_SEGMENTS = ("../x", "..", "a/b", "", ".hidden", "a b", "%2e%2e", "x" * 65)


def calls_with_a_path_segment(
    client: KalliopeClient, value: str
) -> list[Callable[[], Awaitable[Any]]]:
    return [
        lambda: client.registration(value),
        lambda: client.user_brief(value),
        lambda: client.user_config(value),
        lambda: client.update_user_config(value, UserUpdate(first_name="X")),
        lambda: client.voicemail_count(value),
        lambda: client.callgroup(value),
        lambda: client.phonebook_contact(value),
        lambda: client.delete_contact(value),
        lambda: client.fetch_salt(value),
    ]


async def test_invalid_input_is_refused_before_sending(
    client: KalliopeClient, simulator: RunningSimulator
) -> None:
    state = simulator.state
    for value in INVALID_SEGMENTS:
        for call in calls_with_a_path_segment(client, value):
            with pytest.raises(KalliopeInputError):
                await call()
    # Text XML cannot carry is refused too; markup characters are escaped.
    with pytest.raises(KalliopeInputError):
        await client.update_user_config("202", UserUpdate(first_name="A\x00B"))
    with pytest.raises(KalliopeInputError):
        await client.search_phonebook(PhonebookFilter(any="\x1b[2J"))
    with pytest.raises(KalliopeInputError):
        await client.add_contact(
            ContactInput(first_name="\ufffe", last_name="x", phone="1")
        )
    with pytest.raises(KalliopeInputError):
        await client.call_records(CdrQuery(filter=CdrFilter(caller_num="1\x07")))
    assert not state.counters
    assert state.pending is True  # the demo's own change, nothing more
    assert state.extensions["202"].first_name == "Giulia"

    # KalliopeInputError is also a ValueError for callers that expect one.
    with pytest.raises(ValueError, match="invalid extension"):
        await client.registration("../x")


@pytest.mark.parametrize(
    ("host", "port"),
    [("bad host", None), ("a/b", None), ("127.0.0.1", 70000), ("127.0.0.1", -1)],
)
def test_invalid_address(host: str, port: int | None) -> None:
    # Refused when the client is made: a bad port used to pass here and then
    # escape a call as a bare ValueError from deep inside yarl.
    with pytest.raises(KalliopeInputError, match="invalid"):
        KalliopeClient(None, host, port=port)  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [0, -1])
def test_no_request_slot_is_refused(limit: int) -> None:
    # With no slot every call used to wait forever (or Semaphore raised a
    # bare ValueError).
    with pytest.raises(KalliopeInputError, match="max_concurrent_requests"):
        KalliopeClient(None, "127.0.0.1", max_concurrent_requests=limit)  # type: ignore[arg-type]


# ---------------------------------------------------------------- big answers


@pytest.mark.parametrize("scenario", [{"extensions": 200}])
async def test_big_answers_are_parsed_off_the_event_loop(
    client: KalliopeClient,
    simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = simulator.state
    threads: list[str] = []
    parse = parsers.parse_users_configs

    def recording(body: bytes, endpoint: str) -> Any:
        threads.append(threading.current_thread().name)
        return parse(body, endpoint)

    monkeypatch.setattr(parsers, "parse_users_configs", recording)
    loop_thread = threading.current_thread().name

    configs = await client.users_configs()  # over 100 kB
    assert len(configs) == 200
    assert {c.exten for c in configs} == set(state.extensions)
    forwarding = [
        c
        for c in configs
        if c.failover is not None and c.failover.destination == "3351234567"
    ]
    assert len(forwarding) == 1
    assert threads[-1] != loop_thread

    one = await client.user_config("201")  # a few hundred bytes
    assert one is not None
    assert one.first_name == state.extensions["201"].first_name
    assert threads[-1] == loop_thread
    assert transport.PARSE_IN_THREAD_ABOVE_BYTES < 100_000


# ---------------------------------------------------------------- secrets


def test_repr_hides_secrets() -> None:
    password = "S3cret!pass"
    basic = BasicCredentials.from_password(password)
    digest = DigestCredentials.from_password(
        password, "b5a8fdcf2f8d5acdad33c4a072a97d7a"
    )
    query = CdrQuery(privacy_password_md5=md5_hex("privacy-pw"))
    client = KalliopeClient(None, "127.0.0.1", credentials=digest)  # type: ignore[arg-type]
    shown = " ".join(
        text
        for item in (basic, digest, query, client)
        for text in (repr(item), str(item))
    )
    for secret in (
        password,
        basic.password_md5,
        digest.password_digest,
        digest.salt,
        md5_hex("privacy-pw"),
    ):
        assert secret not in shown
    # What is shown is still useful.
    assert "admin" in repr(basic)
    assert "127.0.0.1" in repr(client)
    assert "privacy_password_md5" not in repr(query)
