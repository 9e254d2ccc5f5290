"""The bench's live-events section: the webhook under load, at 1000 extensions.

A worker sets up the real integration with live events on, starts Home
Assistant's own HTTP server (`hass.http.start()`, as in production) on
loopback, and has a sender in a process of its own POST rendered
notifications to `/api/webhook/<id>`, so the sender's work never shows in
Home Assistant's event loop. Both processes read the same system-wide
monotonic clock: the latency of an event runs from the moment the sender
starts its POST to the `state_changed` of the extension's call-state sensor
(the last of the extension's entities the event writes).

Phases: 1, 50 and 500 events/s (the last for 10 s), then a 10,000-event
flood. Each is a mix of calls from outside numbers, spread over every
extension: `call.start`, `incomingcall`, then `answercall` and `call.end`
(70 %) or `missedcall` and `call.end` (30 %), the events of one call a fixed
number of events apart so that calls overlap.
"""

from __future__ import annotations

import asyncio
from base64 import b64encode
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
import gc
import json
import math
import os
import random
import resource
import socket
import sys
import tempfile
import time
from typing import Any

# Phases: (name, events/s or 0 for as fast as possible, events).
PHASES = (
    ("1/s", 1.0, 180),
    ("50/s", 50.0, 1500),
    ("500/s", 500.0, 5000),
    ("flood", 0.0, 10_000),
    ("flood 2", 0.0, 10_000),
)
QUICK_PHASES = (
    ("1/s", 1.0, 60),
    ("50/s", 50.0, 500),
    ("500/s", 500.0, 5000),
    ("flood", 0.0, 10_000),
    ("flood 2", 0.0, 10_000),
)
# Requests the flood keeps in flight (a PBX sends one at a time; this is harsher).
FLOOD_IN_FLIGHT = 16
# The sender's connections, kept alive: a POST waiting for one counts in its
# latency. (Opening new ones under load adds the kernel's SYN retries.)
SENDER_CONNECTIONS = 16
# Events between two events of one call, at most (~100 ms at the phase's rate).
CALL_SPREAD_S = 0.1
MAX_CONCURRENT_CALLS = 200
ANSWERED_SHARE = 0.7
# Callers: most from a pool of regulars, some never seen before (phonebook lookups).
REGULAR_CALLERS = 200
NEW_CALLER_SHARE = 0.2
REGISTRY_SAVE_WAIT_S = 12.0
# How long to wait for the last writes of a phase after the last response.
SETTLE_S = 10.0
# Events/s at which targeted requests are counted per hour (900 calls an hour).
NOMINAL_EVENTS_PER_S = 1.0

BUDGET_P99_MS_AT_50 = 20.0
# RSS after a full collection may grow this much over a 10,000-event flood:
# under 210 bytes an event, far less than keeping any part of each event.
BUDGET_FLOOD_FLAT_MB = 2.0


def monotonic() -> float:
    """The system-wide monotonic clock, the same in every process."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


# ---------------------------------------------------------------- sender process


async def serve_sender() -> None:
    """POST batches of notifications as the worker asks, over stdin/stdout.

    First line: `{"url", "authorization"}`. Then per batch: a line
    `{"rate", "in_flight", "bodies"}`, answered `{"loaded": n}`; a line `go`;
    answered `{"done", "wall_s"}` once every response is in, then
    `{"starts", "ends", "statuses"}` (monotonic seconds, per body).
    """
    import aiohttp

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**30)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )

    def reply(data: Any) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    config = json.loads(await reader.readline())
    headers = {
        "Content-Type": "application/json",
        "Authorization": config["authorization"],
    }
    url = config["url"]
    connector = aiohttp.TCPConnector(limit=SENDER_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as session:
        while line := await reader.readline():
            job = json.loads(line)
            bodies: list[bytes] = [body.encode() for body in job["bodies"]]
            reply({"loaded": len(bodies)})
            await reader.readline()
            timings, wall = await _send_batch(
                session, url, headers, bodies, job["rate"], job["in_flight"]
            )
            reply({"done": True, "wall_s": wall})
            reply(timings)


async def _send_batch(
    session: Any,
    url: str,
    headers: dict[str, str],
    bodies: list[bytes],
    rate: float,
    in_flight: int,
) -> tuple[dict[str, list[Any]], float]:
    """POST every body at `rate` a second (0: as fast as `in_flight` allows)."""
    import aiohttp

    count = len(bodies)
    starts = [0.0] * count
    ends = [0.0] * count
    statuses = [0] * count

    async def post(index: int) -> None:
        starts[index] = monotonic()
        try:
            async with session.post(url, data=bodies[index], headers=headers) as answer:
                await answer.read()
                statuses[index] = answer.status
        except aiohttp.ClientError:
            statuses[index] = -1
        ends[index] = monotonic()

    slots = asyncio.Semaphore(in_flight)

    async def bounded(index: int) -> None:
        try:
            await post(index)
        finally:
            slots.release()

    tasks: list[asyncio.Task[None]] = []
    began = monotonic()
    for index in range(count):
        if rate:
            # Open loop: each POST starts on time, whatever the others do.
            delay = began + index / rate - monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(index)))
        else:
            await slots.acquire()
            tasks.append(asyncio.create_task(bounded(index)))
    await asyncio.gather(*tasks)
    wall = monotonic() - began
    return {"starts": starts, "ends": ends, "statuses": statuses}, wall


class Sender:
    """The sender process, seen from the worker."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        """Talks to a started `--send-events` process."""
        self.proc = proc

    async def _line(self) -> Any:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the event sender stopped")
        return json.loads(line)

    async def _write(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def load(self, bodies: list[str], rate: float, in_flight: int) -> None:
        """Hand over a batch; it is sent on `go`."""
        await self._write(
            json.dumps({"rate": rate, "in_flight": in_flight, "bodies": bodies})
        )
        await self._line()

    async def go(self) -> float:
        """Send the loaded batch; its wall time once every response is in."""
        await self._write("go")
        return float((await self._line())["wall_s"])

    async def timings(self) -> dict[str, list[Any]]:
        """Start and end of each POST, and its status."""
        result: dict[str, list[Any]] = await self._line()
        return result


async def start_sender(url: str, username: str, password: str) -> Sender:
    """The sender in a process of its own."""
    from scripts.bench import ROOT

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.bench",
        "--send-events",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**30,
    )
    sender = Sender(proc)
    token = b64encode(f"{username}:{password}".encode()).decode()
    await sender._write(  # noqa: SLF001
        json.dumps({"url": url, "authorization": f"Basic {token}"})
    )
    return sender


# ---------------------------------------------------------------- the plan


@dataclass(slots=True)
class Planned:
    """One event to send, and what it should write for its extension."""

    body: str
    exten: str
    # The call-state sensor's new state and the call event's type, if any.
    state: str | None
    notice: str | None


class Plan:
    """Calls over all extensions, rendered as the PBX renders the template."""

    def __init__(self, extensions: list[str], seed: int = 5) -> None:
        """Extensions are taken in a shuffled round, so every one gets calls."""
        self._rng = random.Random(seed)
        self._extensions = list(extensions)
        self._rng.shuffle(self._extensions)
        self._next_exten = 0
        self._event_id = 0
        # The PBX's clock never runs backwards: a phase planned while the one
        # before was faster than its nominal rate must not stamp events older
        # than that phase's (the tracker would rightly drop them as stale).
        self._next_stamp = 0.0
        self._call = 0
        self._fresh = 0
        self._regulars = [f"06{self._rng.randrange(10**8):08d}" for _ in range(200)]

    def _caller(self) -> str:
        if self._rng.random() < NEW_CALLER_SHARE:
            self._fresh += 1
            return f"07{self._fresh:08d}"
        return self._rng.choice(self._regulars)

    def _one_call(
        self,
    ) -> list[tuple[str, dict[str, str], str, str | None, str | None]]:
        exten = self._extensions[self._next_exten % len(self._extensions)]
        self._next_exten += 1
        self._call += 1
        call_id = f"1764640000.{self._call}"
        caller = self._caller()
        base = {"uniqueid": call_id, "caller_num": caller, "called_num": "0240404040"}
        ext = {**base, "extension": exten}
        if self._rng.random() < ANSWERED_SHARE:
            return [
                ("pbx.call.start", base, exten, None, None),
                ("pbx.extension.incomingcall", ext, exten, "ringing", "incoming"),
                ("pbx.extension.answercall", ext, exten, "in_call", "answered"),
                (
                    "pbx.call.end",
                    {**base, "duration": str(self._rng.randint(5, 600))},
                    exten,
                    "idle",
                    "ended",
                ),
            ]
        return [
            ("pbx.call.start", base, exten, None, None),
            ("pbx.extension.incomingcall", ext, exten, "ringing", "incoming"),
            ("pbx.extension.missedcall", ext, exten, "idle", "missed"),
            ("pbx.call.end", {**base, "duration": "0"}, exten, None, None),
        ]

    def phase(self, count: int, rate: float) -> list[Planned]:
        """`count` events (a multiple of 4); every call started is finished.

        The calls under way take turns, one event each, so the events of one
        call are as many events apart as there are calls under way.
        """
        from custom_components.kalliopepbx.api import NOTIFICATION_TEMPLATE

        concurrent = (
            max(1, min(MAX_CONCURRENT_CALLS, round(rate * CALL_SPREAD_S)))
            if rate
            else MAX_CONCURRENT_CALLS
        )
        # One extension at most one call at a time.
        concurrent = min(concurrent, len(self._extensions) // 2)
        slots: list[Iterator[Any]] = []
        out: list[Planned] = []
        started = max(time.time(), self._next_stamp)
        turn = 0
        planned = 0
        while slots or planned < count:
            if len(slots) < concurrent and planned < count:
                call = self._one_call()
                planned += len(call)
                slots.append(iter(call))
            index = turn % len(slots)
            step = next(slots[index], None)
            if step is None:
                del slots[index]
                continue
            turn += 1
            name, params, exten, state, notice = step
            self._event_id += 1
            stamp = started + (len(out) / rate if rate else len(out) / 1000)
            body = NOTIFICATION_TEMPLATE
            for placeholder, value in (
                ("%event_id%", str(self._event_id)),
                ("%event_name%", name),
                ("%event_severity%", "3"),
                ("%event_timestamp%", f"{math.floor(stamp * 10) / 10:.1f}"),
                ("%event_description%", ""),
                ("%call_params[JSON]%", json.dumps(params, separators=(",", ":"))),
            ):
                body = body.replace(placeholder, value)
            out.append(Planned(body, exten, state, notice))
            self._next_stamp = stamp + 0.1
        return out


# ---------------------------------------------------------------- measuring


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


class Recorder:
    """Every call-state change and call event per extension, with its time."""

    def __init__(self, entities: dict[str, tuple[str, str]]) -> None:
        """`entities`: entity id -> (extension, "state" or "notice")."""
        self.entities = entities
        self.states: dict[str, list[tuple[str, float]]] = defaultdict(list)
        self.notices: dict[str, list[tuple[str, float]]] = defaultdict(list)
        self.attribute_only = 0
        self.recorded = 0
        self.expected = 0
        self.complete = asyncio.Event()

    def reset(self, expected: int) -> None:
        """Forget what was recorded; `complete` is set after `expected` changes."""
        self.states.clear()
        self.notices.clear()
        self.attribute_only = 0
        self.recorded = 0
        self.expected = expected
        self.complete.clear()

    def on_changed(self, event: Any) -> None:
        """A `state_changed` listener (runs at once, inside the write)."""
        now = monotonic()
        data = event.data
        what = self.entities.get(data["entity_id"])
        if what is None:
            return
        exten, kind = what
        new = data["new_state"]
        if new is None:
            return
        if kind == "state":
            old = data["old_state"]
            # A caller's name found later rewrites attributes, not the state.
            if old is not None and old.state == new.state:
                self.attribute_only += 1
                return
            self.states[exten].append((new.state, now))
            self.recorded += 1
            if self.recorded >= self.expected:
                self.complete.set()
        else:
            self.notices[exten].append((new.attributes.get("event_type"), now))


def compare(
    plan: list[Planned], starts: list[float], recorder: Recorder
) -> dict[str, Any]:
    """Written against sent, per extension; latency of each matched write."""
    expected_states: dict[str, list[tuple[str, float]]] = defaultdict(list)
    expected_notices: dict[str, list[str]] = defaultdict(list)
    for planned, start in zip(plan, starts, strict=True):
        if planned.state is not None:
            expected_states[planned.exten].append((planned.state, start))
        if planned.notice is not None:
            expected_notices[planned.exten].append(planned.notice)
    latencies: list[float] = []
    lost = extra = reordered = 0
    for exten, expected in expected_states.items():
        written = recorder.states.get(exten, [])
        if [s for s, _ in written] != [s for s, _ in expected]:
            if len(written) < len(expected):
                lost += len(expected) - len(written)
            elif len(written) > len(expected):
                extra += len(written) - len(expected)
            else:
                reordered += 1
        for (want, start), (got, at) in zip(expected, written, strict=False):
            if want == got:
                latencies.append((at - start) * 1000)
    extra += sum(
        len(written)
        for exten, written in recorder.states.items()
        if exten not in expected_states
    )
    notices_lost = notices_wrong = 0
    for exten, expected_kinds in expected_notices.items():
        got_kinds = [kind for kind, _ in recorder.notices.get(exten, [])]
        if got_kinds != expected_kinds:
            if len(got_kinds) < len(expected_kinds):
                notices_lost += len(expected_kinds) - len(got_kinds)
            else:
                notices_wrong += 1
    expected_count = sum(len(v) for v in expected_states.values())
    return {
        "extensions": len(expected_states),
        "state_changes_expected": expected_count,
        "state_changes_written": recorder.recorded,
        "state_changes_lost": lost,
        "state_changes_extra": extra,
        "extensions_reordered": reordered,
        "call_events_expected": sum(len(v) for v in expected_notices.values()),
        "call_events_written": sum(len(v) for v in recorder.notices.values()),
        "call_events_lost": notices_lost,
        "extensions_call_events_wrong": notices_wrong,
        "attribute_only_writes": recorder.attribute_only,
        "latency_ms": {
            "n": len(latencies),
            "p50": percentile(latencies, 0.5),
            "p90": percentile(latencies, 0.9),
            "p99": percentile(latencies, 0.99),
            "max": max(latencies, default=None),
        },
    }


def _round_trips(timings: dict[str, list[Any]]) -> dict[str, Any]:
    """POST start to response, as the sender saw it."""
    rtts = [
        (end - start) * 1000
        for start, end in zip(timings["starts"], timings["ends"], strict=True)
    ]
    return {
        "http_rtt_ms_p50": percentile(rtts, 0.5),
        "http_rtt_ms_max": max(rtts, default=None),
        "http_over_1s": sum(1 for rtt in rtts if rtt > 1000),
    }


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def coordinators(runtime: Any) -> dict[str, Any]:
    """The entry's polling coordinators, by field name, whatever they are."""
    from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

    return {
        name: value
        for name, value in vars(runtime).items()
        if isinstance(value, DataUpdateCoordinator)
    }


def intervals_s(runtime: Any) -> dict[str, float | None]:
    """Each coordinator's `update_interval` now, in seconds."""
    return {
        name: coordinator.update_interval.total_seconds()
        if coordinator.update_interval
        else None
        for name, coordinator in coordinators(runtime).items()
    }


class Timed:
    """Loop-thread CPU spent in one function, summed over its calls."""

    def __init__(self, function: Callable[..., Any]) -> None:
        """Wraps `function`."""
        self.function = function
        self.cpu = 0.0
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call it and add its CPU time."""
        start = time.thread_time()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.cpu += time.thread_time() - start
            self.calls += 1

    def take(self) -> tuple[float, int]:
        """What was summed since the last take."""
        taken = self.cpu, self.calls
        self.cpu, self.calls = 0.0, 0
        return taken


class GcWatch:
    """Garbage-collector pauses on the loop thread, by generation."""

    def __init__(self) -> None:
        """Installed at once."""
        self.started = 0.0
        self.reset()
        gc.callbacks.append(self._on_gc)

    def reset(self) -> None:
        """Start counting again."""
        self.collections = [0, 0, 0]
        self.pause_ms = [0.0, 0.0, 0.0]
        self.longest_ms = [0.0, 0.0, 0.0]
        self.pauses: list[tuple[float, float]] = []

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = monotonic()
            return
        now = monotonic()
        pause = (now - self.started) * 1000
        generation = info.get("generation", 0)
        self.collections[generation] += 1
        self.pause_ms[generation] += pause
        self.longest_ms[generation] = max(self.longest_ms[generation], pause)
        if pause > 5:
            self.pauses.append((self.started, pause))

    def summary(self) -> dict[str, Any]:
        """What was counted, JSON-able."""
        return {
            "collections": list(self.collections),
            "pause_ms": [round(p, 1) for p in self.pause_ms],
            "longest_ms": [round(p, 1) for p in self.longest_ms],
        }


# ---------------------------------------------------------------- the worker


class EventsWorker:
    """Live events on: setup cost, then the phases (unless `setup_only`)."""

    def __init__(
        self, size: int, latency_ms: float, *, quick: bool, setup_only: bool
    ) -> None:
        """What to measure."""
        self.size = size
        self.latency_ms = latency_ms
        self.quick = quick
        self.setup_only = setup_only
        self.control: Any = None
        self.control_url = ""

    async def _voicemail_after_missed(
        self, hass: Any, runtime: Any, live: Any, http_port: int, data: Any
    ) -> float | None:
        """A missed call placed through the simulator, as the PBX sends it: the
        seconds from its end event to the left message's count in Home Assistant.
        """
        from homeassistant.const import CONF_WEBHOOK_ID

        from custom_components.kalliopepbx.api import NOTIFICATION_TEMPLATE
        from custom_components.kalliopepbx.const import (
            CONF_WEBHOOK_PASSWORD,
            CONF_WEBHOOK_USERNAME,
        )

        action = await self._control(
            "POST",
            "/notifications/actions",
            {
                "name": "Home Assistant",
                "url": f"http://127.0.0.1:{http_port}/api/webhook/{data[CONF_WEBHOOK_ID]}",
                "method": "POST",
                "auth": "basic",
                "username": data[CONF_WEBHOOK_USERNAME],
                "password": data[CONF_WEBHOOK_PASSWORD],
                "content": NOTIFICATION_TEMPLATE,
            },
        )
        for event in (
            "pbx.call.start",
            "pbx.call.end",
            "pbx.extension.incomingcall",
            "pbx.extension.missedcall",
        ):
            await self._control(
                "POST",
                "/notifications/list",
                {"name": event, "event": event, "action": action["id"]},
            )
        mailbox = sorted(runtime.voicemail.mailboxes_to_poll())[0]
        before = runtime.voicemail_count(mailbox).new
        ended: list[float] = []
        follow = live.on_unanswered

        def unanswered(extens: set[str]) -> None:
            if mailbox in extens and not ended:
                ended.append(time.monotonic())
            if follow is not None:
                follow(extens)

        live.on_unanswered = unanswered
        await self._control(
            "POST",
            "/call",
            {
                "from": "+390612345678",
                "to": mailbox,
                "outcome": "missed",
                "ring_time": 1,
            },
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            count = runtime.voicemail_count(mailbox)
            if ended and count is not None and count.new > before:
                return time.monotonic() - ended[0]
            await asyncio.sleep(0.05)
        return None

    async def _control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.control.request(
            method, f"{self.control_url}{path}", json=body
        ) as response:
            response.raise_for_status()
            return await response.json()

    async def run(self) -> dict[str, Any]:
        """Everything, as a JSON-able dict."""
        from scripts.bench import simulator_process

        async with simulator_process(self.size, self.latency_ms) as port:
            self.control_url = f"http://127.0.0.1:{port}/_sim"
            with tempfile.TemporaryDirectory(prefix="kalliopepbx-bench-") as config:
                return await self._run_in_hass(port, config)

    async def _run_in_hass(self, port: int, config_dir: str) -> dict[str, Any]:
        import aiohttp
        from homeassistant import loader
        from homeassistant.helpers import aiohttp_client
        from homeassistant.setup import async_setup_component
        from pytest_homeassistant_custom_component.common import (
            async_test_home_assistant,
        )

        aiohttp_client._async_make_resolver = (  # type: ignore[assignment] # noqa: SLF001
            lambda _hass: aiohttp.ThreadedResolver()
        )
        async with (
            async_test_home_assistant(config_dir=config_dir) as hass,
            aiohttp.ClientSession() as control,
        ):
            self.control = control
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            http_port = free_port()
            # Home Assistant's own server, bound to loopback; started below.
            assert await async_setup_component(
                hass,
                "http",
                {"http": {"server_host": ["127.0.0.1"], "server_port": http_port}},
            )
            try:
                return await self._measure(hass, port, http_port)
            finally:
                with suppress(Exception):
                    await hass.http.stop()
                await hass.async_stop(force=True)

    async def _measure(self, hass: Any, port: int, http_port: int) -> dict[str, Any]:
        from homeassistant.const import CONF_WEBHOOK_ID, EVENT_STATE_CHANGED
        from homeassistant.core import callback
        from homeassistant.helpers import entity_registry as er

        from custom_components.kalliopepbx import webhook_receiver
        from custom_components.kalliopepbx.const import (
            CONF_LIVE_EVENTS,
            CONF_WEBHOOK_PASSWORD,
            CONF_WEBHOOK_USERNAME,
        )
        from scripts.bench import Worker, _collapse, _rss_bytes

        gc.collect()
        rss_before = _rss_bytes()
        entry = Worker(self.size, self.latency_ms, self.quick)._entry(  # noqa: SLF001
            port, options={CONF_LIVE_EVENTS: True}
        )
        entry.add_to_hass(hass)
        start = time.perf_counter()
        if not await hass.config_entries.async_setup(entry.entry_id):
            raise RuntimeError("the integration did not set up")
        await hass.async_block_till_done()
        setup_s = time.perf_counter() - start
        registry = er.async_get(hass)
        entries = er.async_entries_for_config_entry(registry, entry.entry_id)
        enabled = [e for e in entries if e.disabled_by is None]
        gc.collect()
        rss_after = _rss_bytes()
        result: dict[str, Any] = {
            "extensions": self.size,
            "latency_ms": self.latency_ms,
            "live_events": True,
            "setup_s": setup_s,
            "entities": len(entries),
            "entities_enabled": len(enabled),
            "rss_growth_mb": (rss_after - rss_before) / 2**20,
        }
        if self.setup_only:
            await hass.config_entries.async_unload(entry.entry_id)
            return result

        runtime = entry.runtime_data
        live = runtime.live
        pbx_id = runtime.system.pbx_id
        watched: dict[str, tuple[str, str]] = {}
        by_exten: dict[str, set[str]] = defaultdict(set)
        for e in enabled:
            for suffix, kind in (("_call_state", "state"), ("_call", "notice")):
                exten = e.unique_id.removeprefix(f"{pbx_id}_").removesuffix(suffix)
                if e.unique_id == f"{pbx_id}_{exten}{suffix}" and exten.isdigit():
                    watched[e.entity_id] = (exten, kind)
                    by_exten[exten].add(kind)
        extensions = sorted(x for x, kinds in by_exten.items() if len(kinds) == 2)
        recorder = Recorder(watched)
        # A callback: run inside the write, not handed to the executor.
        hass.bus.async_listen(
            EVENT_STATE_CHANGED, callback(lambda event: recorder.on_changed(event))
        )

        # Where the loop's time goes: decoding, and applying (tracker + writes).
        parse = Timed(webhook_receiver.parse_notification)
        webhook_receiver.parse_notification = parse  # type: ignore[assignment]
        process = Timed(live.receiver._on_event)  # noqa: SLF001
        live.receiver._on_event = process  # noqa: SLF001

        await hass.http.start()
        gc_watch = GcWatch()
        data = entry.data
        sender = await start_sender(
            f"http://127.0.0.1:{http_port}/api/webhook/{data[CONF_WEBHOOK_ID]}",
            data[CONF_WEBHOOK_USERNAME],
            data[CONF_WEBHOOK_PASSWORD],
        )
        # Home Assistant saves the registries set-up changed 10 s later, on
        # the loop: not something an event should be charged with.
        await asyncio.sleep(REGISTRY_SAVE_WAIT_S)
        await hass.async_block_till_done()
        plan = Plan(extensions)
        phases: dict[str, Any] = {}
        intervals_during: dict[str, float | None] = {}
        await self._control("POST", "/counters/reset")
        events_sent = 0
        try:
            for name, rate, count in QUICK_PHASES if self.quick else PHASES:
                sys.stderr.write(f"bench:   events {name} ...\n")
                sys.stderr.flush()
                planned = plan.phase(count, rate)
                await sender.load([p.body for p in planned], rate, FLOOD_IN_FLIGHT)
                await hass.async_block_till_done()
                recorder.reset(sum(1 for p in planned if p.state is not None))
                parse.take()
                process.take()
                gc.collect()
                gc_watch.reset()
                blocks_before = sys.getallocatedblocks()
                rss0 = _rss_bytes()
                await asyncio.sleep(0)
                switches0 = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
                cpu0 = time.thread_time()
                wall = await sender.go()
                with suppress(TimeoutError):
                    await asyncio.wait_for(recorder.complete.wait(), SETTLE_S)
                await hass.async_block_till_done()
                cpu = time.thread_time() - cpu0
                # Preemptions: on a shared machine, latency that is not ours.
                switches = (
                    resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - switches0
                )
                parse_cpu, _ = parse.take()
                process_cpu, processed = process.take()
                gc_phase = gc_watch.summary()
                intervals_during = intervals_s(runtime)
                rss1 = _rss_bytes()
                timings = await sender.timings()
                statuses = timings["statuses"]
                events_sent += len(planned)
                phase = {
                    "rate": rate,
                    "events": len(planned),
                    "wall_s": wall,
                    "achieved_per_s": len(planned) / wall if wall else None,
                    "status_not_200": sum(1 for s in statuses if s != 200),
                    "processed": processed,
                    "loop_cpu_ms_per_event": cpu * 1000 / len(planned),
                    "parse_cpu_ms_per_event": parse_cpu * 1000 / len(planned),
                    "process_cpu_ms_per_event": process_cpu * 1000 / len(planned),
                    **_round_trips(timings),
                    "gc": gc_phase,
                    "involuntary_switches": switches,
                    "load_average_1min": os.getloadavg()[0],
                    **compare(planned, timings["starts"], recorder),
                }
                if rate == 0:
                    # Without the bench's own records of the phase.
                    del timings, statuses
                    recorder.reset(0)
                    gc.collect()
                    rss2 = _rss_bytes()
                    blocks = sys.getallocatedblocks() - blocks_before
                    phase["memory"] = {
                        "rss_before_mb": rss0 / 2**20,
                        "rss_after_mb": rss1 / 2**20,
                        "rss_after_gc_mb": rss2 / 2**20,
                        "growth_after_gc_mb": (rss2 - rss0) / 2**20,
                        "allocated_blocks_growth": blocks,
                        "allocated_blocks_per_event": blocks / len(planned),
                    }
                phases[name] = phase
            # The mailbox refreshes the last missed calls asked for come a
            # moment later: count them here, not in the cycles below.
            from custom_components.kalliopepbx.live_voicemail import REFRESH_DELAY

            await asyncio.sleep(REFRESH_DELAY + 1)
            await hass.async_block_till_done(wait_background_tasks=True)
            targeted = _collapse(await self._control("GET", "/counters"))
        finally:
            if sender.proc.stdin is not None:
                sender.proc.stdin.close()
            with suppress(TimeoutError):
                await asyncio.wait_for(sender.proc.wait(), 10)
            if sender.proc.returncode is None:
                sender.proc.kill()

        voicemail_after_missed = await self._voicemail_after_missed(
            hass, runtime, live, http_port, data
        )

        # A cycle of each coordinator, as it polls while events arrive.
        per_cycle: dict[str, dict[str, int]] = {}
        for name, coordinator in coordinators(runtime).items():
            await hass.async_block_till_done(wait_background_tasks=True)
            await self._control("POST", "/counters/reset")
            await coordinator.async_refresh()
            await hass.async_block_till_done()
            per_cycle[name] = _collapse(await self._control("GET", "/counters"))
        result.update(
            {
                "mailboxes": len(runtime.voicemail.mailboxes_to_poll()),
                "extensions_with_call_entities": len(extensions),
                "phases": phases,
                "events_sent": events_sent,
                "targeted_requests": targeted,
                "voicemail_after_missed_s": voicemail_after_missed,
                "caller_name_lookups": live.names.lookups,
                "update_intervals_s": intervals_during,
                "requests_per_cycle": per_cycle,
                "received": live.stats.received,
                "duplicates": live.stats.duplicates,
            }
        )
        await hass.config_entries.async_unload(entry.entry_id)
        return result


# ---------------------------------------------------------------- report

EVENTS_SIZE = 1000


def _find(results: list[dict[str, Any]], size: int, latency: float) -> Any:
    return next(
        (r for r in results if r["extensions"] == size and r["latency_ms"] == latency),
        None,
    )


def _per_1000(small: dict[str, Any], large: dict[str, Any], key: str) -> float:
    """Growth per 1000 extensions beyond the small PBX's."""
    extra = large["extensions"] - small["extensions"]
    return (large[key] - small[key]) / extra * 1000


def _per_hour(
    per_cycle: dict[str, int], intervals: dict[str, float | None]
) -> tuple[float, dict[str, float]]:
    """Requests an hour of polling: per cycle x 3600 / interval, per coordinator."""
    by_coordinator = {
        name: count * 3600 / interval
        for name, count in per_cycle.items()
        if (interval := intervals.get(name))
    }
    return sum(by_coordinator.values()), by_coordinator


def events_section(
    results: list[dict[str, Any]], small_on: dict[str, Any], on: dict[str, Any]
) -> dict[str, Any]:
    """The events worker's figures, set against the polling-only workers."""
    latency = on["latency_ms"]
    off = _find(results, on["extensions"], latency)
    small_off = _find(results, small_on["extensions"], latency)
    section: dict[str, Any] = {
        "extensions": on["extensions"],
        "latency_ms": latency,
        "sender": "own process, system-wide monotonic clock",
        "http": "Home Assistant's HTTP server (hass.http.start) on 127.0.0.1",
        "phases": on["phases"],
        "events_sent": on["events_sent"],
        "received": on["received"],
        "duplicates": on["duplicates"],
        "setup_s_on": on["setup_s"],
        "voicemail_after_missed_s": on.get("voicemail_after_missed_s"),
        "worker_on": {k: v for k, v in on.items() if k != "phases"},
        "worker_small_on": small_on,
    }
    # Requests an hour: polling (per cycle x 3600 / interval, as read at run
    # time) plus targeted requests while events flow, at a nominal event rate.
    targeted = sum(on["targeted_requests"].values())
    targeted_per_event = targeted / on["events_sent"] if on["events_sent"] else 0.0
    targeted_per_hour = targeted_per_event * NOMINAL_EVENTS_PER_S * 3600
    on_cycle = {name: sum(r.values()) for name, r in on["requests_per_cycle"].items()}
    polled_on, by_on = _per_hour(on_cycle, on["update_intervals_s"])
    requests: dict[str, Any] = {
        "on": {
            "per_cycle": on_cycle,
            "update_intervals_s": on["update_intervals_s"],
            "polling_per_hour": by_on,
            "targeted_during_events": on["targeted_requests"],
            "targeted_per_event": targeted_per_event,
            "targeted_per_hour_at_nominal": targeted_per_hour,
            "nominal_events_per_s": NOMINAL_EVENTS_PER_S,
            "total_per_hour": polled_on + targeted_per_hour,
        }
    }
    if off is not None and "update_intervals_s" in off:
        off_cycle = {
            name: sum(off["cycles"][name]["requests"].values())
            for name in off["update_intervals_s"]
            if name in off["cycles"]
        }
        polled_off, by_off = _per_hour(off_cycle, off["update_intervals_s"])
        requests["off"] = {
            "per_cycle": off_cycle,
            "update_intervals_s": off["update_intervals_s"],
            "polling_per_hour": by_off,
            "total_per_hour": polled_off,
        }
        requests["ratio_on_to_off"] = (
            requests["on"]["total_per_hour"] / polled_off if polled_off else None
        )
    section["pbx_requests"] = requests
    if off is not None and small_off is not None:
        extra = on["extensions"] - small_on["extensions"]
        section["entities"] = {
            "enabled_per_extension_off": (
                off["entities_enabled"] - small_off["entities_enabled"]
            )
            / extra,
            "enabled_per_extension_on": (
                on["entities_enabled"] - small_on["entities_enabled"]
            )
            / extra,
            "enabled_off": off["entities_enabled"],
            "enabled_on": on["entities_enabled"],
            "mb_per_1000_off": _per_1000(small_off, off, "rss_growth_mb"),
            "mb_per_1000_on": _per_1000(small_on, on, "rss_growth_mb"),
        }
    return section


def events_budget(events: dict[str, Any]) -> list[dict[str, Any]]:
    """The live-events budget lines."""
    checks: list[dict[str, Any]] = []
    tag = f"{events['extensions']} ext @ {events['latency_ms']:g} ms"

    def check(what: str, limit: str, measured: str, ok: bool | None) -> None:
        checks.append({"what": what, "limit": limit, "measured": measured, "ok": ok})

    phases = events["phases"]
    at_50 = phases.get("50/s")
    if at_50:
        p99 = at_50["latency_ms"]["p99"]
        check(
            f"live events: webhook POST to state written, p99 at 50 events/s ({tag})",
            f"<= {BUDGET_P99_MS_AT_50:g} ms",
            f"{p99:.1f} ms (n={at_50['latency_ms']['n']})",
            p99 is not None and p99 <= BUDGET_P99_MS_AT_50,
        )
    at_500 = phases.get("500/s")
    if at_500:
        faults = _faults(at_500)
        check(
            f"live events: 500 events/s for 10 s, nothing lost or reordered ({tag})",
            "0 lost, 0 reordered, every POST 200",
            f"{at_500['events']} events in {at_500['wall_s']:.1f} s, "
            + (", ".join(f"{k} {v}" for k, v in faults.items()) or "none lost"),
            not faults and at_500["wall_s"] <= 10.0 * 1.05,
        )
    for name, flood in phases.items():
        if "memory" not in flood:
            continue
        memory = flood["memory"]
        faults = _faults(flood)
        # The first flood of the process raises the allocator's high-water
        # mark (freed memory is kept, not returned); the second shows whether
        # anything still grows.
        first = name == "flood"
        check(
            f"live events: {name}, {flood['events']} events as fast as possible,"
            f" RSS after a full collection ({tag})",
            "information (first flood: allocator high-water)"
            if first
            else f"<= {BUDGET_FLOOD_FLAT_MB:g} MB growth (flat)",
            f"{memory['growth_after_gc_mb']:+.1f} MB"
            f" ({memory['rss_before_mb']:.0f} -> {memory['rss_after_mb']:.0f}"
            f" -> {memory['rss_after_gc_mb']:.0f} MB), "
            + (", ".join(f"{k} {v}" for k, v in faults.items()) or "none lost"),
            None
            if first
            else memory["growth_after_gc_mb"] <= BUDGET_FLOOD_FLAT_MB and not faults,
        )
    for name, phase in phases.items():
        faults = _faults(phase)
        if name == "500/s" or "memory" in phase:
            continue
        check(
            f"live events: {name}, nothing lost or reordered ({tag})",
            "0",
            ", ".join(f"{k} {v}" for k, v in faults.items()) or "0",
            not faults,
        )
    requests = events["pbx_requests"]
    if "ratio_on_to_off" in requests:
        check(
            f"PBX requests an hour, live events on / off ({tag})",
            "<= 0.2x",
            f"{requests['on']['total_per_hour']:.0f} / "
            f"{requests['off']['total_per_hour']:.0f}"
            f" = {requests['ratio_on_to_off']:.2f}x",
            requests["ratio_on_to_off"] <= 0.2,
        )
    shown = events.get("voicemail_after_missed_s")
    check(
        f"live events: voicemail left after a missed call, end event to count shown ({tag})",
        "<= 10 s",
        "never shown" if shown is None else f"{shown:.1f} s",
        shown is not None and shown <= 10,
    )
    return checks


def _faults(phase: dict[str, Any]) -> dict[str, int]:
    faults = {
        "lost": phase["state_changes_lost"],
        "extra": phase["state_changes_extra"],
        "reordered": phase["extensions_reordered"],
        "call events lost": phase["call_events_lost"],
        "call events wrong": phase["extensions_call_events_wrong"],
        "not 200": phase["status_not_200"],
    }
    return {k: v for k, v in faults.items() if v}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def events_table(events: dict[str, Any]) -> str:
    """The live-events figures, readable."""
    lines = [
        f"live events, {events['extensions']} extensions @ "
        f"{events['latency_ms']:g} ms: {events['sender']}; {events['http']}",
        "",
    ]
    headers = (
        "phase",
        "events",
        "sent/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "loop cpu ms/ev",
        "parse",
        "process",
        "written",
        "lost",
        "reord",
        "not 200",
        "preempt",
        "load",
    )
    rows = []
    for name, p in events["phases"].items():
        lat = p["latency_ms"]
        rows.append(
            (
                name,
                str(p["events"]),
                f"{p['achieved_per_s']:.0f}",
                _ms(lat["p50"]),
                _ms(lat["p99"]),
                _ms(lat["max"]),
                f"{p['loop_cpu_ms_per_event']:.3f}",
                f"{p['parse_cpu_ms_per_event']:.3f}",
                f"{p['process_cpu_ms_per_event']:.3f}",
                f"{p['state_changes_written']}/{p['state_changes_expected']}",
                str(p["state_changes_lost"]),
                str(p["extensions_reordered"]),
                str(p["status_not_200"]),
                str(p.get("involuntary_switches", "-")),
                f"{p['load_average_1min']:.1f}" if "load_average_1min" in p else "-",
            )
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines.append("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows
    ]
    lines.append("")
    for name, flood in events["phases"].items():
        if "memory" not in flood:
            continue
        m = flood["memory"]
        lines.append(
            f"{name}: RSS {m['rss_before_mb']:.1f} MB before, "
            f"{m['rss_after_mb']:.1f} after, {m['rss_after_gc_mb']:.1f} after a full"
            f" collection ({m['growth_after_gc_mb']:+.2f} MB;"
            f" allocated blocks {m['allocated_blocks_growth']:+d},"
            f" {m['allocated_blocks_per_event']:+.2f} an event)"
        )
    requests = events["pbx_requests"]
    on = requests["on"]
    lines.append(
        "PBX requests an hour, on: "
        + ", ".join(
            f"{name} {on['per_cycle'][name]}/cycle every"
            f" {on['update_intervals_s'].get(name) or 0:g} s = {count:.0f}"
            for name, count in on["polling_per_hour"].items()
        )
        + f"; targeted {on['targeted_per_event']:.3f}/event"
        f" = {on['targeted_per_hour_at_nominal']:.0f} at"
        f" {on['nominal_events_per_s']:g} event/s;"
        f" total {on['total_per_hour']:.0f}"
    )
    if "off" in requests:
        off = requests["off"]
        lines.append(
            "PBX requests an hour, off: "
            + ", ".join(
                f"{name} {off['per_cycle'][name]}/cycle every"
                f" {off['update_intervals_s'].get(name) or 0:g} s = {count:.0f}"
                for name, count in off["polling_per_hour"].items()
            )
            + f"; total {off['total_per_hour']:.0f};"
            f" on/off {requests['ratio_on_to_off']:.2f}x"
        )
    entities = events.get("entities")
    if entities:
        lines.append(
            "enabled entities per extension off/on: "
            f"{entities['enabled_per_extension_off']:.2f} /"
            f" {entities['enabled_per_extension_on']:.2f}; MB per 1000 extensions"
            f" off/on: {entities['mb_per_1000_off']:.1f} /"
            f" {entities['mb_per_1000_on']:.1f}"
        )
    return "\n".join(lines)
