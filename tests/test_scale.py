"""A PBX with 1000 extensions: every entity is there, a poll costs the
requests the budget allows, a change reaches only the entities it concerns
and a poll that changes nothing writes nothing.

Timings are measured by `scripts/bench`, not here: these tests check what
stays true on any machine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.const import (
    STATE_OFF,
    STATE_ON,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.const import DOMAIN
from simulator import PbxState

from .conftest import PBX_ID, record_state_writes

EXTENSIONS = 1000

# Entities of every extension, and of those with voicemail (the keys of
# their unique ids), and those created disabled.
EVERY_EXTENSION = {
    ("binary_sensor", "registered"),
    ("sensor", "rtt"),
    ("sensor", "contact"),
    ("sensor", "ip_address"),
    ("sensor", "user_agent"),
    ("sensor", "forwarding"),
    ("switch", "call_forwarding"),
    ("switch", "vm_enabled"),
    ("text", "forwarding_target"),
    ("event", "registration"),
}
WITH_VOICEMAIL = {
    ("sensor", "voicemail_new"),
    ("sensor", "voicemail_urgent"),
    ("sensor", "voicemail_old"),
    ("event", "voicemail"),
}
DISABLED_BY_DEFAULT = {"rtt", "contact", "ip_address", "user_agent"}

REGISTRATION_REQUESTS = {"GET /users/registrations/": 1, "GET /pbx/pending": 1}
VOICEMAIL_COUNTS = "GET /voicemails/count/{mailbox}"


@pytest.fixture
def scenario() -> dict[str, Any]:
    """A PBX with 1000 extensions, about half of them with voicemail."""
    return {"extensions": EXTENSIONS, "seed": 1}


def entity_id_of(
    registry: er.EntityRegistry, platform: str, exten: str, key: str
) -> str | None:
    """The entity id of an extension's entity."""
    return registry.async_get_entity_id(platform, DOMAIN, f"{PBX_ID}_{exten}_{key}")


async def refreshed(
    hass: HomeAssistant, pbx_state: PbxState, refresh: Callable[[], Any]
) -> dict[str, int]:
    """Requests the PBX answered during one refresh."""
    pbx_state.reset_counters()
    await refresh()
    await hass.async_block_till_done()
    return dict(pbx_state.counters)


async def test_every_entity_an_unchanged_poll_and_one_change(
    hass: HomeAssistant, init_integration: MockConfigEntry, pbx_state: PbxState
) -> None:
    """All entities are there; an unchanged poll costs the budget and writes
    nothing; one change writes only the entities it concerns.

    One test, so that the 1000-extension PBX is set up once for all three.
    """
    assert_every_entity(hass, init_integration, pbx_state)
    await assert_unchanged_poll(hass, init_integration, pbx_state)
    await assert_one_change_reaches_only_its_entities(hass, init_integration, pbx_state)


def assert_every_entity(
    hass: HomeAssistant, entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """One device per extension with all its entities, each with a state."""
    runtime = entry.runtime_data
    assert len(pbx_state.extensions) == EXTENSIONS
    entity_registry = er.async_get(hass)
    entries = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    by_unique_id = {e.unique_id: e for e in entries}
    expected: set[str] = set()
    for exten, extension in pbx_state.extensions.items():
        wanted = EVERY_EXTENSION | (WITH_VOICEMAIL if extension.vm_enabled else set())
        for platform, key in wanted:
            registered = by_unique_id.get(f"{PBX_ID}_{exten}_{key}")
            assert registered is not None, (exten, key)
            assert registered.domain == platform
            if key in DISABLED_BY_DEFAULT:
                assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
            else:
                assert registered.disabled_by is None
                assert hass.states.get(registered.entity_id) is not None, (
                    registered.entity_id
                )
        expected.update(f"{PBX_ID}_{exten}_{key}" for _, key in wanted)
    # And a "Rings in" switch per call group member, none for the others.
    expected.update(
        f"{PBX_ID}_{exten}_callgroup_{group.id}"
        for group in pbx_state.callgroups.values()
        for priority in group.priorities
        for exten in priority.members
    )
    # Nothing else on the extensions' devices.
    assert {
        e.unique_id for e in entries if e.device_id != runtime.pbx_device_id
    } == expected
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    assert len(devices) == EXTENSIONS + 1

    # Whatever is registered and enabled has a state.
    enabled = [e.entity_id for e in entries if e.disabled_by is None]
    assert all(hass.states.get(entity_id) is not None for entity_id in enabled)


async def assert_unchanged_poll(
    hass: HomeAssistant, entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """Registrations: two requests. Voicemail: one per mailbox. No state written."""
    runtime = entry.runtime_data
    with_voicemail = {e for e, x in pbx_state.extensions.items() if x.vm_enabled}
    assert 400 < len(with_voicemail) < 600
    assert set(runtime.voicemail.mailboxes_to_poll()) == with_voicemail
    writes = record_state_writes(hass)

    counters = await refreshed(hass, pbx_state, runtime.registrations.async_refresh)
    assert counters == REGISTRATION_REQUESTS

    counters = await refreshed(hass, pbx_state, runtime.voicemail.async_refresh)
    assert counters == {VOICEMAIL_COUNTS: len(with_voicemail)}
    data = runtime.voicemail.latest
    assert data is not None
    assert set(data.counts) == with_voicemail
    assert not data.failed

    counters = await refreshed(hass, pbx_state, runtime.system.async_refresh)
    # Licence, firmware, update status, configurations, call groups.
    assert sum(counters.values()) == 5
    assert counters["GET /users/configs/"] == 1
    assert counters["GET /pbx/callgroups"] == 1

    for coordinator in (runtime.registrations, runtime.voicemail, runtime.system):
        assert coordinator.last_update_success
    assert writes == []


async def assert_one_change_reaches_only_its_entities(
    hass: HomeAssistant, entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """One phone drops off: its entities and the PBX totals are written, no other."""
    runtime = entry.runtime_data
    registry = er.async_get(hass)
    exten = next(
        exten
        for exten in sorted(pbx_state.extensions)
        if pbx_state.registration(exten).status == "OK"
    )
    registered = entity_id_of(registry, "binary_sensor", exten, "registered")
    event = entity_id_of(registry, "event", exten, "registration")
    assert registered is not None
    assert event is not None
    assert hass.states.get(registered).state == STATE_ON
    registered_total, unregistered_total = (
        registry.async_get_entity_id("sensor", DOMAIN, f"{PBX_ID}_{key}")
        for key in ("registered_extensions", "unregistered_extensions")
    )
    assert registered_total is not None
    assert unregistered_total is not None
    registered_before = int(hass.states.get(registered_total).state)

    writes = record_state_writes(hass)
    pbx_state.set_registration(exten, "UNREACHABLE")
    await runtime.registrations.async_refresh()
    await hass.async_block_till_done()

    assert sorted(writes) == sorted(
        {registered, event, registered_total, unregistered_total}
    )
    assert hass.states.get(registered).state == STATE_OFF
    assert hass.states.get(event).attributes["event_type"] == "unregistered"
    assert int(hass.states.get(registered_total).state) == registered_before - 1

    # A voicemail arriving in one mailbox: that mailbox and the PBX total.
    mailbox = min(e for e, x in pbx_state.extensions.items() if x.vm_enabled)
    count = runtime.voicemail_count(mailbox)
    assert count is not None
    writes.clear()
    pbx_state.set_voicemail(mailbox, new=count.new + 1)
    await runtime.voicemail.async_refresh()
    await hass.async_block_till_done()
    new_messages = entity_id_of(registry, "sensor", mailbox, "voicemail_new")
    voicemail_event = entity_id_of(registry, "event", mailbox, "voicemail")
    total = registry.async_get_entity_id("sensor", DOMAIN, f"{PBX_ID}_new_voicemails")
    assert sorted(writes) == sorted({new_messages, voicemail_event, total})
    assert hass.states.get(new_messages).state == str(count.new + 1)
