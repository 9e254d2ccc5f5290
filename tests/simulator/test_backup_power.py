"""The simulator's backup, restart and halt over plain HTTP, and their
control routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from simulator import build_scenario
from simulator.backup import CHUNK_BYTES, backup_block, backup_chunks, block_index

from .test_simulator import FIXED_NOW, Pbx, req, serve

BACKUP = "/system/backup/create"
NAMED = req("backup", "<name>nightly</name>")


@pytest.fixture
async def pbx() -> AsyncIterator[Pbx]:
    async with serve(build_scenario(10, auth="v3", now=FIXED_NOW)) as running:
        yield running


def test_backup_bytes_are_made_up_chunk_by_chunk() -> None:
    assert [len(c) for c in backup_chunks(2 * CHUNK_BYTES + 5)] == [
        CHUNK_BYTES,
        CHUNK_BYTES,
        5,
    ]
    assert list(backup_chunks(0)) == []
    assert b"".join(backup_chunks(10)) == next(backup_chunks(CHUNK_BYTES))[:10]


def test_each_backup_block_carries_its_index() -> None:
    """So a block duplicated, dropped or out of order shows."""
    blocks = list(backup_chunks(4 * CHUNK_BYTES + 20))
    assert [block_index(block) for block in blocks] == [0, 1, 2, 3, 4]
    assert len(set(blocks)) == 5
    assert blocks[2] == backup_block(2)
    # The same bytes every time, and the same body after the index.
    assert blocks == list(backup_chunks(4 * CHUNK_BYTES + 20))
    assert blocks[0][8:] == blocks[3][8:]


async def test_backup_is_streamed_as_octet_stream(pbx: Pbx) -> None:
    assert (await pbx.ctl("POST", "/backup", {"size": 200_000}))[0] == 200
    async with pbx.session.post(
        f"{pbx.sim.rest_url}{BACKUP}", data=NAMED, headers=pbx.auth_headers()
    ) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert resp.headers["Content-Length"] == "200000"
        assert resp.headers["Content-Disposition"] == (
            'attachment; filename="kalliopepbx-backup.tgz"'
        )
        sizes = [len(chunk) async for chunk in resp.content.iter_chunked(CHUNK_BYTES)]
    assert sum(sizes) == 200_000
    assert pbx.state.backups_created == 1
    assert pbx.state.counters[f"POST {BACKUP}"] == 1


async def test_a_backup_takes_its_build_time_before_answering(pbx: Pbx) -> None:
    status, answer = await pbx.ctl("POST", "/backup", {"delay_s": 0.6, "size": 10})
    assert (status, answer["backup"]["delay_s"]) == (200, 0.6)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with pbx.session.post(
        f"{pbx.sim.rest_url}{BACKUP}", data=NAMED, headers=pbx.auth_headers()
    ) as resp:
        answered = loop.time() - started
        assert len(await resp.read()) == 10
    assert answered >= 0.6
    # An armed error is answered after the build time too.
    await pbx.ctl("POST", "/backup", {"error": 11})
    started = loop.time()
    assert (await pbx.call("POST", BACKUP, NAMED)).code("backup/error") == 11
    assert loop.time() - started >= 0.6
    for bad in ({"delay_s": -1}, {"delay_s": 3601}, {"delay_s": "long"}):
        assert (await pbx.ctl("POST", "/backup", bad))[0] == 400, bad
    assert (await pbx.ctl("GET", "/state"))[1]["backup"]["delay_s"] == 0.6


async def test_a_slow_line_pauses_between_chunks(pbx: Pbx) -> None:
    status, answer = await pbx.ctl(
        "POST", "/backup", {"chunk_delay_s": 0.3, "size": 3 * CHUNK_BYTES}
    )
    assert (status, answer["backup"]["chunk_delay_s"]) == (200, 0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    done = await pbx.call("POST", BACKUP, NAMED)
    assert loop.time() - started >= 0.6
    assert done.body == b"".join(backup_chunks(3 * CHUNK_BYTES))
    for bad in ({"chunk_delay_s": -0.1}, {"chunk_delay_s": 61}):
        assert (await pbx.ctl("POST", "/backup", bad))[0] == 400, bad


async def test_backup_errors(pbx: Pbx) -> None:
    async def code() -> int:
        return (await pbx.call("POST", BACKUP, body)).code("backup/error")

    for body, expected in (
        (req("nope"), 10),
        ("", 10),
        (req("backup", "<description>x</description>"), 12),
        (req("backup", "<name> </name>"), 12),
    ):
        assert await code() == expected, body
    body = NAMED
    status, answer = await pbx.ctl(
        "POST",
        "/backup",
        {"error": 11, "error_content_type": "application/octet-stream"},
    )
    assert (status, answer["backup"]["error"]) == (200, 11)
    failed = await pbx.call("POST", BACKUP, body)
    assert failed.headers["Content-Type"] == "application/octet-stream"
    assert failed.xml().findtext("backup/error/message") == "Backup not created"
    # Changing the size alone keeps the error armed; null clears it.
    await pbx.ctl("POST", "/backup", {"size": 10})
    assert await code() == 11
    await pbx.ctl("POST", "/backup", {"error": None, "disposition": None})
    done = await pbx.call("POST", BACKUP, body)
    assert (len(done.body), "Content-Disposition" in done.headers) == (10, False)
    assert pbx.state.backups_created == 1

    for bad in ({"size": -1}, {"error": 13}, {"size": "big"}):
        status, answer = await pbx.ctl("POST", "/backup", bad)
        assert status == 400, bad
        assert "error" in answer


async def test_backup_needs_credentials(pbx: Pbx) -> None:
    assert (await pbx.call("POST", BACKUP, NAMED, auth=False)).status == 401
    assert pbx.state.backups_created == 0


@pytest.mark.parametrize(
    ("path", "element", "reason", "key"),
    [
        ("/system/restart", "system_restarted", "restarting", "restart_s"),
        ("/system/halt", "system_halted", "halted", "halt_s"),
    ],
)
async def test_restart_and_halt_go_unreachable_then_come_back(
    pbx: Pbx, path: str, element: str, reason: str, key: str
) -> None:
    status, answer = await pbx.ctl("POST", "/power", {key: 0.5})
    assert (status, answer[key]) == (200, 0.5)
    await pbx.call(
        "PUT", "/users/configs/201", req("user", "<first_name>Unsaved</first_name>")
    )
    assert pbx.state.pending
    done = await pbx.call("PUT", path, req("x", request_id="r1"))
    assert done.xml().findtext(element) == "true"
    assert done.xml().findtext("request_id") == "r1"
    assert (await pbx.ctl("GET", "/state"))[1]["power"] == reason
    with pytest.raises(aiohttp.ClientConnectionError):
        await pbx.call("GET", "/pbx/pending")
    # The control API stays up while the PBX is down.
    assert (await pbx.ctl("GET", "/state"))[0] == 200
    await asyncio.sleep(0.6)
    assert (await pbx.ctl("GET", "/state"))[1]["power"] == "on"
    assert (await pbx.call("GET", "/pbx/pending")).xml().findtext("pbx_pending") == (
        "false"
    )
    assert pbx.state.extensions["201"].first_name != "Unsaved"
    summary = (await pbx.ctl("GET", "/state"))[1]
    assert (summary["system_restarts"], summary["system_halts"]) == (
        (1, 0) if reason == "restarting" else (0, 1)
    )


async def test_power_on_early_and_bad_times(pbx: Pbx) -> None:
    await pbx.ctl("POST", "/power", {"halt_s": 600})
    await pbx.call("PUT", "/system/halt")
    with pytest.raises(aiohttp.ClientConnectionError):
        await pbx.call("GET", "/pbx/pending")
    assert (await pbx.ctl("POST", "/power/on"))[1] == {"ok": True, "power": "on"}
    assert (await pbx.call("GET", "/pbx/pending")).status == 200
    for bad in ({"restart_s": -1}, {"halt_s": 4000}, {"restart_s": "soon"}):
        assert (await pbx.ctl("POST", "/power", bad))[0] == 400, bad
