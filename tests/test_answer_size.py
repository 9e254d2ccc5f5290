"""What the user sees when the PBX answers more than a request can need."""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.const import DOMAIN

from .conftest import PBX_ID

# Smaller than any answer of the simulated PBX; every endpoint's own cap is
# lower than the client-wide one, so this one decides.
TINY_CAP = 16


async def test_oversized_action_answer_is_a_translated_error(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    client = init_integration.runtime_data.client
    with (
        patch.object(client, "_max_response_bytes", TINY_CAP),
        pytest.raises(HomeAssistantError) as err,
    ):
        await hass.services.async_call(DOMAIN, "reload_pbx_engine", {}, blocking=True)
    assert err.value.translation_key == "response_too_large"
    assert "larger than 16 bytes" in str(err.value)


async def test_oversized_list_makes_its_entities_unavailable(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    runtime = init_integration.runtime_data
    with patch.object(runtime.client, "_max_response_bytes", TINY_CAP):
        await runtime.registrations.async_refresh()
    await hass.async_block_till_done()
    assert not runtime.registrations.last_update_success
    err = runtime.registrations.last_exception
    assert err is not None
    assert getattr(err, "translation_key", None) == "response_too_large"
    entity_id = er.async_get(hass).async_get_entity_id(
        "binary_sensor", DOMAIN, f"{PBX_ID}_201_registered"
    )
    assert entity_id is not None
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE
