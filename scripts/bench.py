"""Benchmark of the KalliopePBX integration against the simulator.

`scripts/bench` runs this module. For every PBX size and latency it starts a
worker process; the worker starts the simulator in a process of its own (so
the simulator's work never shows up in Home Assistant's event loop), sets up
the real integration in a Home Assistant test instance against it, and
measures, per coordinator cycle: HTTP requests by endpoint (simulator
counters), wall time, the longest single event-loop callback, and state
writes. It then switches the same instance to a naive baseline (sequential
per-mailbox requests, parsing on the event loop, every entity written on
every poll) and measures the same cycles again, so the ratios compare like
with like on the same machine in the same run.

With 1000 extensions among the sizes, a live-events section follows
(`scripts/bench_events.py`): the same PBX with live events on, events POSTed
to the webhook through Home Assistant's HTTP server by a sender process.

    scripts/bench [--sizes 10,100,1000,5000] [--latency 0,20] [--quick]
                  [--json docs/bench-results.json]
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import asdict, dataclass, field
import gc
import json
import math
import os
from pathlib import Path
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from scripts.bench_events import (
    EVENTS_SIZE,
    EventsWorker,
    events_budget,
    events_section,
    events_table,
    serve_sender,
)

ROOT = Path(__file__).absolute().parent.parent
DEFAULT_JSON = ROOT / "docs" / "bench-results.json"
DEFAULT_SIZES = (10, 100, 1000, 5000)
DEFAULT_LATENCIES = (0.0, 20.0)
QUICK_SIZES = (10, 1000)
BLOCK_LIMIT_MS = 20.0
# A second voicemail cycle with this many requests in flight shows how the
# cycle scales with the concurrency (the integration's default is 8).
WIDE_CONCURRENCY = 16
PASSWORD = "admin"
PBX_ID = "KPBX-SIM-0001"

# The performance budget (DESIGN.md; docs/performance.md explains each line).
# A voicemail cycle: within 1.1x of the per-request time x the waves the
# concurrency allows, i.e. at least 0.9x the speed-up over a sequential loop
# that the concurrency allows. The per-request time is the sequential loop's
# in the same run, so the simulator's own work counts on both sides.
BUDGET_VOICEMAIL_FACTOR = 1.1
BUDGET_SPEEDUP_SHARE = 0.9
BUDGET_SETUP_S_1000 = 15.0
# What the integration itself holds per extension stays below what Home
# Assistant spends on a single entity (about 10 KB).
BUDGET_OWN_KB_PER_EXTENSION = 10.0
# Whose an allocation is, by the file it was made in. The bench's own probes
# (a wrapper per coordinator listener) count for nobody.
HOME_ASSISTANT_CODE = f"{os.sep}homeassistant{os.sep}"
INTEGRATION_CODE = f"{os.sep}custom_components{os.sep}kalliopepbx{os.sep}"
BENCH_CODE = str(Path(__file__).absolute().parent) + os.sep


# ---------------------------------------------------------------- simulator process


async def _serve_simulator(extensions: int, latency_ms: float, seed: int) -> None:
    """Serve a default-scenario PBX on 127.0.0.1 until stdin closes."""
    from simulator import build_scenario, run_simulator

    state = build_scenario(extensions, auth="v3", seed=seed)
    state.set_latency(latency_ms)
    async with run_simulator(state) as sim:
        sys.stdout.write(json.dumps({"port": sim.port}) + "\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
        )
        eof = asyncio.ensure_future(reader.read())
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({eof, waiter}, return_when=asyncio.FIRST_COMPLETED)
        for task in (eof, waiter):
            task.cancel()


@asynccontextmanager
async def simulator_process(
    extensions: int, latency_ms: float, seed: int = 1
) -> AsyncIterator[int]:
    """The simulator in its own process; yields its port."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "scripts.bench",
        "--serve-simulator",
        "--sizes",
        str(extensions),
        "--latency",
        str(latency_ms),
        "--seed",
        str(seed),
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        if not line:
            raise RuntimeError("the simulator process did not start")
        yield int(json.loads(line)["port"])
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


# ---------------------------------------------------------------- probes


class LoopProbe:
    """The longest single event-loop callback since the last reset.

    Wraps `asyncio.Handle._run`, through which the event loop runs every
    callback, task step and timer: one call is one uninterrupted stretch of
    work on the loop.
    """

    def __init__(self) -> None:
        """Not yet installed."""
        self.longest = 0.0
        self.longest_what: object = None
        self.over_limit = 0
        # The event-loop thread's CPU time in the callback without the garbage
        # collector's pauses (wall time also counts other processes on a busy
        # machine), and the longest full (generation 2) collection on its own.
        self.longest_own = 0.0
        self.longest_own_what: object = None
        self.gc_longest = 0.0
        self.gc_full = 0
        self.gc_pauses = 0.0
        self.gc_started = 0.0
        self.gc_total = 0.0
        self._original: Callable[[asyncio.Handle], None] | None = None

    def install(self) -> None:
        """Start timing every callback of every event loop in this process."""
        original = asyncio.Handle._run  # type: ignore[attr-defined] # noqa: SLF001
        self._original = original
        probe = self
        limit = BLOCK_LIMIT_MS / 1000
        clock = time.perf_counter

        cpu_clock = time.thread_time

        def timed_run(handle: asyncio.Handle) -> None:
            gc_before = probe.gc_total
            cpu_start = cpu_clock()
            start = clock()
            original(handle)
            elapsed = clock() - start
            cpu = cpu_clock() - cpu_start
            if elapsed > limit:
                probe.over_limit += 1
            if elapsed > probe.longest:
                probe.longest = elapsed
                probe.longest_what = handle
            own = cpu - (probe.gc_total - gc_before)
            if own > probe.longest_own:
                probe.longest_own = own
                probe.longest_own_what = handle

        def on_gc(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                probe.gc_started = clock()
                return
            pause = clock() - probe.gc_started
            probe.gc_total += pause
            probe.gc_pauses += pause
            if info.get("generation") == 2:
                probe.gc_full += 1
                probe.gc_longest = max(probe.gc_longest, pause)

        asyncio.Handle._run = timed_run  # type: ignore[attr-defined] # noqa: SLF001
        gc.callbacks.append(on_gc)

    def reset(self) -> None:
        """Forget what was measured so far."""
        self.longest = 0.0
        self.longest_what = None
        self.over_limit = 0
        self.longest_own = 0.0
        self.longest_own_what = None
        self.gc_longest = 0.0
        self.gc_full = 0
        self.gc_pauses = 0.0

    def describe(self, handle: object = None) -> str:
        """What the longest callback was (a task step names its coroutine)."""
        handle = handle or self.longest_what
        if handle is None:
            return ""
        callback = getattr(handle, "_callback", None)
        task = getattr(callback, "__self__", None)
        if isinstance(task, asyncio.Task):
            coro = task.get_coro()
            return f"task {getattr(coro, '__qualname__', coro)!s}"
        return repr(callback)[:160]


class WriteProbe:
    """Coordinator listener calls, entity state writes and their state events."""

    def __init__(self) -> None:
        """Counts start at zero."""
        self.callbacks = 0
        self.writes = 0
        self.changed = 0
        self.reported = 0

    def reset(self) -> None:
        """Start counting again."""
        self.callbacks = self.writes = self.changed = self.reported = 0


@dataclass
class Cycle:
    """One measured coordinator cycle."""

    name: str
    wall_ms: float
    requests: dict[str, int]
    max_block_ms: float
    max_block_what: str
    blocks_over_limit: int
    max_block_cpu_ms: float
    max_block_cpu_what: str
    gc_full_collections: int
    gc_longest_full_ms: float
    writes: int
    state_changed: int
    state_reported: int
    callbacks: int = 0
    runs: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def request_total(self) -> int:
        """Requests the cycle sent to the PBX."""
        return sum(self.requests.values())


# ---------------------------------------------------------------- worker


def _rss_bytes() -> int:
    """Resident set size of this process."""
    with suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _collapse(requests: dict[str, int]) -> dict[str, int]:
    """Per-mailbox paths folded into one endpoint."""
    folded: Counter[str] = Counter()
    for key, count in requests.items():
        endpoint = (
            "GET /voicemails/count/{mailbox}"
            if key.startswith("GET /voicemails/count/")
            else key
        )
        folded[endpoint] += count
    return dict(sorted(folded.items()))


class Worker:
    """One PBX size and latency: set up, measure, switch to baseline, measure."""

    def __init__(self, size: int, latency_ms: float, quick: bool) -> None:
        """Remember what to measure."""
        self.size = size
        self.latency_ms = latency_ms
        self.quick = quick
        self.loop_probe = LoopProbe()
        self.write_probe = WriteProbe()
        self.control: Any = None
        self.control_url = ""
        self.hass: Any = None
        # Called before every measured cycle, outside the timing (baseline).
        self.before_cycle: Callable[[], None] | None = None

    # ------------------------------------------------------------ control API

    async def _control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.control.request(
            method, f"{self.control_url}{path}", json=body
        ) as response:
            response.raise_for_status()
            return await response.json()

    # ------------------------------------------------------------ measuring

    async def measure(
        self, name: str, action: Callable[[], Awaitable[Any]], runs: int = 1
    ) -> Cycle:
        """Run `action` `runs` times; the median wall time, the worst block."""
        walls: list[float] = []
        requests: dict[str, int] = {}
        worst = worst_own = gc_longest = 0.0
        worst_what = worst_own_what = ""
        over = writes = changed = reported = callbacks = gc_full = 0
        for _ in range(runs):
            await self.hass.async_block_till_done()
            await self._control("POST", "/counters/reset")
            if self.before_cycle is not None:
                self.before_cycle()
            gc.collect()
            # End this task step, so the probe sees only the cycle's own steps.
            await asyncio.sleep(0)
            self.loop_probe.reset()
            self.write_probe.reset()
            start = time.perf_counter()
            await asyncio.create_task(action())
            walls.append(time.perf_counter() - start)
            await self.hass.async_block_till_done()
            if self.loop_probe.longest >= worst:
                worst = self.loop_probe.longest
                worst_what = self.loop_probe.describe()
            if self.loop_probe.longest_own >= worst_own:
                worst_own = self.loop_probe.longest_own
                worst_own_what = self.loop_probe.describe(
                    self.loop_probe.longest_own_what
                )
            gc_longest = max(gc_longest, self.loop_probe.gc_longest)
            gc_full += self.loop_probe.gc_full
            over += self.loop_probe.over_limit
            writes = max(writes, self.write_probe.writes)
            callbacks = max(callbacks, self.write_probe.callbacks)
            changed = max(changed, self.write_probe.changed)
            reported = max(reported, self.write_probe.reported)
            requests = _collapse(await self._control("GET", "/counters"))
        return Cycle(
            name=name,
            wall_ms=statistics.median(walls) * 1000,
            requests=requests,
            max_block_ms=worst * 1000,
            max_block_what=worst_what,
            blocks_over_limit=over,
            max_block_cpu_ms=worst_own * 1000,
            max_block_cpu_what=worst_own_what,
            gc_full_collections=gc_full,
            gc_longest_full_ms=gc_longest * 1000,
            writes=writes,
            state_changed=changed,
            state_reported=reported,
            callbacks=callbacks,
            runs=runs,
        )

    # ------------------------------------------------------------ the run

    async def run(self) -> dict[str, Any]:
        """Everything for one size and latency, as a JSON-able dict."""
        async with simulator_process(self.size, self.latency_ms) as port:
            self.control_url = f"http://127.0.0.1:{port}/_sim"
            with tempfile.TemporaryDirectory(prefix="kalliopepbx-bench-") as config:
                return await self._run_in_hass(port, config)

    async def _run_in_hass(self, port: int, config_dir: str) -> dict[str, Any]:
        import aiohttp
        from homeassistant import loader
        from homeassistant.const import (
            EVENT_STATE_CHANGED,
            EVENT_STATE_REPORTED,
            __version__ as ha_version,
        )
        from homeassistant.core import callback
        from homeassistant.helpers import aiohttp_client, entity as entity_helper
        from pytest_homeassistant_custom_component.common import (
            async_test_home_assistant,
        )

        # As the test harness does: no zeroconf on a loopback benchmark.
        aiohttp_client._async_make_resolver = (  # type: ignore[assignment] # noqa: SLF001
            lambda _hass: aiohttp.ThreadedResolver()
        )
        self.loop_probe.install()
        probe = self.write_probe
        original_write = entity_helper.Entity.async_write_ha_state

        def counted_write(entity: Any) -> None:
            probe.writes += 1
            original_write(entity)

        entity_helper.Entity.async_write_ha_state = counted_write  # type: ignore[method-assign]

        from custom_components.kalliopepbx.polling import KalliopeCoordinator

        original_add = KalliopeCoordinator.async_add_listener

        def counted_add(
            coordinator: Any, update_callback: Callable[[], None], context: Any = None
        ) -> Callable[[], None]:
            def counted() -> None:
                probe.callbacks += 1
                update_callback()

            return original_add(coordinator, counted, context)

        KalliopeCoordinator.async_add_listener = counted_add  # type: ignore[method-assign]

        async with (
            async_test_home_assistant(config_dir=config_dir) as hass,
            aiohttp.ClientSession() as control,
        ):
            self.hass = hass
            self.control = control
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)

            @callback
            def on_changed(_event: Any) -> None:
                probe.changed += 1

            @callback
            def reported_filter(_data: Any) -> bool:
                probe.reported += 1
                return False

            hass.bus.async_listen(EVENT_STATE_CHANGED, on_changed)
            hass.bus.async_listen(
                EVENT_STATE_REPORTED, on_changed, event_filter=reported_filter
            )
            try:
                result = await self._measure_all(port)
            finally:
                await hass.async_stop(force=True)
            result["ha_version"] = ha_version
            return result

    async def _measure_all(self, port: int) -> dict[str, Any]:
        from homeassistant.helpers import entity_registry as er

        from scripts.bench_events import intervals_s

        hass = self.hass
        gc.collect()
        rss_before = _rss_bytes()
        self.loop_probe.reset()
        await self._control("POST", "/counters/reset")
        start = time.perf_counter()
        entry = self._entry(port)
        entry.add_to_hass(hass)
        if not await hass.config_entries.async_setup(entry.entry_id):
            raise RuntimeError("the integration did not set up")
        await hass.async_block_till_done()
        registry = er.async_get(hass)
        entries = er.async_entries_for_config_entry(registry, entry.entry_id)
        enabled = [e.entity_id for e in entries if e.disabled_by is None]
        missing = [e for e in enabled if hass.states.get(e) is None]
        setup_s = time.perf_counter() - start
        setup_block = self.loop_probe.longest * 1000
        setup_block_what = self.loop_probe.describe()
        setup_gc = {
            "full_collections": self.loop_probe.gc_full,
            "longest_full_ms": self.loop_probe.gc_longest * 1000,
            "total_pause_s": self.loop_probe.gc_pauses,
        }
        setup_requests = _collapse(await self._control("GET", "/counters"))
        gc.collect()
        rss_after = _rss_bytes()

        runtime = entry.runtime_data
        mailboxes = runtime.voicemail.mailboxes_to_poll()
        concurrency = runtime.voicemail.concurrency
        update_intervals = intervals_s(runtime)
        cycles = await self._cycles(runtime, mailboxes, baseline=False)
        sequential_ms = (
            await self._sequential_requests(runtime, mailboxes)
            if self.latency_ms and self.size >= 1000 and mailboxes
            else None
        )
        baseline = await self._baseline(runtime, mailboxes)
        await hass.config_entries.async_unload(entry.entry_id)
        own_memory = (
            await self._own_memory(entry.entry_id) if self.size >= 1000 else None
        )
        return {
            "extensions": self.size,
            "latency_ms": self.latency_ms,
            "mailboxes": len(mailboxes),
            "concurrency": concurrency,
            "entities": len(entries),
            "entities_enabled": len(enabled),
            "entities_missing": len(missing),
            "setup_s": setup_s,
            "setup_max_block_ms": setup_block,
            "setup_max_block_what": setup_block_what,
            "setup_requests": setup_requests,
            "setup_gc": setup_gc,
            "load_average": os.getloadavg(),
            "rss_growth_mb": (rss_after - rss_before) / 2**20,
            "own_memory": own_memory,
            "sequential_requests_ms": sequential_ms,
            "update_intervals_s": update_intervals,
            "cycles": {c.name: asdict(c) for c in cycles},
            "baseline": {c.name: asdict(c) for c in baseline},
        }

    async def _sequential_requests(self, runtime: Any, mailboxes: list[str]) -> float:
        """Every mailbox counted one after the other by the client, nothing else.

        What a request costs in this run, the PBX's latency and both sides'
        work included: the voicemail budget's time per request.
        """
        client = runtime.client
        gc.collect()
        start = time.perf_counter()
        for mailbox in mailboxes:
            await client.voicemail_count(mailbox)
        return (time.perf_counter() - start) * 1000

    async def _own_memory(self, entry_id: str) -> dict[str, float]:
        """Who holds the memory of a loaded entry, by the file that allocated it.

        The entry is set up a second time under `tracemalloc` (the timed
        setup above ran without it: tracing slows everything down), with the
        registry entries of the first setup already there, as after a restart.
        """
        import tracemalloc

        hass = self.hass
        gc.collect()
        tracemalloc.start(1)
        try:
            if not await hass.config_entries.async_setup(entry_id):
                raise RuntimeError("the integration did not set up again")
            await hass.async_block_till_done()
            gc.collect()
            snapshot = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        held = {"home_assistant": 0, "integration": 0, "other": 0, "bench": 0}
        for stat in snapshot.statistics("filename"):
            filename = stat.traceback[0].filename
            if INTEGRATION_CODE in filename:
                held["integration"] += stat.size
            elif HOME_ASSISTANT_CODE in filename:
                held["home_assistant"] += stat.size
            elif filename.startswith(BENCH_CODE):
                held["bench"] += stat.size
            else:
                held["other"] += stat.size
        await hass.config_entries.async_unload(entry_id)
        return {f"{name}_mb": size / 2**20 for name, size in held.items()}

    def _entry(self, port: int, options: dict[str, Any] | None = None) -> Any:
        from homeassistant.const import (
            CONF_HOST,
            CONF_PORT,
            CONF_SSL,
            CONF_USERNAME,
            CONF_VERIFY_SSL,
        )
        from pytest_homeassistant_custom_component.common import MockConfigEntry

        from custom_components.kalliopepbx.api import BasicCredentials, md5_hex
        from custom_components.kalliopepbx.const import (
            CONF_AUTH,
            CONF_PBX_ID,
            CONF_TENANT_DOMAIN,
            DOMAIN,
        )

        credentials = BasicCredentials(username="admin", password_md5=md5_hex(PASSWORD))
        return MockConfigEntry(
            domain=DOMAIN,
            title="KalliopePBX Bench",
            unique_id=PBX_ID,
            data={
                CONF_HOST: "127.0.0.1",
                CONF_PORT: port,
                CONF_SSL: False,
                CONF_VERIFY_SSL: True,
                CONF_USERNAME: "admin",
                CONF_TENANT_DOMAIN: "default",
                CONF_AUTH: credentials.as_dict(),
                CONF_PBX_ID: PBX_ID,
                "serial_number": None,
            },
            options=options or {},
            # The bench drives every cycle itself.
            pref_disable_polling=True,
        )

    async def _change_voicemail(self, runtime: Any, mailboxes: list[str]) -> None:
        """One new message in 1% of the mailboxes (at least one)."""
        count = max(1, round(len(mailboxes) * 0.01)) if mailboxes else 0
        step = max(1, len(mailboxes) // max(count, 1))
        for mailbox in mailboxes[::step][:count]:
            current = runtime.voicemail_count(mailbox)
            await self._control(
                "POST",
                "/voicemail",
                {"mailbox": mailbox, "new": (current.new if current else 0) + 1},
            )

    async def _cycles(
        self, runtime: Any, mailboxes: list[str], *, baseline: bool
    ) -> list[Cycle]:
        """Every coordinator, unchanged and with 1% changed."""
        registrations = runtime.registrations
        voicemail = runtime.voicemail
        system = runtime.system
        cycles = [
            await self.measure(
                "registrations", registrations.async_refresh, runs=1 if baseline else 3
            )
        ]
        await self._control(
            "POST",
            "/registrations/change",
            {"fraction": 0.01, "seed": 11 if baseline else 7},
        )
        cycles.append(
            await self.measure("registrations_1pct", registrations.async_refresh)
        )
        # The sequential baseline takes mailboxes x latency: once is enough,
        # and --quick leaves it out above 1000 extensions.
        if mailboxes and not (baseline and self.quick and self.size > 1000):
            cycles.append(
                await self.measure(
                    "voicemail",
                    voicemail.async_refresh,
                    runs=2 if self.latency_ms and not baseline else 1,
                )
            )
        if mailboxes and not baseline:
            await self._change_voicemail(runtime, mailboxes)
            cycles.append(await self.measure("voicemail_1pct", voicemail.async_refresh))
            if self.latency_ms and self.size >= 1000:
                # What the bound is made of: twice the requests in flight.
                # The client caps every request to the PBX as well.
                client = runtime.client
                saved = voicemail.concurrency, client._semaphore  # noqa: SLF001
                voicemail.concurrency = WIDE_CONCURRENCY
                client._semaphore = asyncio.Semaphore(WIDE_CONCURRENCY)  # noqa: SLF001
                try:
                    wide = await self.measure(
                        f"voicemail_c{WIDE_CONCURRENCY}", voicemail.async_refresh
                    )
                finally:
                    voicemail.concurrency, client._semaphore = saved  # noqa: SLF001
                cycles.append(wide)
        cycles.append(await self.measure("system", system.async_refresh))
        if not baseline:
            await self._control(
                "POST",
                "/extensions",
                {"exten": "9999", "first_name": "Bench", "last_name": "Added"},
            )
            cycles.append(await self.measure("system_added", system.async_refresh))
            await self._control("DELETE", "/extensions/9999")
            cycles.append(await self.measure("system_removed", system.async_refresh))
        return cycles

    async def _baseline(self, runtime: Any, mailboxes: list[str]) -> list[Cycle]:
        from homeassistant.helpers.entity_platform import async_get_platforms

        from custom_components.kalliopepbx.const import DOMAIN

        entities = [
            entity
            for platform in async_get_platforms(self.hass, DOMAIN)
            for entity in platform.entities.values()
        ]

        def forget_written() -> None:
            # Every entity then writes its state on the next update, as if it
            # did not remember what it wrote last.
            for entity in entities:
                entity._written = object()  # noqa: SLF001

        self.before_cycle = forget_written
        try:
            with naive_mode(runtime):
                return await self._cycles(runtime, mailboxes, baseline=True)
        finally:
            self.before_cycle = None


@contextmanager
def naive_mode(runtime: Any) -> Iterator[None]:
    """What a straightforward integration would do, on the same instance.

    Voicemail mailboxes one after the other, every answer parsed and
    compared on the event loop, every coordinator waking every entity on
    every poll and (with `_baseline` forgetting what each entity wrote) every
    entity writing its state each time.
    """
    from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

    from custom_components.kalliopepbx import polling as coordinator_module
    from custom_components.kalliopepbx.polling import KalliopeCoordinator

    coordinators = (runtime.registrations, runtime.voicemail, runtime.system)
    client = runtime.client
    saved_threshold = client._parse_in_thread_above_bytes  # noqa: SLF001
    # (Absent before the coordinators compared polls in a worker thread.)
    saved_merge = getattr(coordinator_module, "MERGE_IN_THREAD_ABOVE", None)
    saved_concurrency = runtime.voicemail.concurrency
    saved_always = [c.always_update for c in coordinators]
    saved_dispatch = KalliopeCoordinator.__dict__["async_update_listeners"]

    try:
        client._parse_in_thread_above_bytes = sys.maxsize  # noqa: SLF001
        if saved_merge is not None:
            coordinator_module.MERGE_IN_THREAD_ABOVE = sys.maxsize
        runtime.voicemail.concurrency = 1
        for coordinator in coordinators:
            coordinator.always_update = True
        KalliopeCoordinator.async_update_listeners = (  # type: ignore[method-assign]
            DataUpdateCoordinator.async_update_listeners
        )
        yield
    finally:
        client._parse_in_thread_above_bytes = saved_threshold  # noqa: SLF001
        if saved_merge is not None:
            coordinator_module.MERGE_IN_THREAD_ABOVE = saved_merge
        runtime.voicemail.concurrency = saved_concurrency
        for coordinator, always in zip(coordinators, saved_always, strict=True):
            coordinator.always_update = always
        KalliopeCoordinator.async_update_listeners = saved_dispatch  # type: ignore[method-assign]


# ---------------------------------------------------------------- orchestration


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = ""
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram_gb = None
    with suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = round(int(line.split()[1]) / 2**20, 1)
    ha_version = ""
    with suppress(ImportError):
        from homeassistant.const import __version__ as ha_version
    commit = ""
    with suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    return {
        "commit": commit,
        "nproc": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "home_assistant": ha_version,
        "platform": platform.platform(),
    }


def run_worker(
    size: int, latency_ms: float, quick: bool, events: str | None = None
) -> dict[str, Any]:
    """One configuration in a fresh process (clean memory and patches).

    `events`: "setup" or "full" for the live-events worker instead.
    """
    command = [
        sys.executable,
        "-m",
        "scripts.bench",
        "--worker",
        *(("--events", events) if events else ()),
        "--sizes",
        str(size),
        "--latency",
        str(latency_ms),
    ]
    if quick:
        command.append("--quick")
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"worker for {size} extensions @ {latency_ms} ms failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def memory_per_1000(results: list[dict[str, Any]]) -> dict[tuple[int, float], float]:
    """Memory growth per 1000 extensions, beyond the fixed cost of an entry.

    The fixed part (integration code, translations, the PBX device) is what
    the smallest PBX of the same latency grew by; the rest is divided by the
    extensions added on top of it.
    """
    per_1000: dict[tuple[int, float], float] = {}
    for latency in {r["latency_ms"] for r in results}:
        group = sorted(
            (r for r in results if r["latency_ms"] == latency),
            key=lambda r: r["extensions"],
        )
        base = group[0]
        for r in group[1:]:
            extra = r["extensions"] - base["extensions"]
            growth = r["rss_growth_mb"] - base["rss_growth_mb"]
            per_1000[(r["extensions"], latency)] = growth / extra * 1000
    return per_1000


def _worst(cycles: dict[str, Any], key: str) -> float:
    return max((c[key] for c in cycles.values()), default=0.0)


def budget(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every budget line against what was measured."""
    checks: list[dict[str, Any]] = []
    memory = memory_per_1000(results)

    def check(what: str, limit: str, measured: str, ok: bool | None) -> None:
        checks.append({"what": what, "limit": limit, "measured": measured, "ok": ok})

    for result in results:
        size = result["extensions"]
        latency = result["latency_ms"]
        tag = f"{size} ext @ {latency:g} ms"
        cycles = result["cycles"]
        reg = sum(cycles["registrations"]["requests"].values())
        check(f"registrations requests/cycle ({tag})", "2", str(reg), reg == 2)
        if "voicemail" in cycles:
            total = sum(cycles["voicemail"]["requests"].values())
            check(
                f"voicemail requests/cycle ({tag})",
                f"{result['mailboxes']} (one per mailbox)",
                str(total),
                total == result["mailboxes"],
            )
        unchanged = [
            cycles[name]
            for name in ("registrations", "voicemail", "system")
            if name in cycles
        ]
        writes = max(
            max(c["writes"], c["state_changed"], c["state_reported"]) for c in unchanged
        )
        check(f"state writes, unchanged refresh ({tag})", "0", str(writes), writes == 0)
        if latency > 0 and size >= 1000 and "voicemail" in cycles:
            mailboxes = result["mailboxes"]
            waves = math.ceil(mailboxes / result["concurrency"])
            wall = cycles["voicemail"]["wall_ms"]
            base = result["baseline"].get("voicemail")
            sequential = result.get("sequential_requests_ms")
            if sequential:
                per_request = sequential / mailboxes
                limit_ms = BUDGET_VOICEMAIL_FACTOR * per_request * waves
                allowed = mailboxes / waves
                ratio = sequential / wall
                check(
                    f"voicemail cycle ({tag}, {result['concurrency']} in flight)",
                    f"<= {BUDGET_VOICEMAIL_FACTOR:g} x {per_request:.2f} ms per"
                    f" request (the client alone, one after the other, same run)"
                    f" x {waves} waves = {limit_ms:.0f} ms, i.e. a speed-up"
                    f" >= {BUDGET_SPEEDUP_SHARE:g} x {allowed:.2f}",
                    f"{wall:.0f} ms, a speed-up of {ratio:.2f}x"
                    f" = {ratio / allowed:.2f} x {allowed:.2f}",
                    wall <= limit_ms and ratio >= BUDGET_SPEEDUP_SHARE * allowed,
                )
            nominal_ms = BUDGET_VOICEMAIL_FACTOR * latency * waves
            check(
                f"voicemail cycle against the bare {latency:g} ms latency"
                f" ({tag}; the simulator's own work per request not counted)",
                "information",
                f"{wall:.0f} ms against {nominal_ms:.0f} ms"
                f" ({wall / (latency * waves):.2f}x)",
                None,
            )
            if base:
                wide = cycles.get(f"voicemail_c{WIDE_CONCURRENCY}")
                if wide:
                    check(
                        f"voicemail vs baseline with {WIDE_CONCURRENCY} in flight"
                        f" ({tag}, not the default)",
                        "information",
                        f"{base['wall_ms'] / wide['wall_ms']:.1f}x",
                        None,
                    )
        if size >= 5000:
            cpu = _worst(cycles, "max_block_cpu_ms")
            check(
                f"longest event-loop callback in a cycle ({tag}),"
                " loop-thread CPU without GC pauses",
                f"<= {BLOCK_LIMIT_MS:g} ms",
                f"{cpu:.1f} ms",
                cpu <= BLOCK_LIMIT_MS,
            )
            check(
                f"longest event-loop callback in a cycle ({tag}), wall clock",
                "information",
                f"{_worst(cycles, 'max_block_ms'):.1f} ms"
                f" (load average {result['load_average'][0]:.1f})",
                None,
            )
        if size == 1000:
            missing = result["entities_missing"]
            check(
                f"setup, entry created to all entities loaded ({tag})",
                f"<= {BUDGET_SETUP_S_1000:g} s",
                f"{result['setup_s']:.1f} s"
                + (f", {missing} entities missing" if missing else ""),
                result["setup_s"] <= BUDGET_SETUP_S_1000 and not missing,
            )
        if size >= 1000:
            check(
                f"entities enabled by default per extension ({tag})",
                "information: few",
                f"{result['entities_enabled'] / size:.2f}"
                f" ({result['entities'] / size:.2f} with the disabled ones)",
                None,
            )
        if (size, latency) in memory and size >= 1000:
            check(
                f"memory (RSS) per 1000 extensions ({tag})",
                "information: Home Assistant's cost per entity dominates",
                f"{memory[(size, latency)]:.1f} MB",
                None,
            )
        own = result.get("own_memory")
        if own:
            own_kb = (own["integration_mb"] + own["other_mb"]) * 1024 / size
            check(
                f"the integration's own memory per extension ({tag})",
                f"<= {BUDGET_OWN_KB_PER_EXTENSION:g} KB",
                f"{own_kb:.1f} KB (allocated in the integration"
                f" {own['integration_mb']:.1f} MB, elsewhere outside Home Assistant"
                f" {own['other_mb']:.1f} MB; in Home Assistant"
                f" {own['home_assistant_mb']:.1f} MB; the bench's probes"
                f" {own.get('bench_mb', 0.0):.1f} MB, not counted)",
                own_kb <= BUDGET_OWN_KB_PER_EXTENSION,
            )
    return checks


def table(results: list[dict[str, Any]]) -> str:
    """One table: a row per size and latency."""
    memory = memory_per_1000(results)
    headers = (
        "ext",
        "lat ms",
        "setup s",
        "MB/1k",
        "reg ms (req)",
        "vm ms (req)",
        "vm bound",
        "base vm ms",
        "ratio",
        f"ratio c{WIDE_CONCURRENCY}",
        "sys ms",
        "block ms",
        "cpu ms",
        "base block",
        "writes 0%/1%",
        "base writes",
        "callbacks 0%/1%",
    )
    rows: list[tuple[str, ...]] = []
    for r in results:
        c = r["cycles"]
        b = r["baseline"]
        reg = c["registrations"]
        vm = c.get("voicemail")
        wide = c.get(f"voicemail_c{WIDE_CONCURRENCY}")
        base_vm = b.get("voicemail")
        waves = math.ceil(r["mailboxes"] / r["concurrency"]) if r["mailboxes"] else 0
        # The bound from the client's own sequential time per request where
        # it was measured, else from the bare latency.
        sequential = r.get("sequential_requests_ms")
        per_request = sequential / r["mailboxes"] if sequential else r["latency_ms"]
        bound = BUDGET_VOICEMAIL_FACTOR * per_request * waves
        unchanged = max(
            c[n]["writes"] + c[n]["state_changed"] + c[n]["state_reported"]
            for n in ("registrations", "voicemail", "system")
            if n in c
        )
        per_1000 = memory.get((r["extensions"], r["latency_ms"]))
        rows.append(
            (
                str(r["extensions"]),
                f"{r['latency_ms']:g}",
                f"{r['setup_s']:.1f}",
                f"{per_1000:.1f}" if per_1000 is not None else "-",
                f"{reg['wall_ms']:.0f} ({sum(reg['requests'].values())})",
                f"{vm['wall_ms']:.0f} ({sum(vm['requests'].values())})" if vm else "-",
                f"{bound:.0f}" if r["latency_ms"] and vm else "-",
                f"{base_vm['wall_ms']:.0f}" if base_vm else "-",
                f"{base_vm['wall_ms'] / vm['wall_ms']:.1f}x" if vm and base_vm else "-",
                f"{base_vm['wall_ms'] / wide['wall_ms']:.1f}x"
                if wide and base_vm
                else "-",
                f"{c['system']['wall_ms']:.0f}",
                f"{_worst(c, 'max_block_ms'):.1f}",
                f"{_worst(c, 'max_block_cpu_ms'):.1f}",
                f"{_worst(b, 'max_block_ms'):.1f}",
                f"{unchanged}/{c['registrations_1pct']['state_changed']}",
                f"{b['registrations']['writes']}",
                f"{c['registrations'].get('callbacks', '-')}"
                f"/{c['registrations_1pct'].get('callbacks', '-')}",
            )
        )
    widths = [
        max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)
    ]
    lines = [
        "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += [
        "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in rows
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="scripts/bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--sizes",
        default=None,
        help="extension counts, comma separated (default 10,100,1000,5000)",
    )
    parser.add_argument(
        "--latency",
        default=None,
        help="PBX latency per request in ms, comma separated (default 0,20)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="sizes 10 and 1000 only, no slow baselines above 1000 extensions",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help=f"where to write the results (default {DEFAULT_JSON.relative_to(ROOT)})",
    )
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--events", choices=("setup", "full"), default=None, help=argparse.SUPPRESS
    )
    parser.add_argument("--send-events", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--serve-simulator", action="store_true", help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the bench (or, internally, one worker or the simulator)."""
    args = parse_args(argv)
    sizes = (
        tuple(int(s) for s in args.sizes.split(","))
        if args.sizes
        else (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    )
    latencies = (
        tuple(float(s) for s in args.latency.split(","))
        if args.latency
        else DEFAULT_LATENCIES
    )
    if args.serve_simulator:
        asyncio.run(_serve_simulator(sizes[0], latencies[0], args.seed))
        return 0
    if args.send_events:
        asyncio.run(serve_sender())
        return 0
    if args.worker and args.events:
        result = asyncio.run(
            EventsWorker(
                sizes[0],
                latencies[0],
                quick=args.quick,
                setup_only=args.events == "setup",
            ).run()
        )
        sys.stdout.write(json.dumps(result) + "\n")
        return 0
    if args.worker:
        result = asyncio.run(Worker(sizes[0], latencies[0], args.quick).run())
        sys.stdout.write(json.dumps(result) + "\n")
        return 0

    started = time.perf_counter()
    results = []
    for latency in latencies:
        for size in sizes:
            sys.stderr.write(f"bench: {size} extensions, {latency:g} ms latency ...\n")
            sys.stderr.flush()
            t0 = time.perf_counter()
            results.append(run_worker(size, latency, args.quick))
            sys.stderr.write(f"bench:   done in {time.perf_counter() - t0:.0f} s\n")
    events = None
    if EVENTS_SIZE in sizes:
        # Live events at the first latency: beside the 1000-extension worker
        # above (off), the same PBX with them on, and a small one for the
        # fixed cost of an entry.
        latency = latencies[0]
        small = min(sizes)
        sys.stderr.write(f"bench: live events, {EVENTS_SIZE} extensions ...\n")
        sys.stderr.flush()
        t0 = time.perf_counter()
        events = events_section(
            results,
            run_worker(small, latency, args.quick, events="setup"),
            run_worker(EVENTS_SIZE, latency, args.quick, events="full"),
        )
        sys.stderr.write(f"bench:   done in {time.perf_counter() - t0:.0f} s\n")
    checks = budget(results)
    if events is not None:
        checks += events_budget(events)
    report = {
        "machine": machine(),
        "sizes": list(sizes),
        "latencies_ms": list(latencies),
        "quick": args.quick,
        "duration_s": round(time.perf_counter() - started, 1),
        "results": results,
        "events": events,
        "budget": checks,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    out = [table(results), ""]
    if events is not None:
        out += [events_table(events), ""]
    marks = {True: "ok  ", False: "MISS", None: "info"}
    out += [
        f"{marks[c['ok']]}  {c['what']}: {c['measured']} (budget {c['limit']})"
        for c in checks
    ]
    out.append(f"\nwrote {args.json} in {report['duration_s']:.0f} s")
    sys.stdout.write("\n".join(out) + "\n")
    return 0 if all(c["ok"] is not False for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
