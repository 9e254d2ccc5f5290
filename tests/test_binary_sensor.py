"""Binary sensors of the PBX and its extensions, from the API reference's
example answers (the snapshot stays on the simulator's demo PBX)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from .conftest import advance
from .reference_pbx import ReferencePbx, fixture_bytes


@pytest.fixture(autouse=True)
def platform() -> Iterator[None]:
    """Load the binary sensor platform only."""
    with patch("custom_components.kalliopepbx.PLATFORMS", [Platform.BINARY_SENSOR]):
        yield


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_binary_sensors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    config_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every binary sensor."""
    await snapshot_platform(hass, entity_registry, snapshot, config_entry.entry_id)


@pytest.mark.usefixtures("reference_integration")
async def test_registration_status_from_the_reference_answer(
    hass: HomeAssistant,
) -> None:
    """The reference's OK / UNREACHABLE / UNKNOWN: only OK is registered;
    the licence is active and nothing is pending."""
    states = {
        entity_id: hass.states.get(entity_id).state
        for entity_id in (
            "binary_sensor.mario_rossi_registered",
            "binary_sensor.giulia_bianchi_registered",
            "binary_sensor.luca_verdi_registered",
            "binary_sensor.kalliopepbx_office_licence_problem",
            "binary_sensor.kalliopepbx_office_pending_changes",
        )
    }
    assert states == {
        "binary_sensor.mario_rossi_registered": STATE_ON,
        "binary_sensor.giulia_bianchi_registered": STATE_OFF,
        "binary_sensor.luca_verdi_registered": STATE_OFF,
        "binary_sensor.kalliopepbx_office_licence_problem": STATE_OFF,
        "binary_sensor.kalliopepbx_office_pending_changes": STATE_OFF,
    }


async def test_registration_and_pending_follow_the_pbx(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A phone registering and changes waiting show on the next poll."""
    reference_pbx.answer(
        "/users/registrations/",
        fixture_bytes("registrations.xml").replace(b"UNREACHABLE", b"OK"),
    )
    reference_pbx.pending = True
    await advance(hass, freezer, timedelta(minutes=5))
    assert hass.states.get("binary_sensor.giulia_bianchi_registered").state == STATE_ON
    assert (
        hass.states.get("binary_sensor.kalliopepbx_office_pending_changes").state
        == STATE_ON
    )


async def test_licence_refused_by_the_pbx(
    hass: HomeAssistant, reference_pbx: ReferencePbx, reference_entry: MockConfigEntry
) -> None:
    """The reference's licence error (no licence present) is a licence problem."""
    reference_pbx.answer(
        "/license/pxbinstance",
        fixture_bytes("license_error_12.xml").replace(
            b"<code>12</code>", b"<code>11</code>"
        ),
    )
    assert await hass.config_entries.async_setup(reference_entry.entry_id)
    await hass.async_block_till_done()
    assert (
        hass.states.get("binary_sensor.kalliopepbx_office_licence_problem").state
        == STATE_ON
    )
