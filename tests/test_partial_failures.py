"""One PBX endpoint failing costs only its own entities; a licence refusal
leaves only the licence entities available.

The bad answers are the reference's own shapes (tests/fixtures/), served by
the simulator in place of the normal answer.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.const import DOMAIN
from custom_components.kalliopepbx.diagnostics import (
    async_get_config_entry_diagnostics,
)
from simulator import PbxState

from .conftest import PBX_ID, find_device, load_fixture_bytes, our_log_lines

FOREVER = 10**6


@dataclass(frozen=True)
class Breakage:
    """An endpoint answering badly, and the entities (unique-id keys) it feeds."""

    name: str  # as diagnostics list it
    path: str
    fixture: str
    coordinator: str
    pbx_keys: tuple[str, ...] = ()
    extension_keys: tuple[str, ...] = ()


BREAKAGES = [
    pytest.param(
        Breakage(
            "license",
            "/license/pxbinstance",
            "license_error_12.xml",
            "system",
            pbx_keys=("license_status", "licensed_extensions", "license_problem"),
        ),
        id="license_error_12",
    ),
    pytest.param(
        Breakage(
            "firmware",
            "/system/firmware",
            "firmware_truncated.xml",
            "system",
            pbx_keys=(
                "firmware_version",
                "firmware_slot",
                "firmware_primary",
                "firmware_secondary",
            ),
        ),
        id="firmware_malformed",
    ),
    pytest.param(
        Breakage(
            "firmware_update_status",
            "/system/firmware/updatestatus",
            "update_status_without_code.xml",
            "system",
            pbx_keys=("firmware_update_status",),
        ),
        id="firmware_update_status_without_code",
    ),
    pytest.param(
        Breakage(
            "users_configs",
            "/users/configs/",
            "users_configs_truncated.xml",
            "system",
            extension_keys=(
                "forwarding",
                "call_forwarding",
                "forwarding_target",
                "vm_enabled",
            ),
        ),
        id="users_configs_malformed",
    ),
    pytest.param(
        Breakage(
            "pending",
            "/pbx/pending",
            "pending_not_a_flag.xml",
            "registrations",
            pbx_keys=("pending_changes",),
        ),
        id="pending_not_a_flag",
    ),
]

LICENCE_KEYS = {"license_status", "licensed_extensions", "license_problem"}


def states_by_key(hass: HomeAssistant) -> dict[str, str]:
    """State of every entity of ours, by unique id without the PBX id."""
    registry = er.async_get(hass)
    result = {}
    for entry in registry.entities.values():
        if entry.platform != DOMAIN:
            continue
        state = hass.states.get(entry.entity_id)
        if state is not None:
            result[entry.unique_id.removeprefix(f"{PBX_ID}_")] = state.state
    return result


def owned(states: dict[str, str], breakage: Breakage) -> set[str]:
    """The keys of the entities fed by the broken endpoint."""
    return {
        key
        for key in states
        if key in breakage.pbx_keys or key.partition("_")[2] in breakage.extension_keys
    }


def break_endpoint(pbx_state: PbxState, breakage: Breakage) -> None:
    pbx_state.add_fault(
        breakage.path,
        "answer",
        count=FOREVER,
        body=load_fixture_bytes(breakage.fixture),
        exact=True,
    )


async def refresh(hass: HomeAssistant, entry: MockConfigEntry, *names: str) -> None:
    """Run the named coordinators' polls now."""
    for name in names:
        await getattr(entry.runtime_data, name).async_refresh()
    await hass.async_block_till_done()


@pytest.mark.parametrize("breakage", BREAKAGES)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_one_endpoint_failing_costs_only_its_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
    caplog: pytest.LogCaptureFixture,
    breakage: Breakage,
) -> None:
    """Its entities unavailable, every other one unchanged; all back after."""
    caplog.set_level(logging.INFO)
    before = states_by_key(hass)
    mine = owned(before, breakage)
    assert mine
    assert STATE_UNAVAILABLE not in before.values()

    break_endpoint(pbx_state, breakage)
    await refresh(hass, init_integration, breakage.coordinator)
    await refresh(hass, init_integration, breakage.coordinator)

    during = states_by_key(hass)
    assert {key for key, state in during.items() if state == STATE_UNAVAILABLE} == mine
    assert {k: v for k, v in during.items() if k not in mine} == {
        k: v for k, v in before.items() if k not in mine
    }
    diagnostics = await async_get_config_entry_diagnostics(hass, init_integration)
    assert diagnostics["failed_endpoints"] == [breakage.name]
    # One line when it is lost, however many polls it stays broken.
    assert len(our_log_lines(caplog, "is unavailable")) == 1
    assert our_log_lines(caplog, "is available again") == []

    pbx_state.clear_faults()
    await refresh(hass, init_integration, breakage.coordinator)

    assert states_by_key(hass) == before
    assert len(our_log_lines(caplog, "is unavailable")) == 1
    assert len(our_log_lines(caplog, "is available again")) == 1


@pytest.mark.parametrize("breakage", BREAKAGES)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_one_endpoint_failing_at_setup(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
    breakage: Breakage,
) -> None:
    """Set up anyway: extension devices and every other entity are there."""
    break_endpoint(pbx_state, breakage)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    assert config_entry.state is ConfigEntryState.LOADED
    assert find_device(hass, f"{PBX_ID}_202") is not None
    states = states_by_key(hass)
    mine = owned(states, breakage)
    assert mine
    assert {key for key, state in states.items() if state == STATE_UNAVAILABLE} == mine
    assert states["202_registered"] == "on"
    assert states["registered_extensions"] == "9"
    if "firmware_version" not in mine:
        assert states["firmware_version"] == "3.9.6-2774"
    if "license_status" not in mine:
        assert states["license_status"] == "active"

    pbx_state.clear_faults()
    await refresh(hass, config_entry, "system", "registrations")
    # Mailboxes the full configuration revealed are counted right away.
    await hass.async_block_till_done(wait_background_tasks=True)

    states = states_by_key(hass)
    assert {key for key, state in states.items() if state == STATE_UNAVAILABLE} == set()
    assert states["license_status"] == "active"
    assert states["firmware_version"] == "3.9.6-2774"
    assert states["firmware_update_status"] == "idle"
    assert states["202_forwarding"] != "unknown"
    # Voicemail sensors follow the full configuration once it answers.
    assert "202_voicemail_new" in states


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_licence_refusal_leaves_only_licence_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    pbx_state: PbxState,
) -> None:
    """While the licence refuses the API nothing else shows a value."""
    before = states_by_key(hass)
    extension_kinds = {key.partition("_")[2] for key in before if key[0].isdigit()}
    assert {
        "registered",
        "forwarding",
        "call_forwarding",
        "forwarding_target",
        "vm_enabled",
    } <= extension_kinds

    pbx_state.set_license("EXPIRED")
    await refresh(hass, init_integration, "system", "registrations", "voicemail")

    during = states_by_key(hass)
    available = {key for key, state in during.items() if state != STATE_UNAVAILABLE}
    # The webhook does not need the licence: its sensor stays; so does the
    # last backup, read from files on disk.
    assert available == LICENCE_KEYS | {"last_pbx_event", "last_backup"}
    assert during["license_status"] == "expired"
    assert during["license_problem"] == "on"

    pbx_state.set_license("ACTIVE")
    await refresh(hass, init_integration, "system", "registrations", "voicemail")

    assert states_by_key(hass) == before
