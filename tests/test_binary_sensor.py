"""Binary sensors of the PBX and its extensions, as the demo PBX shows them."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import patch

from homeassistant.const import STATE_OFF, STATE_ON, Platform
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


@pytest.mark.usefixtures("init_integration")
async def test_registration_and_pending_follow_the_pbx(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """A phone registering and the pending flag clearing show on the next poll."""
    assert hass.states.get("binary_sensor.luca_ferrari_registered").state == STATE_OFF
    assert hass.states.get(
        "binary_sensor.kalliopepbx_office_pending_changes"
    ).state == (STATE_ON)
    pbx_state.set_registration("205", "OK")
    pbx_state.apply()
    await config_entry.runtime_data.registrations.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get("binary_sensor.luca_ferrari_registered").state == STATE_ON
    assert hass.states.get(
        "binary_sensor.kalliopepbx_office_pending_changes"
    ).state == (STATE_OFF)
