"""The fault matrix: what the user sees when the PBX misbehaves, and after.

Every test runs the integration against the simulated PBX on loopback and
moves a virtual clock through the coordinators' intervals. Each fault is
checked for the same things: which entities go unavailable, the log lines
(one when the PBX is lost, one when it is back), the repair issues, the
reauthentication flow, that polling stops where it must, that everything
is back within one polling interval after the fault ends, and that nothing
is logged as an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
import logging
from typing import Any

from aiohttp import web
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_PASSWORD, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.kalliopepbx.const import DOMAIN, REQUEST_TIMEOUT
from custom_components.kalliopepbx.polling import POLLING_LOGGER
from simulator import PbxState, RunningSimulator
from simulator.app import create_app

from .conftest import LOGGER_NAME, PASSWORD, PBX_ID, our_log_lines

LOST = "is unavailable"
BACK = "is available again"
LAST_EVENT_SENSOR = "sensor.kalliopepbx_office_last_pbx_event"
LAST_BACKUP_SENSOR = "sensor.kalliopepbx_office_last_backup"
# The client's timeout in the fault window, and what "slow" and "too slow" mean.
TIMEOUT_S = 0.6
SLOW_MS = 300
# Slow answers get a wider margin: a loaded machine can stall the loop for
# a few tenths of a second, which must not turn "slow" into "timed out".
SLOW_TIMEOUT_S = 4 * SLOW_MS / 1000
TIMEOUT_FAULT_S = 0.25
TOO_SLOW_S = 3.0
FOREVER = 10**6  # a fault count that outlasts any test

REGISTRATIONS_S = 30
VOICEMAIL_S = 60
SYSTEM_S = 600


class VirtualClock:
    """Moves the event loop's clock, which DataUpdateCoordinator schedules on.

    Real time keeps flowing underneath (requests, latency and the client's
    timeout work as usual); `advance` jumps ahead, fires what became due and
    waits until every refresh it started has finished.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        """Take over `hass.loop.time`."""
        self._hass = hass
        self._loop = hass.loop
        self._real_time = type(self._loop).time.__get__(self._loop)
        self._slow_callback = self._loop.slow_callback_duration
        self.offset = 0.0
        self._loop.time = lambda: self._real_time() + self.offset  # type: ignore[method-assign]
        # A jump is not a slow callback.
        self._loop.slow_callback_duration = 1e9

    async def settle(self) -> None:
        """Wait for every task, background refreshes included."""
        await self._hass.async_block_till_done(wait_background_tasks=True)

    async def advance(self, seconds: float, step: float = REGISTRATIONS_S) -> None:
        """Move forward `seconds`, `step` at a time, settling after each."""
        remaining = seconds
        while remaining > 0:
            jump = min(step, remaining)
            remaining -= jump
            self.offset += jump
            # Also fires what is due within the coordinators' random 0.05-0.5 s.
            async_fire_time_changed(self._hass)
            await self.settle()

    def restore(self) -> None:
        """Give the loop its own clock back."""
        del self._loop.time
        self._loop.slow_callback_duration = self._slow_callback


@pytest.fixture
def clock(hass: HomeAssistant) -> Iterator[VirtualClock]:
    """A virtual clock for the test's event loop."""
    virtual = VirtualClock(hass)
    yield virtual
    virtual.restore()


class PbxPower:
    """The simulated PBX as a machine that can be switched off and on again.

    One application serves every power cycle (as one PBX would); switching
    off closes the listening socket and every open connection.
    """

    def __init__(self, state: PbxState) -> None:
        """Nothing runs until `on`."""
        self.state = state
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    async def on(self) -> RunningSimulator:
        """Serve the PBX, on the same port as before if it ran already."""
        if self._runner is None:
            self._runner = web.AppRunner(
                create_app(self.state),
                handle_signals=False,
                access_log=None,
                shutdown_timeout=1.0,
            )
            await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()
        self.port = int(self._runner.addresses[-1][1])
        return RunningSimulator(self.state, "127.0.0.1", self.port, "http")

    async def off(self) -> None:
        """Stop serving: connections are dropped and refused until `on`."""
        if self._site is not None and self._runner is not None:
            site, self._site = self._site, None
            await site.stop()
            assert self._runner.server is not None
            await self._runner.server.shutdown(0.1)

    async def close(self) -> None:
        """Switch off for good."""
        await self.off()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()


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


def shorten_timeout(entry: MockConfigEntry, seconds: float = TIMEOUT_S) -> None:
    """A client timeout short enough to hit for real in a test.

    Only for the fault window: setup and recovery keep the real timeout, so a
    busy machine cannot make them fail.
    """
    entry.runtime_data.client._timeout = seconds


# ---------------------------------------------------------------- helpers


def shown(hass: HomeAssistant) -> dict[str, tuple[str, dict[str, Any]]]:
    """State and attributes of every entity of the integration."""
    registry = er.async_get(hass)
    result = {}
    for entry in registry.entities.values():
        if entry.platform != DOMAIN:
            continue
        state = hass.states.get(entry.entity_id)
        if state is not None:
            result[entry.entity_id] = (state.state, dict(state.attributes))
    return result


def entity_ids(hass: HomeAssistant, unique_id_prefix: str) -> set[str]:
    """Entities of the integration whose unique id starts with the prefix."""
    return {
        entry.entity_id
        for entry in er.async_get(hass).entities.values()
        if entry.platform == DOMAIN and entry.unique_id.startswith(unique_id_prefix)
    }


def unavailable(hass: HomeAssistant) -> set[str]:
    """Entities of the integration that are unavailable now."""
    return {
        entity_id
        for entity_id, (state, _) in shown(hass).items()
        if state == STATE_UNAVAILABLE
    }


def polled(entity_ids: Iterable[str]) -> set[str]:
    """All but the entities the PBX pushes (the webhook works without
    polling) and the last backup (files on disk here)."""
    return {
        entity_id
        for entity_id in entity_ids
        if entity_id not in (LAST_EVENT_SENSOR, LAST_BACKUP_SENSOR)
    }


def assert_nothing_went_wrong(caplog: pytest.LogCaptureFixture) -> None:
    """No error anywhere, no warning of ours, no stray exception."""
    bad = [
        f"{record.levelname} {record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR
        or record.exc_info is not None
        or (record.levelno >= logging.WARNING and record.name.startswith(LOGGER_NAME))
        or "exception was never retrieved" in record.getMessage()
        or "Exception in callback" in record.getMessage()
    ]
    assert bad == []


def repair_issue(hass: HomeAssistant, issue_id: str) -> ir.IssueEntry | None:
    """Our repair issue with that id, if raised."""
    return ir.async_get(hass).async_get_issue(DOMAIN, issue_id)


def reauth_flows(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Reauthentication flows in progress for our integration."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_REAUTH
    ]


async def run_until_system_poll(clock: VirtualClock) -> None:
    """Healthy polling up to 9 minutes after setup: the system poll comes next."""
    await clock.advance(SYSTEM_S - 2 * REGISTRATIONS_S)


# A fault window of four registrations intervals from minute 9 covers a
# registrations, a voicemail and the system poll: every coordinator fails.
FAULT_WINDOW_S = 4 * REGISTRATIONS_S


# ---------------------------------------------------------------- PBX-wide faults


@pytest.mark.parametrize(
    ("kind", "count", "delay_s"),
    [
        pytest.param("delay", FOREVER, TOO_SLOW_S, id="timeout"),
        pytest.param("http500", FOREVER, None, id="http500"),
        pytest.param("malformed", FOREVER, None, id="malformed_xml"),
        pytest.param("truncated", FOREVER, None, id="truncated_body"),
        pytest.param("html", FOREVER, None, id="html_error_page"),
        pytest.param("empty", FOREVER, None, id="empty_body"),
        pytest.param("reset", FOREVER, None, id="connection_reset"),
    ],
)
async def test_pbx_wide_fault(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    count: int,
    delay_s: float | None,
) -> None:
    """Every entity goes unavailable, one line each way, all back in one interval."""
    caplog.set_level(logging.INFO)
    await run_until_system_poll(clock)
    before = shown(hass)
    assert unavailable(hass) == set()

    shorten_timeout(init_integration, TIMEOUT_FAULT_S)
    pbx_state.add_fault("/", kind, count=count, delay_s=delay_s)
    await clock.advance(FAULT_WINDOW_S)

    assert unavailable(hass) == polled(before)
    lost = our_log_lines(caplog, LOST)
    assert len(lost) == 1
    assert "KalliopePBX Office" in lost[0]
    assert our_log_lines(caplog, BACK) == []
    assert init_integration.state is ConfigEntryState.LOADED
    assert reauth_flows(hass) == []

    pbx_state.clear_faults()
    # Recovery with the real timeout, as the fault window's docstring says:
    # on a busy machine a quarter second is not enough for a whole poll.
    shorten_timeout(init_integration, REQUEST_TIMEOUT)
    await clock.advance(REGISTRATIONS_S)

    assert shown(hass) == before
    assert len(our_log_lines(caplog, LOST)) == 1
    assert len(our_log_lines(caplog, BACK)) == 1
    assert_nothing_went_wrong(caplog)


async def test_coordinator_reports_stay_out_of_the_log(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every coordinator fails and recovers: only PbxHealth's two lines show."""
    caplog.set_level(logging.INFO)
    await run_until_system_poll(clock)
    pbx_state.add_fault("/", "http500", count=FOREVER)
    await clock.advance(FAULT_WINDOW_S)
    pbx_state.clear_faults()
    await clock.advance(REGISTRATIONS_S)

    from_coordinators = [
        record
        for record in caplog.records
        if record.name == POLLING_LOGGER.name and record.levelno > logging.DEBUG
    ]
    assert from_coordinators == []
    assert not any(
        "Error fetching" in record.getMessage()
        or "data recovered" in record.getMessage()
        for record in caplog.records
    )
    health_lines = [
        (record.name, record.levelno)
        for record in caplog.records
        if LOST in record.getMessage() or BACK in record.getMessage()
    ]
    assert health_lines == [(LOGGER_NAME, logging.INFO)] * 2
    assert_nothing_went_wrong(caplog)


async def test_coordinator_reports_at_debug(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Debug logging for the coordinators' logger shows their reports, at DEBUG."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger=POLLING_LOGGER.name)
    await run_until_system_poll(clock)
    pbx_state.add_fault("/", "http500", count=FOREVER)
    await clock.advance(FAULT_WINDOW_S)
    pbx_state.clear_faults()
    await clock.advance(REGISTRATIONS_S)

    reports = [
        record
        for record in caplog.records
        if record.name == POLLING_LOGGER.name
        and (
            "Error fetching" in record.getMessage()
            or "data recovered" in record.getMessage()
        )
    ]
    assert reports
    assert {record.levelno for record in reports} == {logging.DEBUG}
    assert len(our_log_lines(caplog, LOST)) == 1
    assert len(our_log_lines(caplog, BACK)) == 1
    # Newer cores add the traceback at debug level: nothing above it here.
    assert [r.getMessage() for r in caplog.records if r.levelno > logging.INFO] == []


def test_coordinator_bug_keeps_its_level(caplog: pytest.LogCaptureFixture) -> None:
    """A traceback on the coordinators' logger is a bug: it stays an ERROR."""

    def broken() -> None:
        raise RuntimeError("boom")

    try:
        broken()
    except RuntimeError:
        POLLING_LOGGER.exception("Unexpected error fetching %s data", "registrations")
    (record,) = [r for r in caplog.records if r.name == POLLING_LOGGER.name]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None


async def test_pbx_down_for_several_cycles(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_power: PbxPower,
    pbx_state: PbxState,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Switched off for 15 minutes (connection refused), then on at the same port."""
    caplog.set_level(logging.INFO)
    await run_until_system_poll(clock)
    before = shown(hass)

    await pbx_power.off()
    await clock.advance(15 * 60)

    assert unavailable(hass) == polled(before)
    assert len(our_log_lines(caplog, LOST)) == 1
    assert our_log_lines(caplog, BACK) == []

    await pbx_power.on()
    pbx_state.reset_counters()
    await clock.advance(REGISTRATIONS_S)

    assert shown(hass) == before
    assert len(our_log_lines(caplog, LOST)) == 1
    assert len(our_log_lines(caplog, BACK)) == 1
    # Back in one interval: one refresh of each coordinator, no more.
    assert pbx_state.counters["GET /users/registrations/"] == 1
    assert pbx_state.counters["GET /license/pxbinstance"] == 1
    assert_nothing_went_wrong(caplog)


async def test_slow_answers_within_the_timeout(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every answer slow, within the timeout: nothing goes unavailable, nothing is logged."""
    caplog.set_level(logging.INFO)
    await run_until_system_poll(clock)
    before = shown(hass)
    pbx_state.reset_counters()

    shorten_timeout(init_integration, SLOW_TIMEOUT_S)
    pbx_state.set_latency(SLOW_MS)
    await clock.advance(FAULT_WINDOW_S)

    assert shown(hass) == before
    assert pbx_state.counters["GET /license/pxbinstance"] == 1
    assert our_log_lines(caplog, LOST) == []
    assert_nothing_went_wrong(caplog)


# ---------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param("password_changed", id="401_password_changed"),
        pytest.param("http401", id="401_fault"),
        pytest.param("http403", id="403_fault"),
    ],
)
async def test_credentials_refused_mid_run(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    refusal: str,
) -> None:
    """Reauthentication starts, polling stops, the new password brings it all back."""
    caplog.set_level(logging.INFO)
    await run_until_system_poll(clock)
    before = shown(hass)
    pbx_state.reset_counters()

    if refusal == "password_changed":
        pbx_state.set_password("n3w-Passw0rd")
    else:
        pbx_state.add_fault("/", refusal, count=FOREVER)
    await clock.advance(FAULT_WINDOW_S)

    flows = reauth_flows(hass)
    assert len(flows) == 1
    assert flows[0]["context"]["entry_id"] == init_integration.entry_id
    assert unavailable(hass) == polled(before)
    assert len(our_log_lines(caplog, LOST)) == 1
    # Each coordinator was refused once, and then stopped asking.
    refused = dict(pbx_state.counters)
    assert refused["GET /users/registrations/"] == 1
    assert refused["GET /license/pxbinstance"] == 1
    assert refused["GET /voicemails/count/{mailbox}"] <= len(pbx_state.voicemails)
    await clock.advance(3 * 3600, step=SYSTEM_S / 2)
    assert dict(pbx_state.counters) == refused

    # The user answers the reauthentication form with the PBX's password.
    if refusal == "password_changed":
        new_password = "n3w-Passw0rd"
    else:
        pbx_state.clear_faults()
        new_password = PASSWORD
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_PASSWORD: new_password}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await clock.settle()

    assert init_integration.state is ConfigEntryState.LOADED
    assert shown(hass) == before
    assert reauth_flows(hass) == []
    assert_nothing_went_wrong(caplog)


# ---------------------------------------------------------------- licence


async def test_license_expired_then_active(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A repair issue while it lasts; licence entities tell why; nothing crashes."""
    caplog.set_level(logging.INFO)
    issue_id = f"license_problem_{init_integration.entry_id}"
    await clock.advance(2 * REGISTRATIONS_S)
    before = shown(hass)

    pbx_state.set_license("EXPIRED")
    await clock.advance(2 * REGISTRATIONS_S)

    issue = repair_issue(hass, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {
        "title": "KalliopePBX Office",
        "status": "expired",
    }
    assert (
        hass.states.get("sensor.kalliopepbx_office_licence_status").state == "expired"
    )
    assert (
        hass.states.get("binary_sensor.kalliopepbx_office_licence_problem").state
        == "on"
    )
    gone = unavailable(hass)
    # What the licence gates is unavailable; the licence's own entities are not.
    assert entity_ids(hass, f"{PBX_ID}_201_registered") <= gone
    assert entity_ids(hass, f"{PBX_ID}_202_voicemail_new") <= gone
    assert "sensor.kalliopepbx_office_licence_status" not in gone
    assert init_integration.state is ConfigEntryState.LOADED
    # A licence problem is a repair issue, not an outage.
    assert our_log_lines(caplog, LOST) == []

    pbx_state.set_license("ACTIVE")
    await clock.advance(REGISTRATIONS_S)

    assert repair_issue(hass, issue_id) is None
    assert shown(hass) == before
    assert_nothing_went_wrong(caplog)


# ---------------------------------------------------------------- one mailbox


async def test_one_mailbox_failing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only that mailbox's sensors go unavailable; the total keeps its last count."""
    caplog.set_level(logging.INFO)
    before = shown(hass)
    mailbox = entity_ids(hass, f"{PBX_ID}_204_voicemail_")
    assert len(mailbox) == 3

    pbx_state.add_fault("/voicemails/count/204", "http500", count=FOREVER)
    await clock.advance(5 * VOICEMAIL_S)

    assert unavailable(hass) == mailbox
    assert {k: v for k, v in shown(hass).items() if k not in mailbox} == {
        k: v for k, v in before.items() if k not in mailbox
    }
    assert our_log_lines(caplog, LOST) == []

    pbx_state.clear_faults()
    await clock.advance(VOICEMAIL_S)

    assert shown(hass) == before
    assert_nothing_went_wrong(caplog)


@pytest.mark.parametrize(
    ("path", "affected"),
    [
        pytest.param("/voicemails/", f"{PBX_ID}_", id="every_mailbox"),
        pytest.param("/system/firmware", f"{PBX_ID}_", id="firmware_endpoint"),
    ],
)
async def test_one_endpoint_failing_persistently(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    clock: VirtualClock,
    caplog: pytest.LogCaptureFixture,
    path: str,
    affected: str,
) -> None:
    """A broken endpoint while the rest works: one line when lost, not a flapping log."""
    caplog.set_level(logging.INFO)
    await run_until_system_poll(clock)
    before = shown(hass)

    pbx_state.add_fault(path, "http500", count=FOREVER)
    await clock.advance(2 * SYSTEM_S)

    gone = unavailable(hass)
    assert gone
    assert entity_ids(hass, f"{PBX_ID}_201_registered") & gone == set()
    assert len(our_log_lines(caplog, LOST)) == 1
    assert our_log_lines(caplog, BACK) == []

    pbx_state.clear_faults()
    await clock.advance(SYSTEM_S)

    assert shown(hass) == before
    assert len(our_log_lines(caplog, BACK)) == 1
    assert_nothing_went_wrong(caplog)
