"""Sensors of the PBX and its extensions, from the API reference's example
answers (the snapshot stays on the simulator's demo PBX)."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.kalliopepbx.const import SYSTEM_INTERVAL

from .conftest import advance
from .reference_pbx import ReferencePbx, fixture_bytes


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


@pytest.mark.usefixtures("reference_integration")
async def test_disabled_by_default(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    """Round-trip time and the SIP details are opt-in."""
    for entity_id in (
        "sensor.mario_rossi_round_trip_time",
        "sensor.mario_rossi_sip_contact",
        "sensor.mario_rossi_ip_address",
        "sensor.mario_rossi_phone_model",
    ):
        entry = entity_registry.async_get(entity_id)
        assert entry is not None, entity_id
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert hass.states.get(entity_id) is None
    assert hass.states.get("sensor.mario_rossi_new_voicemails").state == "3"


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "reference_integration")
async def test_values_from_the_reference_answers(hass: HomeAssistant) -> None:
    """What the reference's example answers show a user."""
    expected = {
        # registrations: 201 OK at 12 ms, 202 UNREACHABLE, 203 UNKNOWN
        "sensor.kalliopepbx_office_registered_extensions": "1",
        "sensor.kalliopepbx_office_unregistered_extensions": "2",
        "sensor.mario_rossi_round_trip_time": "12.0",
        "sensor.mario_rossi_ip_address": "192.168.0.100",
        "sensor.mario_rossi_sip_contact": "sip:201@192.168.0.100:5060",
        "sensor.mario_rossi_phone_model": "Yealink SIP-T46S 66.86.0.15",
        "sensor.giulia_bianchi_round_trip_time": STATE_UNKNOWN,
        "sensor.luca_verdi_ip_address": STATE_UNKNOWN,
        # voicemail count: 1 urgent, 3 new, 12 old, for each of the 2 mailboxes
        "sensor.mario_rossi_new_voicemails": "3",
        "sensor.mario_rossi_urgent_voicemails": "1",
        "sensor.mario_rossi_old_voicemails": "12",
        "sensor.kalliopepbx_office_new_voicemails": "6",
        # licence, firmware (running the secondary) and an update downloading
        "sensor.kalliopepbx_office_licence_status": "active",
        "sensor.kalliopepbx_office_licensed_extensions": "50",
        "sensor.kalliopepbx_office_primary_firmware": "3.9.6-2774",
        "sensor.kalliopepbx_office_secondary_firmware": "3.9.5-2701",
        "sensor.kalliopepbx_office_running_firmware": "secondary",
        "sensor.kalliopepbx_office_firmware_version": "3.9.5-2701",
        "sensor.kalliopepbx_office_firmware_update": "downloading",
        # failovers: an external number via a gateway, hang up, a type not
        # in the reference's list
        "sensor.mario_rossi_forwarding": "forward_to_external_number",
        "sensor.giulia_bianchi_forwarding": "hangup",
        "sensor.luca_verdi_forwarding": STATE_UNKNOWN,
    }
    assert {entity_id: hass.states.get(entity_id).state for entity_id in expected} == (
        expected
    )
    mario = hass.states.get("sensor.mario_rossi_forwarding").attributes
    assert (mario["destination"], mario["gateway"]) == ("3351234567", "PRI Telecom")


@pytest.mark.usefixtures("reference_integration")
async def test_no_voicemail_sensors_without_voicemail(hass: HomeAssistant) -> None:
    """Giulia's voicemail is off (vm_enabled false): no voicemail sensors for her."""
    assert hass.states.get("sensor.giulia_bianchi_forwarding") is not None
    assert hass.states.get("sensor.giulia_bianchi_new_voicemails") is None


@pytest.mark.usefixtures("reference_integration")
async def test_values_follow_the_pbx(
    hass: HomeAssistant, reference_pbx: ReferencePbx, freezer: FrozenDateTimeFactory
) -> None:
    """Counts, registrations, the licence and the update follow the PBX."""
    reference_pbx.answer(
        "/voicemails/count/203",
        fixture_bytes("voicemail_count.xml").replace(b">3<", b">7<"),
    )
    reference_pbx.answer(
        "/users/registrations/",
        fixture_bytes("registrations.xml").replace(
            b"<status>OK", b"<status>UNREACHABLE"
        ),
    )
    reference_pbx.answer(
        "/license/pxbinstance",
        fixture_bytes("license_active.xml").replace(b">50<", b">100<"),
    )
    reference_pbx.answer(
        "/system/firmware/updatestatus",
        fixture_bytes("update_status.xml")
        .replace(b"27", b"30")
        .replace(b"Downloading update", b"Updating is successful"),
    )
    await advance(hass, freezer, SYSTEM_INTERVAL)

    assert hass.states.get("sensor.luca_verdi_new_voicemails").state == "7"
    assert hass.states.get("sensor.kalliopepbx_office_new_voicemails").state == "10"
    assert hass.states.get("sensor.kalliopepbx_office_registered_extensions").state == (
        "0"
    )
    assert hass.states.get(
        "sensor.kalliopepbx_office_unregistered_extensions"
    ).state == ("3")
    assert hass.states.get("sensor.kalliopepbx_office_licensed_extensions").state == (
        "100"
    )
    assert hass.states.get("sensor.kalliopepbx_office_firmware_update").state == (
        "succeeded"
    )
