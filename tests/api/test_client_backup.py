"""`create_backup`: the file streamed to a file object or a callback, the
reference's XML errors raised with nothing written, and memory that stays
flat for a 200 MB backup.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import io
from pathlib import Path
import re
import time
from xml.etree import ElementTree as ET

import aiohttp
from aiohttp import web
import pytest

from custom_components.kalliopepbx.api import (
    BackupInfo,
    BasicCredentials,
    KalliopeApiError,
    KalliopeAuthError,
    KalliopeClient,
    KalliopeConnectionError,
    KalliopeInputError,
    KalliopeLicenseError,
    KalliopeResponseError,
    KalliopeResponseTooLargeError,
)
from simulator import RunningSimulator, build_scenario, run_simulator
from simulator.backup import CHUNK_BYTES, backup_chunks, block_index
from tests.reference_pbx import ReferencePbx, fixture_bytes, reference_pbx

from .conftest import credentials_for

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PATH = "/system/backup/create"
FILE = bytes(range(256)) * 1024  # 256 KiB, not text, not markup


class Collected:
    """An async callback destination that keeps what it is given."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def __call__(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def file_answer(
    body: bytes = FILE,
    *,
    content_type: str | None = "application/octet-stream",
    disposition: str | None = None,
    chunk: int = 10_000,
    pause: float = 0.0,
    declared_length: int | None = None,
) -> Handler:
    """A handler streaming `body` as the PBX sends a backup."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse()
        if content_type is not None:
            response.headers["Content-Type"] = content_type
        if disposition is not None:
            response.headers["Content-Disposition"] = disposition
        response.content_length = (
            len(body) if declared_length is None else declared_length
        )
        await response.prepare(request)
        for start in range(0, len(body), chunk):
            if pause:
                await asyncio.sleep(pause)
            await response.write(body[start : start + chunk])
        if declared_length is not None and declared_length > len(body):
            # Cut short: the connection drops before the promised length.
            assert request.transport is not None
            request.transport.abort()
            return response
        await response.write_eof()
        return response

    return handler


@pytest.fixture
async def pbx(socket_enabled: None) -> AsyncIterator[ReferencePbx]:
    async with reference_pbx() as running:
        running.handle(PATH, file_answer())
        yield running


def raw_answer(body: bytes, content_type: str) -> Handler:
    """`body` with exactly this Content-Type header (parameters included)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(body=body, headers={"Content-Type": content_type})

    return handler


def client_for(
    session: aiohttp.ClientSession, pbx: ReferencePbx, **options: object
) -> KalliopeClient:
    settings: dict[str, object] = {
        "port": pbx.port,
        "credentials": BasicCredentials.from_password("admin"),
        "timeout": 5,
    }
    settings.update(options)
    return KalliopeClient(session, pbx.host, **settings)  # type: ignore[arg-type]


@pytest.fixture
def ref_client(session: aiohttp.ClientSession, pbx: ReferencePbx) -> KalliopeClient:
    return client_for(session, pbx)


# ---------------------------------------------------------------- the file


async def test_backup_to_a_file_and_to_a_callback(
    ref_client: KalliopeClient, pbx: ReferencePbx, tmp_path: Path
) -> None:
    target = tmp_path / "pbx.tgz"
    with target.open("wb") as file:
        info = await ref_client.create_backup(
            file,
            name='Nightly <"all"> & more',
            description="before the upgrade",
            phonebook=True,
        )
    assert info == BackupInfo(len(FILE), "application/octet-stream", None)
    assert target.read_bytes() == FILE

    collected = Collected()
    info = await ref_client.create_backup(collected, name="n", request_id="bk-2")
    assert info.size == len(FILE)
    assert collected.data == FILE
    # Handed on as it arrives, not gathered first.
    assert len(collected.chunks) > 1
    assert max(map(len, collected.chunks)) <= 64 * 1024

    first, second = pbx.seen("POST", PATH)
    request = ET.fromstring(first.body)  # noqa: S314 - the client's own request
    assert [
        (element.tag, element.text)
        for element in request.iter()
        if element.tag != "kpbx_request"
    ] == [
        ("backup", None),
        ("name", 'Nightly <"all"> & more'),
        ("description", "before the upgrade"),
        ("includes", None),
        ("phonebook", "true"),
        ("sounds", "false"),
    ]
    assert b"<description>" not in second.body
    assert b"<request_id>bk-2</request_id>" in second.body
    assert first.headers["Accept-Encoding"] == "identity"


async def test_a_plain_callback_works_too(
    ref_client: KalliopeClient,
) -> None:
    sizes: list[int] = []
    info = await ref_client.create_backup(
        lambda chunk: sizes.append(len(chunk)), name="n"
    )
    assert sum(sizes) == info.size == len(FILE)


@pytest.mark.parametrize(
    ("header", "filename"),
    [
        (None, None),
        ("attachment", None),
        ('attachment; filename="backup 2026-12-02.tgz"', "backup 2026-12-02.tgz"),
        ("attachment; filename=kpbx.tar.gz", "kpbx.tar.gz"),
        ("attachment; filename*=UTF-8''b%C3%A4ckup%20n%C2%B01.tgz", "bäckup n°1.tgz"),
        (
            "attachment; filename=\"fallback.tgz\"; filename*=UTF-8''r%C3%A9el.tgz",
            "réel.tgz",
        ),
        ('inline; filename="x.kbk"', "x.kbk"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\temp\\\\b.tgz"', "b.tgz"),
        ('attachment; filename=".."', None),
        ("attachment; filename*=bogus''%ZZ", None),
    ],
)
async def test_content_disposition_shapes(
    ref_client: KalliopeClient,
    pbx: ReferencePbx,
    header: str | None,
    filename: str | None,
) -> None:
    pbx.handle(PATH, file_answer(disposition=header))
    info = await ref_client.create_backup(io.BytesIO(), name="n")
    assert info.filename == filename


async def test_control_characters_never_reach_the_filename(
    ref_client: KalliopeClient, pbx: ReferencePbx
) -> None:
    pbx.handle(
        PATH, file_answer(disposition="attachment; filename*=UTF-8''a%0Ab%1B.tgz")
    )
    assert (await ref_client.create_backup(io.BytesIO(), name="n")).filename == "ab.tgz"


@pytest.mark.parametrize(
    "content_type", ["application/octet-stream", "text/xml", "application/x-gzip"]
)
async def test_a_file_is_a_file_whatever_its_type(
    ref_client: KalliopeClient, pbx: ReferencePbx, content_type: str | None
) -> None:
    pbx.handle(PATH, file_answer(content_type=content_type))
    out = io.BytesIO()
    info = await ref_client.create_backup(out, name="n")
    assert out.getvalue() == FILE
    assert info.content_type == content_type


async def test_the_client_wide_cap_does_not_apply_but_max_bytes_does(
    session: aiohttp.ClientSession, pbx: ReferencePbx
) -> None:
    small = client_for(session, pbx, max_response_bytes=1024)
    out = io.BytesIO()
    assert (await small.create_backup(out, name="n")).size == len(FILE)

    for declared in (None, 0):  # announced, then only counted while read
        out = io.BytesIO()
        if declared == 0:
            pbx.handle(PATH, chunked_answer(FILE))
        with pytest.raises(KalliopeResponseTooLargeError) as err:
            await small.create_backup(out, name="n", max_bytes=len(FILE) - 1)
        assert err.value.limit == len(FILE) - 1
        if declared is None:
            assert out.getvalue() == b""  # refused before a byte was written
    with pytest.raises(KalliopeInputError):
        await small.create_backup(io.BytesIO(), name="n", max_bytes=0)


def chunked_answer(body: bytes) -> Handler:
    """A backup sent without Content-Length."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(
            headers={"Content-Type": "application/octet-stream"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), 32_768):
            await response.write(body[start : start + 32_768])
        await response.write_eof()
        return response

    return handler


async def test_the_timeout_is_between_chunks_not_for_the_whole_file(
    session: aiohttp.ClientSession, pbx: ReferencePbx
) -> None:
    quick = client_for(session, pbx, timeout=1.0)
    # Eight chunks 0.2 s apart: 1.6 s in all, never 1 s without data (a wide
    # margin, so a loaded machine does not turn a pause into a timeout).
    pbx.handle(PATH, file_answer(FILE[:80_000], chunk=10_000, pause=0.2))
    started = time.monotonic()
    assert (await quick.create_backup(io.BytesIO(), name="n")).size == 80_000
    assert time.monotonic() - started > 1.0
    pbx.handle(PATH, file_answer(FILE[:20_000], chunk=10_000, pause=2.0))
    with pytest.raises(KalliopeConnectionError):
        await quick.create_backup(io.BytesIO(), name="n")


def never_answers() -> Handler:
    """A PBX that takes the request and never starts its answer."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        # Until the client hangs up (a minute at most): no one to answer then.
        for _ in range(1200):
            if request.transport is None or request.transport.is_closing():
                break
            await asyncio.sleep(0.05)
        return web.Response(status=503)

    return handler


async def test_the_pbx_may_build_the_backup_longer_than_the_timeout(
    session: aiohttp.ClientSession, simulator: RunningSimulator
) -> None:
    """The PBX builds the file before its first byte: only `first_byte_timeout`
    bounds that wait, the client's timeout the gaps after it."""
    state = simulator.state
    quick = KalliopeClient(
        session,
        simulator.host,
        port=simulator.port,
        credentials=credentials_for(state),
        timeout=0.5,
    )
    state.set_backup(size=300_001, delay_s=1.5)
    with pytest.raises(KalliopeConnectionError, match=r"within 0\.5 s"):
        await quick.create_backup(io.BytesIO(), name="n")

    out = io.BytesIO()
    started = time.monotonic()
    info = await quick.create_backup(out, name="n", first_byte_timeout=30)
    assert time.monotonic() - started > 1.5
    assert info.size == 300_001
    assert out.getvalue() == b"".join(backup_chunks(300_001))


async def test_a_session_timeout_does_not_cut_the_wait_short(
    simulator: RunningSimulator,
) -> None:
    """Home Assistant's shared session keeps aiohttp's 5-minute total: the
    first-byte wait and the gaps are the client's own limits, not the session's."""
    state = simulator.state
    state.set_backup(size=300_001, delay_s=1.5)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as short:
        client = KalliopeClient(
            short,
            simulator.host,
            port=simulator.port,
            credentials=credentials_for(state),
            timeout=5,
        )
        info = await client.create_backup(io.BytesIO(), name="n", first_byte_timeout=30)
    assert info.size == 300_001


async def test_the_first_byte_wait_has_an_end_and_the_gaps_keep_theirs(
    session: aiohttp.ClientSession, pbx: ReferencePbx
) -> None:
    quick = client_for(session, pbx, timeout=0.5)
    pbx.handle(PATH, never_answers())
    collected = Collected()
    started = time.monotonic()
    with pytest.raises(KalliopeConnectionError, match=r"no answer within 1\.5 s"):
        await quick.create_backup(collected, name="n", first_byte_timeout=1.5)
    assert time.monotonic() - started >= 1.5
    assert collected.chunks == []

    # Once the file has started, a long first-byte wait does not stretch the gaps.
    pbx.handle(PATH, file_answer(FILE[:20_000], chunk=10_000, pause=2.0))
    with pytest.raises(KalliopeConnectionError, match=r"within 0\.5 s"):
        await quick.create_backup(io.BytesIO(), name="n", first_byte_timeout=30)

    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(KalliopeInputError):
            await quick.create_backup(io.BytesIO(), name="n", first_byte_timeout=bad)


async def test_a_cut_short_backup_is_truncated(
    ref_client: KalliopeClient, pbx: ReferencePbx
) -> None:
    pbx.handle(PATH, file_answer(FILE, declared_length=len(FILE) + 5000))
    with pytest.raises(KalliopeResponseError, match="truncated"):
        await ref_client.create_backup(io.BytesIO(), name="n")


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("fixture", "code"),
    [
        ("backup_error_10.xml", 10),
        ("backup_error_11.xml", 11),
        ("backup_error_12.xml", 12),
    ],
)
@pytest.mark.parametrize(
    "content_type",
    ["text/xml", "application/xml; charset=utf-8", "application/octet-stream"],
)
async def test_xml_errors_raise_and_write_nothing(
    ref_client: KalliopeClient,
    pbx: ReferencePbx,
    fixture: str,
    code: int,
    content_type: str,
) -> None:
    pbx.handle(PATH, raw_answer(fixture_bytes(fixture), content_type))
    out = io.BytesIO()
    collected = Collected()
    for destination in (out, collected):
        with pytest.raises(KalliopeApiError) as err:
            await ref_client.create_backup(destination, name="n")
        assert err.value.code == code
        assert err.value.endpoint == "POST /system/backup/create"
    assert out.getvalue() == b""
    assert collected.chunks == []


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (fixture_bytes("request_not_allowed.xml"), "text/xml", KalliopeLicenseError),
        (
            b"<kpbx_response><backup/></kpbx_response>",
            "text/xml",
            KalliopeResponseError,
        ),
        (
            b"\xef\xbb\xbf  <kpbx_response><backup><error><code>0</code></error></backup>"
            b"</kpbx_response>",
            "application/octet-stream",
            KalliopeResponseError,
        ),
        (
            b"<!DOCTYPE html><html><body>Login</body></html>",
            "text/html",
            KalliopeResponseError,
        ),
        (b"", "application/octet-stream", KalliopeResponseError),
        (
            b"<kpbx_response><backup><error><code>11</code>" + b"x" * 70_000,
            "text/xml",
            KalliopeResponseTooLargeError,
        ),
    ],
)
async def test_other_answers_write_nothing(
    ref_client: KalliopeClient,
    pbx: ReferencePbx,
    body: bytes,
    content_type: str,
    error: type[Exception],
) -> None:
    pbx.answer(PATH, body, content_type=content_type)
    collected = Collected()
    with pytest.raises(error):
        await ref_client.create_backup(collected, name="n")
    assert collected.chunks == []


async def test_http_refusals(ref_client: KalliopeClient, pbx: ReferencePbx) -> None:
    pbx.answer(PATH, "Unauthorized", status=401, content_type="text/plain")
    with pytest.raises(KalliopeAuthError):
        await ref_client.create_backup(io.BytesIO(), name="n")
    pbx.answer(PATH, "oops", status=500, content_type="text/plain")
    with pytest.raises(KalliopeResponseError) as err:
        await ref_client.create_backup(io.BytesIO(), name="n")
    assert err.value.status == 500


async def test_bad_input_is_refused_before_sending(
    ref_client: KalliopeClient, pbx: ReferencePbx, session: aiohttp.ClientSession
) -> None:
    for refused in (
        ref_client.create_backup(io.BytesIO(), name=" "),
        ref_client.create_backup(io.BytesIO(), name="a\x00b"),
        ref_client.create_backup(42, name="n"),  # type: ignore[arg-type]
        ref_client.create_backup(io.BytesIO(), name="n", request_id="a b"),
        client_for(session, pbx, credentials=None).create_backup(
            io.BytesIO(), name="n"
        ),
    ):
        with pytest.raises((KalliopeInputError, KalliopeAuthError)):
            await refused
    assert pbx.writes() == []


async def test_the_destination_s_own_error_is_raised_as_it_is(
    ref_client: KalliopeClient,
) -> None:
    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await ref_client.create_backup(Full(), name="n")


# ---------------------------------------------------------------- simulator


async def test_backup_from_the_simulator(
    client: KalliopeClient, simulator: RunningSimulator, tmp_path: Path
) -> None:
    state = simulator.state
    state.set_backup(size=300_001)
    target = tmp_path / "sim.tgz"
    with target.open("wb") as file:
        info = await client.create_backup(file, name="sim", sounds=True)
    assert info == BackupInfo(
        300_001, "application/octet-stream", "kalliopepbx-backup.tgz"
    )
    assert target.read_bytes() == b"".join(backup_chunks(300_001))
    assert state.backups_created == 1

    state.set_backup(error=11, error_content_type="application/octet-stream")
    collected = Collected()
    with pytest.raises(KalliopeApiError) as err:
        await client.create_backup(collected, name="sim")
    assert (err.value.code, collected.chunks) == (11, [])
    state.set_backup(error=None, disposition=None, keep_disposition=False)
    assert (await client.create_backup(collected, name="sim")).filename is None
    assert state.backups_created == 2


class BackupChecker:
    """A simulated backup arriving in pieces, compared block by block with
    what the simulator made; holds at most a block and a piece."""

    def __init__(self, size: int) -> None:
        self._expected = backup_chunks(size)
        self._pending = b""
        self.blocks = 0
        # The position of the first block that is not the one due there.
        self.first_wrong: int | None = None

    def feed(self, data: bytes) -> None:
        self._pending += data
        while len(self._pending) >= CHUNK_BYTES:
            self._check(self._pending[:CHUNK_BYTES])
            self._pending = self._pending[CHUNK_BYTES:]

    def _check(self, block: bytes) -> None:
        # Plain comparison, not a hash: a busy core would slow the tests
        # running beside this one.
        if block != next(self._expected, None) and self.first_wrong is None:
            self.first_wrong = self.blocks
        self.blocks += 1

    def intact(self) -> bool:
        """Whether everything fed, now at its end, was the backup in order."""
        if self._pending:
            self._check(self._pending)
            self._pending = b""
        return self.first_wrong is None and next(self._expected, None) is None


def _swapped(blocks: list[bytes]) -> list[bytes]:
    return [blocks[0], blocks[2], blocks[1], *blocks[3:]]


@pytest.mark.parametrize(
    ("damage", "first_wrong"),
    [
        (lambda blocks: blocks, None),
        (_swapped, 1),
        # Same size: one block written twice, the next one lost.
        (lambda blocks: [*blocks[:3], blocks[2], *blocks[4:]], 3),
        (lambda blocks: [*blocks[:2], *blocks[3:]], 2),
        (lambda blocks: [*blocks[:2], blocks[1], *blocks[2:]], 2),
        (lambda blocks: [*blocks[:-1], blocks[-1][:-1]], 5),
    ],
    ids=[
        "intact",
        "swapped",
        "duplicated_for_the_next",
        "dropped",
        "duplicated",
        "cut",
    ],
)
def test_the_check_sees_a_block_out_of_place(
    damage: Callable[[list[bytes]], list[bytes]], first_wrong: int | None
) -> None:
    """Every block of a simulated backup differs, so the checks of the
    backups below see a block duplicated, dropped or out of order."""
    size = 5 * CHUNK_BYTES + 100
    blocks = list(backup_chunks(size))
    assert [block_index(block) for block in blocks] == [0, 1, 2, 3, 4, 5]
    stream = b"".join(damage(blocks))
    checker = BackupChecker(size)
    for start in range(0, len(stream), 10_000):  # pieces across block edges
        checker.feed(stream[start : start + 10_000])
    assert checker.intact() is (first_wrong is None)
    assert checker.first_wrong == first_wrong


def _peak_rss_reset() -> bool:
    """Reset the kernel's peak RSS (VmHWM) of this process; False if it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _status_kib(field: str) -> int:
    match = re.search(
        rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M
    )
    assert match is not None, field
    return int(match.group(1))


class RssMeter:
    """Peak RSS growth over a stretch of code: sampled VmRSS, and VmHWM when
    the kernel lets us reset it (then it sees peaks between samples too)."""

    def __init__(self) -> None:
        self.hwm_reset = _peak_rss_reset()
        self.base = _status_kib("VmRSS")
        self.peak = self.base

    def sample(self) -> None:
        self.peak = max(self.peak, _status_kib("VmRSS"))

    @property
    def growth_mib(self) -> float:
        self.sample()
        peak = self.peak
        if self.hwm_reset:
            peak = max(peak, _status_kib("VmHWM"))
        return (peak - self.base) / 1024


def test_the_meter_sees_a_big_allocation() -> None:
    """Without this the memory test below could not fail."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux /proc")
    meter = RssMeter()
    block = bytearray(60 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page
    assert meter.growth_mib > 50
    del block


async def test_a_200_mb_backup_keeps_memory_flat(
    session: aiohttp.ClientSession,
) -> None:
    """Client and simulator in one process: neither may hold the file."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux /proc")
    size = 200 * 1024 * 1024
    state = build_scenario(2, auth="v3", seed=1)
    state.set_backup(size=size)
    checker = BackupChecker(size)
    async with run_simulator(state) as sim:
        client = KalliopeClient(
            session,
            sim.host,
            port=sim.port,
            credentials=credentials_for(state),
            timeout=10,
        )
        meter = RssMeter()
        seen = 0

        async def sink(chunk: bytes) -> None:
            nonlocal seen
            checker.feed(chunk)
            seen += 1
            if seen % 64 == 0:
                meter.sample()

        started = time.monotonic()
        info = await client.create_backup(sink, name="big")
        elapsed = time.monotonic() - started
        growth = meter.growth_mib
    assert info.size == size
    assert checker.intact(), f"block {checker.first_wrong} is not the one due"
    assert checker.blocks == size // CHUNK_BYTES
    print(f"200 MB backup: {elapsed:.2f} s, peak RSS growth {growth:.1f} MiB")
    assert growth < 30, f"peak RSS grew {growth:.1f} MiB"
