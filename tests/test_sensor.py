"""Sensors of the PBX and its extensions, as the demo PBX shows them."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import patch

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from simulator import PbxState


@pytest.fixture(autouse=True)
def platform() -> Iterator[None]:
    """Load the sensor platform only."""
    with patch("custom_components.kalliopepbx.PLATFORMS", [Platform.SENSOR]):
        yield


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    config_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every sensor, disabled-by-default ones included."""
    await snapshot_platform(hass, entity_registry, snapshot, config_entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_disabled_by_default(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    """Round-trip time and the SIP details are opt-in."""
    for entity_id in (
        "sensor.giulia_rossi_round_trip_time",
        "sensor.giulia_rossi_sip_contact",
        "sensor.giulia_rossi_ip_address",
        "sensor.giulia_rossi_phone_model",
    ):
        entry = entity_registry.async_get(entity_id)
        assert entry is not None, entity_id
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert hass.states.get(entity_id) is None
    assert hass.states.get("sensor.giulia_rossi_new_voicemails").state == "2"


@pytest.mark.usefixtures("init_integration")
async def test_no_voicemail_sensors_without_voicemail(hass: HomeAssistant) -> None:
    """Reception has no mailbox: no voicemail sensors for it."""
    assert hass.states.get("sensor.reception_front_desk_forwarding") is not None
    assert hass.states.get("sensor.reception_front_desk_new_voicemails") is None


@pytest.mark.usefixtures("init_integration")
async def test_values_follow_the_pbx(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """Counts and the licence follow the PBX on the next refresh."""
    runtime = config_entry.runtime_data
    pbx_state.set_voicemail("202", new=7)
    pbx_state.set_registration("201", "UNREACHABLE")
    pbx_state.set_license("ACTIVE", licensed_exten=50)
    pbx_state.set_update_status(27)
    for coordinator in (runtime.registrations, runtime.voicemail, runtime.system):
        await coordinator.async_refresh()
    await hass.async_block_till_done()

    assert hass.states.get("sensor.giulia_rossi_new_voicemails").state == "7"
    assert hass.states.get("sensor.kalliopepbx_office_new_voicemails").state == "16"
    assert hass.states.get("sensor.kalliopepbx_office_registered_extensions").state == (
        "8"
    )
    assert hass.states.get(
        "sensor.kalliopepbx_office_unregistered_extensions"
    ).state == ("4")
    assert hass.states.get("sensor.kalliopepbx_office_licensed_extensions").state == (
        "50"
    )
    assert hass.states.get("sensor.kalliopepbx_office_firmware_update").state == (
        "downloading"
    )
