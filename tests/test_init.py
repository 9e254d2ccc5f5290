"""Setting up a PBX, and how the entry behaves while the PBX changes under it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
import logging
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import (
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from custom_components.kalliopepbx import async_remove_config_entry_device
from custom_components.kalliopepbx.api import DigestCredentials
from custom_components.kalliopepbx.const import (
    CONF_AUTH,
    CONF_PBX_ID,
    DOMAIN,
    REGISTRATIONS_INTERVAL,
    SYSTEM_INTERVAL,
    VOICEMAIL_INTERVAL,
)
from custom_components.kalliopepbx.diagnostics import (
    async_get_config_entry_diagnostics,
)
from simulator import PbxState, RunningSimulator, build_scenario, run_simulator

from .conftest import (
    PBX_ID,
    TITLE,
    advance,
    entry_data,
    find_device,
    free_port,
    record_state_writes,
)

VOICEMAIL_COUNTS = "GET /voicemails/count/{mailbox}"
VM_MAILBOXES = ["202", "203", "204", "205", "207", "208", "209"]  # demo scenario


def add_entry(
    hass: HomeAssistant, sim: RunningSimulator, **overrides: Any
) -> MockConfigEntry:
    """A config entry for a simulator (other than the shared fixture's)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=overrides.pop("title", TITLE),
        unique_id=overrides.get(CONF_PBX_ID, PBX_ID),
        data=entry_data(sim, **overrides),
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
def state_writes(hass: HomeAssistant) -> list[str]:
    """Entity ids of every state write (changed or only reported) from now on."""
    return record_state_writes(hass)


# ---------------------------------------------------------------- setup


async def test_setup_and_unload(
    hass: HomeAssistant, init_integration: MockConfigEntry, pbx_state: PbxState
) -> None:
    """The entry loads with one PBX device and a device per extension."""
    entry = init_integration
    assert entry.state is ConfigEntryState.LOADED
    pbx = find_device(hass, PBX_ID)
    assert pbx is not None
    assert (pbx.name, pbx.manufacturer, pbx.model) == (
        TITLE,
        "NetResults",
        "KalliopePBX",
    )
    assert pbx.sw_version == "3.9.6-2774"
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert len(devices) == 1 + len(pbx_state.extensions)
    giulia = find_device(hass, f"{PBX_ID}_202")
    assert giulia is not None
    assert giulia.name == "Giulia Rossi"
    assert giulia.via_device_id == pbx.id

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("binary_sensor.giulia_rossi_registered").state == (
        STATE_UNAVAILABLE
    )


async def test_setup_retries_while_pbx_is_down(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """Nothing answers: ConfigEntryNotReady, Home Assistant retries later."""
    down = RunningSimulator(build_scenario(1), "127.0.0.1", free_port(), "http")
    entry = add_entry(hass, down)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "Cannot reach the PBX" in (entry.reason or "")


async def test_setup_refused_credentials_start_reauth(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """HTTP 401 at setup: ConfigEntryAuthFailed, a reauth flow is waiting."""
    pbx_state.set_password("changed-by-someone")
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert flows[0]["context"]["entry_id"] == config_entry.entry_id


async def test_refused_credentials_while_running_start_reauth_and_stop_polling(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A 401 on a poll starts reauth; the refused coordinators stop polling."""
    pbx_state.set_password("changed-by-someone")
    await advance(hass, freezer, SYSTEM_INTERVAL)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert hass.states.get("binary_sensor.giulia_rossi_registered").state == (
        STATE_UNAVAILABLE
    )

    pbx_state.reset_counters()
    await advance(hass, freezer, SYSTEM_INTERVAL)
    await advance(hass, freezer, SYSTEM_INTERVAL)
    assert sum(pbx_state.counters.values()) == 0


async def test_two_pbxs_side_by_side(
    hass: HomeAssistant, init_integration: MockConfigEntry, socket_enabled: None
) -> None:
    """Two simulators, two entries: each has its own PBX and extension devices."""
    other_state = build_scenario(3, serial="KPBX-SIM-0002")
    async with run_simulator(other_state) as other_sim:
        other = add_entry(
            hass, other_sim, title="KalliopePBX Warehouse", pbx_id="KPBX-SIM-0002"
        )
        assert await hass.config_entries.async_setup(other.entry_id)
        await hass.async_block_till_done()
        assert other.state is ConfigEntryState.LOADED

        registry = dr.async_get(hass)
        first = dr.async_entries_for_config_entry(registry, init_integration.entry_id)
        second = dr.async_entries_for_config_entry(registry, other.entry_id)
        assert len(first) == 13
        assert len(second) == 4
        assert not {d.id for d in first} & {d.id for d in second}
        warehouse = find_device(hass, "KPBX-SIM-0002")
        assert warehouse is not None
        assert warehouse.name == "KalliopePBX Warehouse"
        other_201 = find_device(hass, "KPBX-SIM-0002_201")
        assert other_201 is not None
        assert other_201.via_device_id == warehouse.id
        office_201 = find_device(hass, f"{PBX_ID}_201")
        assert office_201 is not None
        assert office_201.id != other_201.id

        # Unloading one leaves the other working.
        assert await hass.config_entries.async_unload(other.entry_id)
        await hass.async_block_till_done()
        assert init_integration.state is ConfigEntryState.LOADED
        assert hass.states.get(
            "binary_sensor.reception_front_desk_registered"
        ).state == (STATE_ON)


async def test_remove_config_entry_device(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Only a device of an extension the PBX no longer has may be deleted."""
    entry = init_integration
    registry = dr.async_get(hass)
    stale = registry.async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, f"{PBX_ID}_299")},
        name="Old phone",
    )
    live = find_device(hass, f"{PBX_ID}_202")
    pbx = find_device(hass, PBX_ID)
    assert live is not None
    assert pbx is not None

    assert await async_remove_config_entry_device(hass, entry, stale)
    assert not await async_remove_config_entry_device(hass, entry, live)
    assert not await async_remove_config_entry_device(hass, entry, pbx)

    assert await hass.config_entries.async_unload(entry.entry_id)
    assert not await async_remove_config_entry_device(hass, entry, stale)


# ---------------------------------------------------------------- dynamic devices


@pytest.mark.usefixtures("init_integration")
async def test_extension_added_and_removed_without_reload(
    hass: HomeAssistant,
    pbx_state: PbxState,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    """A new extension gets its device on the next poll; a removed one loses it."""
    pbx_state.add_extension("213", "Sofia", "Galli", vm_enabled=True)
    pbx_state.set_voicemail("213", new=4)
    await advance(hass, freezer, REGISTRATIONS_INTERVAL)

    device = find_device(hass, f"{PBX_ID}_213")
    assert device is not None
    assert device.name == "Sofia Galli"
    assert hass.states.get("binary_sensor.sofia_galli_registered").state == STATE_ON
    await advance(hass, freezer, VOICEMAIL_INTERVAL)
    assert hass.states.get("sensor.sofia_galli_new_voicemails").state == "4"

    pbx_state.remove_extension("202")
    await advance(hass, freezer, SYSTEM_INTERVAL)
    assert find_device(hass, f"{PBX_ID}_202") is None
    assert hass.states.get("binary_sensor.giulia_rossi_registered") is None
    assert entity_registry.async_get("binary_sensor.giulia_rossi_registered") is None
    assert hass.states.get("sensor.giulia_rossi_new_voicemails") is None
    assert hass.states.get("binary_sensor.reception_front_desk_registered").state == (
        STATE_ON
    )


@pytest.mark.usefixtures("init_integration")
async def test_devices_follow_renames_and_firmware(
    hass: HomeAssistant,
    pbx_state: PbxState,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
) -> None:
    """Renamed users rename their device; a new firmware shows on the PBX device."""
    pbx_state.save_extension(
        replace(pbx_state.extensions["203"], first_name="Marco", last_name="Bianco")
    )
    pbx_state.firmware_primary = "3.9.7-2801"
    pbx_state.invalidate()
    await advance(hass, freezer, SYSTEM_INTERVAL)
    assert find_device(hass, f"{PBX_ID}_203").name == "Marco Bianco"
    assert find_device(hass, PBX_ID).sw_version == "3.9.7-2801"

    # An extension added while running, then renamed, is followed too.
    pbx_state.add_extension("213", "Sofia", "Galli", vm_enabled=False)
    await advance(hass, freezer, SYSTEM_INTERVAL)
    assert find_device(hass, f"{PBX_ID}_213").name == "Sofia Galli"
    pbx_state.save_extension(
        replace(pbx_state.extensions["213"], last_name="Galli Neri")
    )
    await advance(hass, freezer, SYSTEM_INTERVAL)
    assert find_device(hass, f"{PBX_ID}_213").name == "Sofia Galli Neri"

    # A device the user deleted is not brought back by a later change.
    device_registry.async_remove_device(find_device(hass, f"{PBX_ID}_204").id)
    pbx_state.save_extension(replace(pbx_state.extensions["204"], last_name="Nuovo"))
    await advance(hass, freezer, SYSTEM_INTERVAL)
    assert find_device(hass, f"{PBX_ID}_204") is None
    assert find_device(hass, f"{PBX_ID}_203").name == "Marco Bianco"


async def test_stale_devices_removed_at_setup(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """A device of an extension deleted while Home Assistant was down goes."""
    stale = device_registry.async_get_or_create(
        config_entry_id=config_entry.entry_id,
        identifiers={(DOMAIN, f"{PBX_ID}_299")},
        name="Former colleague",
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert device_registry.async_get(stale.id) is None
    assert find_device(hass, f"{PBX_ID}_202") is not None


async def test_stale_entities_removed_at_setup(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """Voicemail entities of a mailbox turned off while HA was down are dropped."""
    stale = entity_registry.async_get_or_create(
        "sensor",
        DOMAIN,
        f"{PBX_ID}_201_voicemail_new",
        config_entry=config_entry,
        suggested_object_id="reception_front_desk_new_voicemails",
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert entity_registry.async_get(stale.entity_id) is None
    assert entity_registry.async_get("sensor.giulia_rossi_new_voicemails") is not None


# ---------------------------------------------------------------- outages


async def test_pbx_lost_and_back_logs_once_each(
    hass: HomeAssistant,
    socket_enabled: None,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Entities go unavailable and come back; one log line each way."""
    state = build_scenario(12, scenario="demo")
    async with run_simulator(state) as sim:
        entry = add_entry(hass, sim)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        port = sim.port
    entity_id = "binary_sensor.giulia_rossi_registered"
    assert hass.states.get(entity_id).state == STATE_ON

    caplog.clear()
    caplog.set_level(logging.INFO)
    # Every coordinator fails, several times.
    for _ in range(3):
        await advance(hass, freezer, SYSTEM_INTERVAL)
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
    assert hass.states.get("sensor.kalliopepbx_office_licence_status").state == (
        STATE_UNAVAILABLE
    )
    assert hass.states.get("sensor.giulia_rossi_new_voicemails").state == (
        STATE_UNAVAILABLE
    )
    lost = logged(caplog)
    assert len(lost) == 1, lost
    assert lost[0].startswith(f"{TITLE} is unavailable: GET /")
    assert lost[0].endswith(": cannot reach the PBX (ClientConnectorError)")

    caplog.clear()
    async with run_simulator(state, port=port):
        for _ in range(3):
            await advance(hass, freezer, SYSTEM_INTERVAL)
        assert hass.states.get(entity_id).state == STATE_ON
        assert hass.states.get("sensor.kalliopepbx_office_licence_status").state == (
            "active"
        )
        assert hass.states.get("sensor.giulia_rossi_new_voicemails").state == "2"
        assert logged(caplog) == [f"{TITLE} is available again"]
        assert await hass.config_entries.async_unload(entry.entry_id)


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Lines logged at info or above, but for the event loop's own complaints
    (the frozen clock jumping ahead looks like a slow callback to it)."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.INFO and record.name != "asyncio"
    ]


@pytest.mark.usefixtures("init_integration")
async def test_license_repair_issue_raised_and_cleared(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """An expired licence: repair issue and licence entities; active again: gone."""
    issue_id = f"license_problem_{config_entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None

    pbx_state.set_license("EXPIRED")
    await advance(hass, freezer, REGISTRATIONS_INTERVAL)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "license_problem"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders == {"title": TITLE, "status": "expired"}
    assert hass.states.get("sensor.kalliopepbx_office_licence_status").state == (
        "expired"
    )
    assert hass.states.get(
        "binary_sensor.kalliopepbx_office_licence_problem"
    ).state == (STATE_ON)
    # Entities the licence keeps from updating are unavailable, not crashed.
    assert hass.states.get("binary_sensor.giulia_rossi_registered").state == (
        STATE_UNAVAILABLE
    )

    pbx_state.set_license("ACTIVE")
    await advance(hass, freezer, REGISTRATIONS_INTERVAL)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get("sensor.kalliopepbx_office_licence_status").state == (
        "active"
    )
    assert hass.states.get(
        "binary_sensor.kalliopepbx_office_licence_problem"
    ).state == (STATE_OFF)
    assert hass.states.get("binary_sensor.giulia_rossi_registered").state == STATE_ON


async def test_setup_with_expired_licence_keeps_the_entry(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Set up while the licence is expired: loaded, with the repair issue."""
    pbx_state.set_license("EXPIRED")
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(
        DOMAIN, f"license_problem_{config_entry.entry_id}"
    )
    assert hass.states.get("sensor.kalliopepbx_office_licence_status").state == (
        "expired"
    )


@pytest.fixture
async def v4_entry(
    hass: HomeAssistant, socket_enabled: None
) -> AsyncIterator[tuple[MockConfigEntry, PbxState]]:
    """A loaded entry of a 4.x PBX."""
    state = build_scenario(3, auth="v4", serial="KPBX-4X-000042")
    async with run_simulator(state) as sim:
        credentials = DigestCredentials.from_password("admin", state.salt)
        entry = add_entry(
            hass,
            sim,
            pbx_id="KPBX-4X-000042",
            serial_number="KPBX-4X-000042",
            **{CONF_AUTH: credentials.as_dict()},
        )
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        yield entry, state
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_clock_skew_repair_issue_on_v4(
    hass: HomeAssistant,
    v4_entry: tuple[MockConfigEntry, PbxState],
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A 4.x clock 10 minutes off: a repair issue naming the skew, no reauth."""
    entry, state = v4_entry
    assert entry.state is ConfigEntryState.LOADED
    issue_id = f"clock_skew_{entry.entry_id}"

    state.set_clock_offset(-600)
    await advance(hass, freezer, REGISTRATIONS_INTERVAL)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "clock_skew"
    assert issue.translation_placeholders is not None
    assert -610 <= int(issue.translation_placeholders["skew"]) <= -590
    assert not hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert hass.states.get(
        "binary_sensor.kalliopepbx_office_pending_changes"
    ).state == (STATE_UNAVAILABLE)

    state.set_clock_offset(0)
    await advance(hass, freezer, REGISTRATIONS_INTERVAL)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert hass.states.get(
        "binary_sensor.kalliopepbx_office_pending_changes"
    ).state == (STATE_OFF)


# ---------------------------------------------------------------- state writes


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_unchanged_refresh_writes_nothing(
    hass: HomeAssistant, config_entry: MockConfigEntry, state_writes: list[str]
) -> None:
    """Each coordinator refreshes with nothing changed: no state is written."""
    runtime = config_entry.runtime_data
    for coordinator in (runtime.registrations, runtime.voicemail, runtime.system):
        await coordinator.async_refresh()
        await hass.async_block_till_done()
        assert coordinator.last_update_success
        assert state_writes == [], coordinator.name


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_one_registration_change_writes_only_its_entities(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
    state_writes: list[str],
    entity_registry: er.EntityRegistry,
) -> None:
    """202 loses its phone: its entities and the PBX's counts are written, no other."""
    pbx_state.set_registration("202", "UNREACHABLE")
    await config_entry.runtime_data.registrations.async_refresh()
    await hass.async_block_till_done()

    assert sorted(state_writes) == [
        "binary_sensor.giulia_rossi_registered",
        "event.giulia_rossi_registration",
        "sensor.giulia_rossi_round_trip_time",
        "sensor.kalliopepbx_office_registered_extensions",
        "sensor.kalliopepbx_office_unregistered_extensions",
    ]
    assert hass.states.get("binary_sensor.giulia_rossi_registered").state == STATE_OFF
    assert hass.states.get("sensor.kalliopepbx_office_registered_extensions").state == (
        "8"
    )


# ---------------------------------------------------------------- voicemail


def spy_mailboxes(entry: MockConfigEntry) -> tuple[list[str], Callable[[], Any]]:
    """Record which mailboxes the client asks for."""
    client = entry.runtime_data.client
    asked: list[str] = []
    original = client.voicemail_count

    async def voicemail_count(mailbox: str, **kwargs: Any) -> Any:
        asked.append(mailbox)
        return await original(mailbox, **kwargs)

    return asked, patch.object(client, "voicemail_count", voicemail_count)


async def test_only_mailboxes_with_enabled_sensors_are_polled(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    entity_registry: er.EntityRegistry,
) -> None:
    """Disable the total and 202's and 203's sensors and events: those mailboxes
    are skipped."""
    runtime = init_integration.runtime_data
    pbx_state.reset_counters()
    await runtime.voicemail.async_refresh()
    assert pbx_state.counters[VOICEMAIL_COUNTS] == len(VM_MAILBOXES)

    for entity_id in (
        "sensor.kalliopepbx_office_new_voicemails",
        "sensor.giulia_rossi_new_voicemails",
        "sensor.giulia_rossi_urgent_voicemails",
        "sensor.giulia_rossi_old_voicemails",
        "sensor.marco_bianchi_new_voicemails",
        "sensor.marco_bianchi_urgent_voicemails",
        "sensor.marco_bianchi_old_voicemails",
        "event.giulia_rossi_voicemail",
        "event.marco_bianchi_voicemail",
    ):
        entity_registry.async_update_entity(
            entity_id, disabled_by=er.RegistryEntryDisabler.USER
        )
    # One enabled sensor is enough for a mailbox to be polled.
    entity_registry.async_update_entity(
        "sensor.support_helpdesk_new_voicemails",
        disabled_by=er.RegistryEntryDisabler.USER,
    )
    await hass.async_block_till_done()

    pbx_state.reset_counters()
    asked, spy = spy_mailboxes(init_integration)
    with spy:
        await runtime.voicemail.async_refresh()
    assert pbx_state.counters[VOICEMAIL_COUNTS] == len(VM_MAILBOXES) - 2
    assert sorted(asked) == ["204", "205", "207", "208", "209"]
    # Two requests per registrations cycle, no more.
    pbx_state.reset_counters()
    await runtime.registrations.async_refresh()
    assert sum(pbx_state.counters.values()) == 2


async def test_failing_mailbox_makes_only_its_sensors_unavailable(
    hass: HomeAssistant, init_integration: MockConfigEntry, pbx_state: PbxState
) -> None:
    """204's mailbox answers HTTP 500: its sensors go unavailable, no others."""
    pbx_state.add_fault("/voicemails/count/204", "http500", count=10)
    await init_integration.runtime_data.voicemail.async_refresh()
    await hass.async_block_till_done()
    for kind in ("new", "urgent", "old"):
        assert hass.states.get(f"sensor.support_helpdesk_{kind}_voicemails").state == (
            STATE_UNAVAILABLE
        )
    assert hass.states.get("sensor.giulia_rossi_new_voicemails").state == "2"
    assert hass.states.get("sensor.marco_bianchi_old_voicemails").state == "1"
    assert hass.states.get("binary_sensor.support_helpdesk_registered").state == (
        STATE_ON
    )

    pbx_state.clear_faults()
    await init_integration.runtime_data.voicemail.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("sensor.support_helpdesk_new_voicemails").state == "5"


# ---------------------------------------------------------------- unsupported endpoints


@pytest.mark.parametrize(
    ("prefix", "unsupported", "missing"),
    [
        (
            "/system/firmware/updatestatus",
            "firmware_update_status",
            ["sensor.kalliopepbx_office_firmware_update"],
        ),
        (
            "/system/firmware",
            "firmware firmware_update_status",
            [
                "sensor.kalliopepbx_office_firmware_version",
                "sensor.kalliopepbx_office_running_firmware",
                "sensor.kalliopepbx_office_primary_firmware",
                "sensor.kalliopepbx_office_secondary_firmware",
                "sensor.kalliopepbx_office_firmware_update",
            ],
        ),
        (
            "/voicemails/",
            "voicemail_count",
            [
                "sensor.kalliopepbx_office_new_voicemails",
                "sensor.giulia_rossi_new_voicemails",
                "sensor.giulia_rossi_urgent_voicemails",
                "event.giulia_rossi_voicemail",
            ],
        ),
        (
            "/pbx/pending",
            "pending",
            ["binary_sensor.kalliopepbx_office_pending_changes"],
        ),
    ],
)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_missing_endpoint_is_an_unsupported_feature(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
    prefix: str,
    unsupported: str,
    missing: list[str],
) -> None:
    """A firmware without an endpoint (HTTP 404): its entities are not created,
    the rest of the entry works."""
    pbx_state.disable_endpoint(prefix)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    for entity_id in missing:
        assert hass.states.get(entity_id) is None, entity_id
    assert hass.states.get("binary_sensor.giulia_rossi_registered").state == STATE_ON
    assert hass.states.get("sensor.kalliopepbx_office_licence_status").state == (
        "active"
    )
    assert hass.states.get("sensor.kalliopepbx_office_registered_extensions").state == (
        "9"
    )
    diagnostics = await async_get_config_entry_diagnostics(hass, config_entry)
    assert diagnostics["unsupported_endpoints"] == unsupported.split()


async def test_firmware_without_user_configs_uses_brief(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """No `/users/configs/`: extension devices come from `/users/brief/`."""
    pbx_state.disable_endpoint("/users/configs/")
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    giulia = find_device(hass, f"{PBX_ID}_202")
    assert giulia is not None
    assert giulia.name == "Giulia Rossi"
    assert hass.states.get("binary_sensor.giulia_rossi_registered").state == STATE_ON
    # The brief list says nothing of voicemail or forwarding.
    assert hass.states.get("sensor.giulia_rossi_new_voicemails") is None
    diagnostics = await async_get_config_entry_diagnostics(hass, config_entry)
    assert diagnostics["unsupported_endpoints"] == ["users_configs"]


@pytest.mark.parametrize("entry_options", [{"extensions": "230-201"}])
async def test_invalid_stored_extension_filter_means_all(
    hass: HomeAssistant, init_integration: MockConfigEntry, pbx_state: PbxState
) -> None:
    """A filter the options flow would refuse, stored anyway: every extension."""
    assert sorted(init_integration.runtime_data.extensions) == sorted(
        pbx_state.extensions
    )


@pytest.mark.usefixtures("init_integration")
async def test_pending_failing_costs_only_the_pending_sensor(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """HTTP 500 on `/pbx/pending`: a failed endpoint, not an unsupported feature,
    and the registrations carry on."""
    pbx_state.add_fault("/pbx/pending", "http500")
    await config_entry.runtime_data.registrations.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.giulia_rossi_registered").state == STATE_ON
    assert hass.states.get(
        "binary_sensor.kalliopepbx_office_pending_changes"
    ).state == (STATE_UNAVAILABLE)
    diagnostics = await async_get_config_entry_diagnostics(hass, config_entry)
    assert "pending" not in diagnostics["unsupported_endpoints"]
    await config_entry.runtime_data.registrations.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(
        "binary_sensor.kalliopepbx_office_pending_changes"
    ).state != (STATE_UNAVAILABLE)
