"""Event notifications and scripted calls, received by a real HTTP server on
127.0.0.1. Expected bodies and URLs are written out by hand from the manual's
description of the placeholders, not computed with the simulator's code."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
import hashlib
import json
import re
from typing import Any

from aiohttp import web
import pytest

from simulator import build_scenario, notify
from simulator.cdr import v4_row
from tests.simulator.test_simulator import Pbx, first_with, req, serve

CALL_EVENTS = (
    "pbx.account.incomingcall",
    "pbx.call.start",
    "pbx.extension.incomingcall",
    "pbx.extension.answercall",
    "pbx.extension.missedcall",
    "pbx.extension.failedcall",
    "pbx.call.end",
)
# The manual's only published parameter set, in its order.
QUEUE_PARAMS = {
    "reason": "CANCELED",
    "queue_id": "1",
    "uniqueid": "1511212918.0",
    "called_num": "201",
    "caller_num": "103",
    "queue_name": "QueueTest",
    "waiting_time": "5",
}


@dataclass
class Received:
    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


class Receiver:
    """The web service the PBX notifies: records every request."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200
        self.location: str | None = None
        self.port = 0
        self._arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        async with self._arrived:
            self.requests.append(
                Received(
                    request.method,
                    request.path,
                    request.rel_url.raw_query_string,
                    dict(request.headers),
                    await request.read(),
                )
            )
            self._arrived.notify_all()
        headers = {"Location": self.location} if self.location else None
        return web.Response(status=self.status, text="ok", headers=headers)

    async def wait_for(self, count: int) -> list[Received]:
        async with asyncio.timeout(5), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests

    def texts(self) -> list[str]:
        return [r.text for r in self.requests]


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.port = int(runner.addresses[0][1])
    try:
        yield rec
    finally:
        await runner.cleanup()


@pytest.fixture
async def pbx() -> AsyncIterator[Pbx]:
    async with serve(build_scenario(20, auth="v3")) as running:
        yield running


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiver() as rec:
        yield rec


async def add_action(pbx: Pbx, **body: Any) -> int:
    status, data = await pbx.ctl("POST", "/notifications/actions", body)
    assert status == 200, data
    return int(data["id"])


async def add_entry(pbx: Pbx, event: str, action: int, **extra: Any) -> int:
    body = {"name": f"on {event}", "event": event, "action": action, **extra}
    status, data = await pbx.ctl("POST", "/notifications/list", body)
    assert status == 200, data
    return int(data["id"])


async def emit(pbx: Pbx, name: str, params: dict[str, str], **extra: Any) -> int:
    status, data = await pbx.ctl(
        "POST", "/event", {"name": name, "params": params, **extra}
    )
    assert status == 200, data
    return int(data["event_id"])


# ---------------------------------------------------------------- placeholders


async def test_post_renders_every_placeholder_raw(pbx: Pbx, hook: Receiver) -> None:
    template = (
        "id=%event_id%|name=%event_name%|desc=%event_description%"
        "|sev=%event_severity%|ts=%event_timestamp%"
    )
    action = await add_action(
        pbx, name="all", url=f"{hook.url}/all", method="POST", content=template
    )
    json_action = await add_action(
        pbx, name="json", url=f"{hook.url}/json", content="%call_params[JSON]%"
    )
    xml_action = await add_action(
        pbx,
        name="xml",
        url=f"{hook.url}/xml",
        content="%call_params[XML]%",
        content_type="text/xml",
    )
    avp_action = await add_action(
        pbx,
        name="avp",
        url=f"{hook.url}/avp",
        content="%call_params[AVP]%",
        content_type="application/x-www-form-urlencoded",
    )
    for act in (action, json_action, xml_action, avp_action):
        await add_entry(pbx, "pbx.queue.unservedcall", act)

    await emit(pbx, "pbx.other", {})  # takes event id 1
    event_id = await emit(
        pbx,
        "pbx.queue.unservedcall",
        QUEUE_PARAMS,
        description="Unserved call <QueueTest> & co",
        severity="WARNING",
    )
    assert event_id == 2
    got = {r.path: r for r in await hook.wait_for(4)}
    assert all(r.method == "POST" for r in got.values())

    match = re.fullmatch(
        r"id=2\|name=pbx\.queue\.unservedcall\|desc=Unserved call <QueueTest> & co"
        r"\|sev=2\|ts=(\d{10}\.\d)",
        got["/all"].text,
    )
    assert match, got["/all"].text
    ts = float(match.group(1))
    _, data = await pbx.ctl("GET", "/notifications")
    assert abs(ts - pbx.state.now().timestamp()) < 60
    assert data["events"][-1]["timestamp"] == match.group(1)
    assert got["/all"].headers["Content-Type"] == "application/json"

    # Byte for byte the manual's examples.
    assert got["/json"].text == (
        '{"reason":"CANCELED","queue_id":"1","uniqueid":"1511212918.0",'
        '"called_num":"201","caller_num":"103","queue_name":"QueueTest",'
        '"waiting_time":"5"}'
    )
    assert got["/avp"].text == (
        "reason=CANCELED&queue_id=1&uniqueid=1511212918.0&called_num=201"
        "&caller_num=103&queue_name=QueueTest&waiting_time=5"
    )
    assert got["/avp"].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert got["/xml"].text == (
        '<?xml version="1.0"?><response><reason>CANCELED</reason>'
        "<queue_id>1</queue_id><uniqueid>1511212918.0</uniqueid>"
        "<called_num>201</called_num><caller_num>103</caller_num>"
        "<queue_name>QueueTest</queue_name><waiting_time>5</waiting_time></response>"
    )
    assert got["/xml"].headers["Content-Type"] == "text/xml"
    assert "Authorization" not in got["/xml"].headers


async def test_post_values_are_not_escaped_but_xml_stays_xml(
    pbx: Pbx, hook: Receiver
) -> None:
    action = await add_action(
        pbx,
        name="mixed",
        url=f"{hook.url}/m",
        content="%call_params[JSON]%\n%call_params[AVP]%\n%call_params[XML]%",
    )
    await add_entry(pbx, "custom.event", action)
    # A value that looks like a placeholder stays as it is (one pass).
    await emit(pbx, "custom.event", {"name": 'Lucà "x" & <y>', "raw": "%event_id%"})
    (got,) = await hook.wait_for(1)
    assert got.text == (
        '{"name":"Lucà \\"x\\" & <y>","raw":"%event_id%"}\n'
        'name=Lucà "x" & <y>&raw=%event_id%\n'
        '<?xml version="1.0"?><response><name>Lucà "x" &amp; &lt;y&gt;</name>'
        "<raw>%event_id%</raw></response>"
    )


async def test_get_fills_the_url_with_encoded_values(pbx: Pbx, hook: Receiver) -> None:
    action = await add_action(
        pbx,
        name="get",
        url=(
            f"{hook.url}/hook/%event_name%?id=%event_id%&d=%event_description%"
            "&sev=%event_severity%&%call_params[AVP]%&j=%call_params[JSON]%"
        ),
        method="GET",
    )
    await add_entry(pbx, "pbx.extension.missedcall", action)
    await emit(
        pbx,
        "pbx.extension.missedcall",
        {"caller_name": "Rossi & Figli/é", "a b": "1+1=2"},
        description="50% off?",
        severity=4,
    )
    (got,) = await hook.wait_for(1)
    assert got.method == "GET"
    assert got.body == b""
    assert got.path == "/hook/pbx.extension.missedcall"
    assert got.raw_query == (
        "id=1&d=50%25%20off%3F&sev=4"
        "&caller_name=Rossi%20%26%20Figli%2F%C3%A9&a%20b=1%2B1%3D2"
        "&j=%7B%22caller_name%22%3A%22Rossi%20%26%20Figli%2F%C3%A9%22%2C"
        "%22a%20b%22%3A%221%2B1%3D2%22%7D"
    )
    assert "Content-Type" not in got.headers


async def test_basic_auth_and_list_entry_severity(pbx: Pbx, hook: Receiver) -> None:
    action = await add_action(
        pbx,
        name="auth",
        url=f"{hook.url}/a",
        auth="basic",
        username="ha",
        password="pa:ss wörd",
        content="%event_severity%",
    )
    await add_entry(pbx, "e1", action)
    await add_entry(pbx, "e2", action, severity="CRITICAL")
    await emit(pbx, "e1", {}, severity="DEBUG")
    await emit(pbx, "e2", {}, severity="DEBUG")
    got = await hook.wait_for(2)
    expected = base64.b64encode("ha:pa:ss wörd".encode()).decode()
    assert [r.headers["Authorization"] for r in got] == [f"Basic {expected}"] * 2
    assert hook.texts() == ["4", "1"]


# ---------------------------------------------------------------- safety


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://192.168.1.10:8123/api/webhook/x",
        "https://example.com/hook",
        "http://127.0.0.1.nip.io/hook",
        "http://0.0.0.0:8123/hook",
        "http://%event_name%/hook",
        "http://127.0.0.1:%event_id%/hook",
        "ftp://127.0.0.1/hook",
        "127.0.0.1/hook",
        "http:///hook",
    ],
)
async def test_non_loopback_urls_are_refused(pbx: Pbx, url: str) -> None:
    for method in ("GET", "POST"):
        status, data = await pbx.ctl(
            "POST",
            "/notifications/actions",
            {"name": "x", "url": url, "method": method},
        )
        assert status == 400, (url, data)
        assert "error" in data
    assert pbx.state.notifications.actions == {}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://127.8.9.10/x",
        "http://[::1]:9/x",
        "http://localhost:9/x",
    ],
)
async def test_loopback_urls_are_accepted(pbx: Pbx, url: str) -> None:
    status, _ = await pbx.ctl(
        "POST", "/notifications/actions", {"name": "x", "url": url}
    )
    assert status == 200


async def test_redirects_are_not_followed(pbx: Pbx, hook: Receiver) -> None:
    # A follow would land here too (a real redirect could lead off loopback).
    hook.status = 302
    hook.location = f"{hook.url}/followed"
    action = await add_action(pbx, name="r", url=f"{hook.url}/r", content="x")
    await add_entry(pbx, "e", action)
    await emit(pbx, "e", {})
    await hook.wait_for(1)
    log = pbx.state.notifications.deliveries
    for _ in range(500):  # logged once the request, redirects included, is over
        if log:
            break
        await asyncio.sleep(0.01)
    assert len(hook.requests) == 1
    assert log[-1]["status"] == 302


# ---------------------------------------------------------------- list and actions


async def test_disabled_or_unmatched_entries_send_nothing(
    pbx: Pbx, hook: Receiver
) -> None:
    on = await add_action(pbx, name="on", url=f"{hook.url}/on", content="%event_id%")
    off = await add_action(
        pbx, name="off", url=f"{hook.url}/off", content="%event_id%", enabled=False
    )
    await add_entry(pbx, "a", off)  # disabled action
    await add_entry(pbx, "b", on, enabled=False)  # disabled entry
    await add_entry(pbx, "pbx.call", on)  # not a prefix match
    gone = await add_entry(pbx, "c", on)
    await add_entry(pbx, "barrier", on)
    assert (await pbx.ctl("DELETE", f"/notifications/list/{gone}"))[0] == 200

    for name in ("a", "b", "pbx.call.start", "c", "barrier"):
        await emit(pbx, name, {})
    await hook.wait_for(1)
    await asyncio.sleep(0.05)
    assert [(r.path, r.text) for r in hook.requests] == [("/on", "5")]


async def test_configuration_and_delivery_log(pbx: Pbx, hook: Receiver) -> None:
    action = await add_action(
        pbx,
        name="A",
        url=f"{hook.url}/x",
        method="post",
        auth="basic",
        username="u",
        password="p",
        content="c",
        content_type="text/plain",
    )
    entry = await add_entry(pbx, "e", action, severity=1)
    status, data = await pbx.ctl("GET", "/notifications")
    assert status == 200
    assert data["actions"] == [
        {
            "id": action,
            "name": "A",
            "url": f"{hook.url}/x",
            "method": "POST",
            "auth": "basic",
            "username": "u",
            "password": "p",
            "content": "c",
            "content_type": "text/plain",
            "enabled": True,
        }
    ]
    assert data["list"] == [
        {
            "id": entry,
            "name": "on e",
            "event": "e",
            "action": action,
            "severity": 1,
            "enabled": True,
        }
    ]
    hook.status = 503
    await emit(pbx, "e", {"k": "v"})
    await hook.wait_for(1)
    for _ in range(100):
        _, data = await pbx.ctl("GET", "/notifications")
        if data["deliveries"]:
            break
        await asyncio.sleep(0.01)
    assert data["deliveries"] == [
        {
            "event_id": 1,
            "event": "e",
            "entry": entry,
            "action": action,
            "url": f"{hook.url}/x",
            "status": 503,
            "error": None,
        }
    ]
    assert data["events"][0]["params"] == {"k": "v"}
    assert data["events"][0]["severity"] == 3

    # An action in use cannot go; once its entry is gone it can.
    assert (await pbx.ctl("DELETE", f"/notifications/actions/{action}"))[0] == 400
    assert (await pbx.ctl("DELETE", f"/notifications/list/{entry}"))[0] == 200
    assert (await pbx.ctl("DELETE", f"/notifications/actions/{action}"))[0] == 200
    assert (await pbx.ctl("DELETE", f"/notifications/actions/{action}"))[0] == 404
    assert (await pbx.ctl("DELETE", "/notifications/list/99"))[0] == 404
    assert (await pbx.ctl("DELETE", "/notifications/list/x"))[0] == 400


async def test_failures_are_logged_and_later_events_still_go(
    pbx: Pbx, hook: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with receiver() as closed:
        dead_url = f"{closed.url}/dead"
    dead = await add_action(pbx, name="dead", url=dead_url, content="x")
    live = await add_action(pbx, name="live", url=f"{hook.url}/l", content="y")
    await add_entry(pbx, "e", dead)
    await add_entry(pbx, "e", live)
    await emit(pbx, "e", {})
    await hook.wait_for(1)
    _, data = await pbx.ctl("GET", "/notifications")
    first, second = data["deliveries"]
    assert (first["url"], first["status"]) == (dead_url, None)
    assert first["error"]
    assert (second["status"], second["error"]) == (200, None)


async def test_a_slow_receiver_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "TIMEOUT_S", 0.2)
    gate = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await gate.wait()
        return web.Response()

    app = web.Application()
    app.router.add_post("/slow", slow)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = int(runner.addresses[0][1])
    try:
        async with serve(build_scenario(5)) as pbx:
            action = await add_action(
                pbx, name="s", url=f"http://127.0.0.1:{port}/slow", content="x"
            )
            await add_entry(pbx, "e", action)
            await emit(pbx, "e", {})
            for _ in range(200):
                if pbx.state.notifications.deliveries:
                    break
                await asyncio.sleep(0.01)
            (log,) = pbx.state.notifications.deliveries
            assert log["status"] is None
            assert "timeout" in log["error"]
    finally:
        gate.set()
        await runner.cleanup()


async def test_param_names_rename_event_keys(pbx: Pbx, hook: Receiver) -> None:
    action = await add_action(
        pbx, name="j", url=hook.url, content="%call_params[JSON]%"
    )
    await add_entry(pbx, "e", action)
    status, data = await pbx.ctl(
        "POST", "/notifications/param_names", {"extension": "exten"}
    )
    assert (status, data["param_names"]) == (200, {"extension": "exten"})
    await emit(pbx, "e", {"extension": "201", "caller_num": "3"})
    assert (await pbx.ctl("POST", "/notifications/param_names", {}))[0] == 200
    await emit(pbx, "e", {"extension": "201"})
    await hook.wait_for(2)
    assert hook.texts() == [
        '{"exten":"201","caller_num":"3"}',
        '{"extension":"201"}',
    ]
    bad = await pbx.ctl("POST", "/notifications/param_names", {"a": "b c"})
    assert bad[0] == 400


async def test_bad_notification_input(pbx: Pbx) -> None:
    url = "http://127.0.0.1:9/x"
    action = await add_action(pbx, name="ok", url=url)
    bad = [
        ("/notifications/actions", {"url": url}),
        ("/notifications/actions", {"name": "x"}),
        ("/notifications/actions", {"name": "", "url": url}),
        ("/notifications/actions", {"name": "x", "url": url, "method": "PUT"}),
        ("/notifications/actions", {"name": "x", "url": url, "auth": "digest"}),
        ("/notifications/actions", {"name": "x", "url": url, "auth": "basic"}),
        (
            "/notifications/actions",
            {"name": "x", "url": url, "method": "GET", "content": "%event_id%"},
        ),
        ("/notifications/actions", {"name": "x", "url": url, "content_type": "a\nb"}),
        ("/notifications/actions", {"name": "x", "url": url, "enabled": "yes"}),
        ("/notifications/actions", {"name": "x", "url": 5}),
        ("/notifications/list", {"name": "x", "event": "e", "action": 99}),
        ("/notifications/list", {"name": "x", "event": "e", "action": "1"}),
        ("/notifications/list", {"name": "x", "event": "", "action": action}),
        ("/notifications/list", {"name": "x", "action": action}),
        (
            "/notifications/list",
            {"name": "x", "event": "e", "action": action, "severity": 7},
        ),
        (
            "/notifications/list",
            {"name": "x", "event": "e", "action": action, "severity": "LOUD"},
        ),
        ("/event", {"params": {}}),
        ("/event", {"name": "e", "params": {"a": 1}}),
        ("/event", {"name": "e", "params": ["a"]}),
        ("/event", {"name": "e", "severity": True}),
        ("/event", {"name": "e\u0001"}),
        ("/notifications/param_names", {"a": 1}),
    ]
    for path, payload in bad:
        status, data = await pbx.ctl("POST", path, payload)
        assert status == 400, (path, payload, data)
        assert "error" in data
    _, data = await pbx.ctl("GET", "/notifications")
    assert len(data["actions"]) == 1
    assert data["list"] == []
    assert data["events"] == []


# ---------------------------------------------------------------- scripted calls


async def watch_calls(pbx: Pbx, hook: Receiver) -> None:
    action = await add_action(
        pbx,
        name="calls",
        url=f"{hook.url}/calls",
        content='{"event":"%event_name%","params":%call_params[JSON]%}',
    )
    for event in CALL_EVENTS:
        await add_entry(pbx, event, action)


async def call(pbx: Pbx, **body: Any) -> str:
    payload = {"ring_time": 0, "talk_time": 0, **body}
    status, data = await pbx.ctl("POST", "/call", payload)
    assert status == 200, data
    return str(data["uniqueid"])


async def events_until_end(
    hook: Receiver, start: int = 0
) -> list[tuple[str, dict[str, str]]]:
    async with asyncio.timeout(5):
        while True:
            got = [json.loads(t) for t in hook.texts()[start:]]
            if any(g["event"] == "pbx.call.end" for g in got):
                return [(g["event"], g["params"]) for g in got]
            await hook.wait_for(len(hook.requests) + 1)


async def vm_new(pbx: Pbx, mailbox: str) -> int:
    answer = await pbx.call("GET", f"/voicemails/count/{mailbox}")
    return int(answer.xml().findtext("voicemails/voicemail/new_messages") or -1)


async def test_answered_outside_call(pbx: Pbx, hook: Receiver) -> None:
    await watch_calls(pbx, hook)
    to = first_with(pbx.state)
    uid = await call(
        pbx,
        **{"from": "+390612345678", "to": to, "outcome": "answered"},
        caller_name="Mario Rossi",
        ring_time=0.05,
        talk_time=1.2,
    )
    assert re.fullmatch(r"\d{10}\.\d+", uid)
    trunk = next(iter(pbx.state.gateways.values())).name
    numbers = {"caller_num": "+390612345678", "called_num": to}
    assert await events_until_end(hook) == [
        (
            "pbx.account.incomingcall",
            {"uniqueid": uid, "account": trunk, **numbers},
        ),
        (
            "pbx.call.start",
            {
                "uniqueid": uid,
                "caller_num": "+390612345678",
                "caller_name": "Mario Rossi",
                "called_num": to,
            },
        ),
        (
            "pbx.extension.incomingcall",
            {
                "uniqueid": uid,
                "extension": to,
                "caller_num": "+390612345678",
                "caller_name": "Mario Rossi",
                "called_num": to,
            },
        ),
        ("pbx.extension.answercall", {"uniqueid": uid, "extension": to, **numbers}),
        ("pbx.call.end", {"uniqueid": uid, **numbers, "duration": "1"}),
    ]
    record = pbx.state.cdr[-1]
    assert (record.unique_id, record.direction, record.status) == (uid, 1, 8)
    assert (record.caller_num, record.caller_name, record.called_num) == (
        "+390612345678",
        "Mario Rossi",
        to,
    )
    assert (record.answered_by, record.gateway_name) == (to, trunk)
    assert (record.billsec, record.duration) == (1, 1)
    assert v4_row(record)["status"] == "OK"
    assert pbx.state.active_calls == {}


async def test_outside_call_to_a_did(pbx: Pbx, hook: Receiver) -> None:
    await watch_calls(pbx, hook)
    to = first_with(pbx.state)
    await call(
        pbx, **{"from": "0298765432", "to": to, "outcome": "busy"}, did="0287654700"
    )
    events = await events_until_end(hook)
    assert [e for e, _ in events] == [
        "pbx.account.incomingcall",
        "pbx.call.start",
        "pbx.extension.incomingcall",
        "pbx.extension.failedcall",
        "pbx.call.end",
    ]
    assert {p["called_num"] for _, p in events} == {"0287654700"}
    assert events[3][1]["extension"] == to
    assert events[2][1]["caller_name"] == ""


async def test_missed_internal_call_leaves_a_voicemail(
    pbx: Pbx, hook: Receiver
) -> None:
    await watch_calls(pbx, hook)
    state = pbx.state
    to = first_with(state, vm=True)
    caller = next(e for e in state.sorted_extens() if e != to)
    name = state.extensions[caller].display_name
    before = await vm_new(pbx, to)
    uid = await call(pbx, **{"from": caller, "to": to, "outcome": "missed"})
    numbers = {"caller_num": caller, "called_num": to}
    assert await events_until_end(hook) == [
        ("pbx.call.start", {"uniqueid": uid, **numbers, "caller_name": name}),
        (
            "pbx.extension.incomingcall",
            {"uniqueid": uid, "extension": to, **numbers, "caller_name": name},
        ),
        (
            "pbx.extension.missedcall",
            {"uniqueid": uid, "extension": to, **numbers, "caller_name": name},
        ),
        ("pbx.call.end", {"uniqueid": uid, **numbers, "duration": "0"}),
    ]
    for _ in range(100):
        if await vm_new(pbx, to) == before + 1:
            break
        await asyncio.sleep(0.01)
    assert await vm_new(pbx, to) == before + 1
    record = state.cdr[-1]
    assert (record.unique_id, record.direction, record.status) == (uid, 4, 4)
    assert record.answer is None
    assert record.answered_by == ""
    assert v4_row(record)["status"] == "NOANSWER"


async def test_missed_call_event_flag_and_no_voicemail(
    pbx: Pbx, hook: Receiver
) -> None:
    await watch_calls(pbx, hook)
    state = pbx.state
    to = first_with(state, vm=False)
    status, data = await pbx.ctl(
        "POST", "/missed_call_event", {"exten": to, "generate": False}
    )
    assert (status, data["extension"]["missed_call_event"]) == (200, False)
    await call(pbx, **{"from": "3331234567", "to": to, "outcome": "missed"})
    events = await events_until_end(hook)
    assert [e for e, _ in events] == [
        "pbx.account.incomingcall",
        "pbx.call.start",
        "pbx.extension.incomingcall",
        "pbx.call.end",
    ]
    assert state.voicemails.get(to) is None
    assert (
        await pbx.ctl("POST", "/missed_call_event", {"exten": to, "generate": True})
    )[0] == 200
    await call(pbx, **{"from": "3331234567", "to": to, "outcome": "missed"})
    events = await events_until_end(hook, start=len(hook.requests))
    assert "pbx.extension.missedcall" in [e for e, _ in events]


@pytest.mark.parametrize(
    ("outcome", "reason", "status"), [("busy", "BUSY", 2), ("failed", "FAILED", 1)]
)
async def test_busy_and_failed_calls(
    pbx: Pbx, hook: Receiver, outcome: str, reason: str, status: int
) -> None:
    await watch_calls(pbx, hook)
    state = pbx.state
    to, caller = state.sorted_extens()[:2]
    uid = await call(pbx, **{"from": caller, "to": to, "outcome": outcome}, ring_time=9)
    numbers = {"caller_num": caller, "called_num": to}
    events = await events_until_end(hook)
    assert [e for e, _ in events] == [
        "pbx.call.start",
        "pbx.extension.incomingcall",
        "pbx.extension.failedcall",
        "pbx.call.end",
    ]
    assert events[2][1] == {
        "uniqueid": uid,
        "extension": to,
        **numbers,
        "reason": reason,
    }
    assert events[3][1] == {"uniqueid": uid, **numbers, "duration": "0"}
    record = state.cdr[-1]
    assert (record.unique_id, record.status, record.billsec) == (uid, status, 0)
    assert v4_row(record)["status"] == reason


async def test_scripted_call_shows_in_cdr_v3(pbx: Pbx, hook: Receiver) -> None:
    await watch_calls(pbx, hook)
    to = first_with(pbx.state)
    uid = await call(pbx, **{"from": "0612345678", "to": to, "outcome": "answered"})
    await events_until_end(hook)
    md5 = hashlib.md5(
        pbx.state.privacy_password.encode(), usedforsecurity=False
    ).hexdigest()
    answer = await pbx.call(
        "POST",
        "/cdr",
        req(
            "cdr",
            f"<privacy_password>{md5}</privacy_password>"
            f"<filter><unique_id>{uid}</unique_id></filter>",
        ),
    )
    (row,) = answer.xml().findall("cdr/calls/call")
    assert row.findtext("caller_num") == "0612345678"
    assert row.findtext("called_num") == to
    assert row.findtext("direction") == "1"
    assert row.findtext("status") == "8"


async def test_scripted_call_shows_in_cdr_v4(hook: Receiver) -> None:
    async with serve(build_scenario(10, auth="v4")) as pbx:
        await watch_calls(pbx, hook)
        to, caller = pbx.state.sorted_extens()[:2]
        uid = await call(pbx, **{"from": caller, "to": to, "outcome": "busy"})
        await events_until_end(hook)
        answer = await pbx.call("GET", "/cdr/summary")
        (row,) = [c for c in answer.calls() if c.findtext("id") == uid]
        assert row.findtext("status") == "BUSY"
        assert row.findtext("caller") == caller
        assert row.findtext("called") == to


async def test_calls_in_progress_and_clean_shutdown(hook: Receiver) -> None:
    state = build_scenario(10)
    async with serve(state) as pbx:
        await watch_calls(pbx, hook)
        to = first_with(state)
        uid = await call(
            pbx, **{"from": "0612345678", "to": to, "outcome": "answered"}, ring_time=30
        )
        status, data = await pbx.ctl("GET", "/calls")
        assert status == 200
        assert data["calls"] == []
        (active,) = data["in_progress"]
        assert (active["uniqueid"], active["from"], active["to"]) == (
            uid,
            "0612345678",
            to,
        )
        assert (active["outcome"], active["stage"]) == ("answered", "ringing")
        await hook.wait_for(3)
        records = len(state.cdr)
    # Leaving the block cancels the call and stops the sender.
    assert state.notifications.sink is None
    assert len(state.cdr) == records
    assert [json.loads(t)["event"] for t in hook.texts()] == [
        "pbx.account.incomingcall",
        "pbx.call.start",
        "pbx.extension.incomingcall",
    ]


async def test_bad_call_input(pbx: Pbx) -> None:
    to = first_with(pbx.state)
    good = {"from": "0612345678", "to": to, "outcome": "answered"}
    assert (await pbx.ctl("POST", "/call", {**good, "to": "999"}))[0] == 404
    bad = [
        {**good, "outcome": "ringing"},
        {**good, "from": "abc"},
        {**good, "from": "06-1234"},
        {**good, "from": to},
        {**good, "ring_time": -1},
        {**good, "talk_time": "5"},
        {**good, "ring_time": 99999},
        {**good, "caller_name": 3},
        {**good, "did": "x1"},
        {"to": to, "outcome": "answered"},
        {"from": "0612345678", "outcome": "answered"},
        {"from": "0612345678", "to": to},
        {**good, "from": pbx.state.sorted_extens()[-1], "did": "0211"},
    ]
    for payload in bad:
        status, data = await pbx.ctl("POST", "/call", payload)
        assert status == 400, (payload, data)
        assert "error" in data
    assert (
        await pbx.ctl("POST", "/missed_call_event", {"exten": "999", "generate": False})
    )[0] == 400
    assert (
        await pbx.ctl("POST", "/missed_call_event", {"exten": to, "generate": "no"})
    )[0] == 400
    assert pbx.state.notifications.events.maxlen == notify.LOG_SIZE
    assert not pbx.state.notifications.events
    assert pbx.state.active_calls == {}
