"""A time-accelerated polling soak with random faults and random PBX changes.

The integration polls the simulated PBX through every coordinator interval
of `KALLIOPE_SOAK_HOURS` simulated hours (3 in the suite, 24 with
`scripts/soak`) while faults, outages and state changes are injected at
random. Afterwards no task, socket or listener may have leaked, traced
memory must be flat from the end of the warm-up to the end, and every
entity must show the simulator's truth.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
import gc
import logging
import os
from pathlib import Path
import random
import time
import tracemalloc
from typing import Any

from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, storage
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.const import DOMAIN
from simulator import PbxState, RunningSimulator

from .conftest import LOGGER_NAME, PBX_ID
from .test_faults import BACK, LOST, PbxPower, VirtualClock

HOURS = float(os.environ.get("KALLIOPE_SOAK_HOURS", "3"))
SEED = int(os.environ.get("KALLIOPE_SOAK_SEED", "1"))
STEP_S = 30  # the shortest coordinator interval
# Memory is compared from the end of the warm-up (hour 2 of a full soak).
WARMUP_H = min(2.0, HOURS / 4)
# Traced memory may grow this much after the warm-up (caches settling).
MEMORY_SLACK_BYTES = 512 * 1024
TIMEOUT_S = 0.5  # the client's timeout while faults may be injected
FAULT_KINDS = ("http500", "malformed", "truncated", "html", "empty", "reset", "delay")
FAULT_PATHS = (
    "/",
    "/users/registrations/",
    "/pbx/pending",
    "/voicemails/",
    "/voicemails/count/2",
    "/license/",
    "/system/firmware",
    "/users/configs/",
)
TEMP_EXTEN = "299"
PART_LOST = ": part of its data is unavailable: "
PART_BACK = ": data from "


@pytest.fixture
def scenario() -> dict[str, Any]:
    """Twenty extensions of the default scenario, about half with voicemail."""
    return {"extensions": 20, "seed": SEED}


@pytest.fixture
async def pbx_power(
    socket_enabled: None, pbx_state: PbxState
) -> AsyncIterator[PbxPower]:
    """The PBX's power switch."""
    power = PbxPower(pbx_state)
    yield power
    await power.close()


@pytest.fixture
async def simulator(pbx_power: PbxPower) -> RunningSimulator:
    """The simulated PBX, switched on (replaces the shared fixture here)."""
    return await pbx_power.on()


@dataclass
class Tally:
    """What the soak did, for the report."""

    faults: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    lines: Counter[str] = field(default_factory=Counter)


class LineCounter(logging.Handler):
    """Counts the integration's log lines without keeping the records.

    pytest's capture keeps every record, and with it the exception in its
    arguments, that exception's traceback and every frame's locals: over
    hours that is memory the integration does not hold.
    """

    def __init__(self, tally: Tally) -> None:
        """Count into `tally`."""
        super().__init__(logging.INFO)
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        """Count lost/back lines, warnings and errors.

        A whole PBX is lost and back in one line each. Endpoints failing
        while the rest answers are named together in one line, and may come
        back in other groupings: those are counted by endpoint.
        """
        message = record.getMessage()
        if PART_LOST in message:
            self.tally.lines["endpoints lost"] += len(
                message.partition(PART_LOST)[2].split("; ")
            )
        elif PART_BACK in message:
            names = message.partition(PART_BACK)[2].rpartition(BACK)[0]
            self.tally.lines["endpoints back"] += len(names.split(", "))
        elif LOST in message:
            self.tally.lines["lost"] += 1
        elif BACK in message:
            self.tally.lines["back"] += 1
        if record.levelno >= logging.WARNING:
            self.tally.lines[record.levelname.lower()] += 1


def open_sockets() -> int:
    """Sockets this process holds (both the client's and the simulator's)."""
    fd_dir = Path("/proc/self/fd")
    count = 0
    for fd in fd_dir.iterdir():
        try:
            if str(fd.readlink()).startswith("socket:"):
                count += 1
        except OSError:
            continue
    return count


def listener_counts(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, int]:
    """Event bus listeners and the coordinators' listeners."""
    runtime = entry.runtime_data
    counts = {"bus": sum(hass.bus.async_listeners().values())}
    for coordinator in (runtime.registrations, runtime.voicemail, runtime.system):
        counts[coordinator.name] = len(coordinator._listeners)
    return counts


def pool_counts(hass: HomeAssistant) -> dict[str, int]:
    """Connections the shared client session pools or uses."""
    connector = async_get_clientsession(hass).connector
    assert connector is not None
    return {
        "pooled": sum(len(conns) for conns in connector._conns.values()),
        "in use": len(connector._acquired),
    }


def traced_memory() -> tracemalloc.Snapshot:
    """Traced memory, leaving out the harness (log capture, pytest, storage mock)
    and the simulator with its aiohttp server."""
    return tracemalloc.take_snapshot().filter_traces(
        (
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "*/logging/*"),
            tracemalloc.Filter(False, "*/_pytest/*"),
            tracemalloc.Filter(False, "*/simulator/*"),
            tracemalloc.Filter(False, "*/aiohttp/web*"),
            # The harness's storage mock records every registry write.
            tracemalloc.Filter(False, "*/unittest/mock.py"),
            tracemalloc.Filter(False, "*/functools.py"),
        )
    )


def forget_storage_writes() -> None:
    """Drop the calls the harness's storage mock recorded, with their data.

    Every registry save is a recorded call holding what was written; a real
    Home Assistant writes the file and keeps nothing.
    """
    for name in ("_async_write_data", "_async_load", "async_remove"):
        recorder = getattr(storage.Store, name)
        if hasattr(recorder, "reset_mock"):
            recorder.reset_mock()


def snapshot_bytes(snapshot: tracemalloc.Snapshot) -> int:
    """Bytes held in a snapshot."""
    return sum(stat.size for stat in snapshot.statistics("filename"))


class Chaos:
    """Random faults, outages and PBX changes, reproducible from the seed."""

    def __init__(
        self, state: PbxState, power: PbxPower, tally: Tally, seed: int
    ) -> None:
        """Start with a healthy PBX."""
        self.state = state
        self.power = power
        self.tally = tally
        self.rng = random.Random(seed)  # noqa: S311 - not for secrets
        self.down_for = 0
        self.license_for = 0

    async def step(self) -> None:
        """Maybe break something, maybe change something, maybe repair."""
        rng, state = self.rng, self.state
        if self.down_for:
            self.down_for -= 1
            if not self.down_for:
                await self.power.on()
        elif rng.random() < 0.004:
            self.down_for = rng.randint(1, 12)
            self.tally.faults["pbx_down"] += 1
            await self.power.off()
        if self.license_for:
            self.license_for -= 1
            if not self.license_for:
                state.set_license("ACTIVE")
        elif rng.random() < 0.004:
            self.license_for = rng.randint(1, 30)
            state.set_license(rng.choice(("EXPIRED", "DISABLED")))
            self.tally.faults["license"] += 1
        if rng.random() < 0.06:
            kind = rng.choice(FAULT_KINDS)
            state.add_fault(
                rng.choice(FAULT_PATHS),
                kind,
                count=rng.randint(1, 6),
                delay_s=TIMEOUT_S * 3 if kind == "delay" else None,
            )
            self.tally.faults[kind] += 1
        self._change()

    def _change(self) -> None:
        rng, state = self.rng, self.state
        roll = rng.random()
        if roll < 0.3:
            state.change_registrations(0.1, seed=rng.randint(0, 10**6))
            self.tally.changes["registrations"] += 1
        elif roll < 0.5:
            mailboxes = sorted(
                exten for exten, ext in state.extensions.items() if ext.vm_enabled
            )
            state.set_voicemail(
                rng.choice(mailboxes),
                new=rng.randint(0, 9),
                urgent=rng.randint(0, 2),
                old=rng.randint(0, 30),
            )
            self.tally.changes["voicemail"] += 1
        elif roll < 0.53:
            state.set_pending(not state.pending)
            self.tally.changes["pending"] += 1
        elif roll < 0.535:
            if TEMP_EXTEN in state.extensions:
                state.remove_extension(TEMP_EXTEN)
                self.tally.changes["extension_removed"] += 1
            else:
                state.add_extension(TEMP_EXTEN, "Soak", "Temporary", vm_enabled=True)
                self.tally.changes["extension_added"] += 1

    async def heal(self) -> None:
        """End every fault: power on, licence active, no faults armed.

        The temporary extension goes too, so that the warm-up and the end
        are compared with the same devices and listeners.
        """
        if TEMP_EXTEN in self.state.extensions:
            self.state.remove_extension(TEMP_EXTEN)
        if self.down_for:
            self.down_for = 0
            await self.power.on()
        if self.license_for:
            self.license_for = 0
            self.state.set_license("ACTIVE")
        self.state.clear_faults()


def entity_state(hass: HomeAssistant, platform: str, unique_id: str) -> str | None:
    """The state of our entity with that unique id, if it exists."""
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    if entity_id is None:
        return None
    state = hass.states.get(entity_id)
    return state.state if state else None


def truth_mismatches(hass: HomeAssistant, state: PbxState) -> list[str]:
    """Entities whose state differs from what the simulator holds."""
    wrong: list[str] = []

    def expect(platform: str, unique_id: str, wanted: str) -> None:
        shown = entity_state(hass, platform, unique_id)
        if shown != wanted:
            wrong.append(f"{platform} {unique_id}: {shown!r} != {wanted!r}")

    enabled = [ext for ext in state.extensions.values() if ext.enabled]
    registered = sum(
        1 for ext in enabled if state.registration(ext.exten).status == "OK"
    )
    expect("sensor", f"{PBX_ID}_registered_extensions", str(registered))
    expect(
        "sensor", f"{PBX_ID}_unregistered_extensions", str(len(enabled) - registered)
    )
    expect("sensor", f"{PBX_ID}_license_status", state.license_status.lower())
    expect(
        "binary_sensor",
        f"{PBX_ID}_pending_changes",
        STATE_ON if state.pending else STATE_OFF,
    )
    total = 0
    for ext in state.extensions.values():
        prefix = f"{PBX_ID}_{ext.exten}"
        if ext.enabled:
            status = state.registration(ext.exten).status
            expect(
                "binary_sensor",
                f"{prefix}_registered",
                STATE_ON if status == "OK" else STATE_OFF,
            )
        expect("sensor", f"{prefix}_forwarding", ext.failover.type.lower())
        if ext.vm_enabled:
            counts = state.voicemails[ext.exten]
            total += counts.new
            expect("sensor", f"{prefix}_voicemail_new", str(counts.new))
            expect("sensor", f"{prefix}_voicemail_urgent", str(counts.urgent))
            expect("sensor", f"{prefix}_voicemail_old", str(counts.old))
    expect("sensor", f"{PBX_ID}_new_voicemails", str(total))
    if TEMP_EXTEN not in state.extensions:
        leftover = entity_state(
            hass, "binary_sensor", f"{PBX_ID}_{TEMP_EXTEN}_registered"
        )
        if leftover is not None:
            wrong.append(f"removed extension {TEMP_EXTEN} still shown: {leftover}")
    return wrong


async def test_soak(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    pbx_power: PbxPower,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Hours of polling through faults: nothing leaks, the truth is shown at the end."""
    caplog.set_level(logging.INFO)
    tally = Tally()
    logger = logging.getLogger(LOGGER_NAME)
    counter = LineCounter(tally)
    logger.addHandler(counter)
    logger.propagate = False
    clock = VirtualClock(hass)
    # The harness runs the loop in debug mode, which keeps a stack trace per
    # callback and fills linecache: production runs without it.
    hass.loop.set_debug(False)
    chaos = Chaos(pbx_state, pbx_power, tally, SEED)
    runtime = init_integration.runtime_data
    runtime.client._timeout = TIMEOUT_S
    steps = round(HOURS * 3600 / STEP_S)
    warmup_steps = round(WARMUP_H * 3600 / STEP_S)
    started = time.perf_counter()
    tracemalloc.start(int(os.environ.get("KALLIOPE_SOAK_FRAMES", "1")))
    baseline: dict[str, Any] = {}
    try:
        for step in range(steps):
            if step == warmup_steps:
                await chaos.heal()
                await clock.advance(600)  # every coordinator refreshes cleanly
                baseline = await measure(hass, init_integration)
            await chaos.step()
            await clock.advance(STEP_S)
            if step % 120 == 0:
                forget_storage_writes()
        await chaos.heal()
        runtime.client._timeout = 10.0
        await clock.advance(600)
        final = await measure(hass, init_integration)
    finally:
        tracemalloc.stop()
        clock.restore()
        hass.loop.set_debug(True)
        logger.propagate = True
        logger.removeHandler(counter)
    elapsed = time.perf_counter() - started

    requests = sum(pbx_state.counters.values())
    growth = final["memory"] - baseline["memory"]
    print(
        f"\nsoak: {HOURS:g} simulated hours ({steps} steps of {STEP_S} s) in"
        f" {elapsed:.1f} s real, seed {SEED}\n"
        f"  requests served: {requests} ({dict(sorted(pbx_state.counters.items()))})\n"
        f"  faults injected: {sum(tally.faults.values())} {dict(sorted(tally.faults.items()))}\n"
        f"  PBX changes: {sum(tally.changes.values())} {dict(sorted(tally.changes.items()))}\n"
        f"  log lines: {tally.lines['lost']} lost, {tally.lines['back']} back,"
        f" endpoints {tally.lines['endpoints lost']} lost,"
        f" {tally.lines['endpoints back']} back,"
        f" {tally.lines['warning']} warnings, {tally.lines['error']} errors\n"
        f"  at hour {WARMUP_H:g} -> end: tasks {baseline['tasks']} -> {final['tasks']},"
        f" sockets {baseline['sockets']} -> {final['sockets']},"
        f" pool {baseline['pool']} -> {final['pool']},"
        f" listeners {baseline['listeners']} -> {final['listeners']}\n"
        f"  traced memory {baseline['memory'] / 1024:.0f} KiB -> "
        f"{final['memory'] / 1024:.0f} KiB ({growth / 1024:+.0f} KiB)"
    )
    key = "traceback" if tracemalloc.get_traceback_limit() > 1 else "lineno"
    top = final["snapshot"].compare_to(baseline["snapshot"], key)
    for stat in top[: int(os.environ.get("KALLIOPE_SOAK_TOP", "0"))]:
        print(f"    {stat}")
        if key == "traceback":
            print("      " + "\n      ".join(stat.traceback.format()))

    assert final["tasks"] <= baseline["tasks"]
    assert final["sockets"] <= baseline["sockets"]
    assert final["pool"]["in use"] == 0
    assert final["listeners"] == baseline["listeners"]
    assert growth < MEMORY_SLACK_BYTES
    assert truth_mismatches(hass, pbx_state) == []
    assert tally.lines["lost"] == tally.lines["back"] > 0
    assert tally.lines["endpoints lost"] == tally.lines["endpoints back"]
    assert tally.lines["warning"] == tally.lines["error"] == 0
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def measure(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    """Tasks, sockets, pooled connections, listeners and memory, once idle.

    Idle: no refresh running and no request of ours in flight (the clock's
    last jump also ended any answer the simulator was still delaying).
    """
    connector = async_get_clientsession(hass).connector
    assert connector is not None
    for _ in range(100):
        await hass.async_block_till_done(wait_background_tasks=True)
        if not connector._acquired:
            break
        await asyncio.sleep(0.05)
    forget_storage_writes()
    gc.collect()
    return {
        "tasks": len(asyncio.all_tasks()),
        "sockets": open_sockets(),
        "pool": pool_counts(hass),
        "listeners": listener_counts(hass, entry),
        "snapshot": (snapshot := traced_memory()),
        "memory": snapshot_bytes(snapshot),
    }
