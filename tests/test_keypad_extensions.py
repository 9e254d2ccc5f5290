"""Extensions with keypad symbols (`*72`, `10#`) get their devices, entities
and actions like any other."""

from __future__ import annotations

import re
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.const import DOMAIN
from simulator import PbxState, build_scenario

from .conftest import PBX_ID, find_device

KEYPAD = ("*72", "10#")


@pytest.fixture
def pbx_state(scenario: dict[str, Any]) -> PbxState:
    """Three ordinary extensions and two with keypad symbols, voicemail on."""
    state = build_scenario(extensions=3)
    # The simulator's own check allows digits only.
    with patch("simulator.state.EXTEN_RE", re.compile(r"^[0-9*#]{2,8}$")):
        for exten in KEYPAD:
            state.add_extension(exten, "Keypad", exten, vm_enabled=True)
    state.set_voicemail("*72", new=4, urgent=1, old=2)
    state.set_voicemail("10#", new=0, urgent=0, old=0)
    return state


def entity_id(hass: HomeAssistant, platform: str, unique_id: str) -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, unique_id)
    assert found is not None, unique_id
    return found


async def test_keypad_extensions_get_devices_and_entities(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    for exten in KEYPAD:
        assert find_device(hass, f"{PBX_ID}_{exten}") is not None
        registered = entity_id(hass, "binary_sensor", f"{PBX_ID}_{exten}_registered")
        assert hass.states.get(registered).state == "on"
    new_72 = entity_id(hass, "sensor", f"{PBX_ID}_*72_voicemail_new")
    assert hass.states.get(new_72).state == "4"
    new_10 = entity_id(hass, "sensor", f"{PBX_ID}_10#_voicemail_new")
    assert hass.states.get(new_10).state == "0"


async def test_keypad_extension_actions(
    hass: HomeAssistant, init_integration: MockConfigEntry, pbx_state: PbxState
) -> None:
    await hass.services.async_call(
        DOMAIN,
        "click2call",
        {"extension": "*72", "number": "10#", "type": "exten"},
        blocking=True,
    )
    placed = pbx_state.placed_calls[-1]
    assert (placed.exten, placed.number) == ("*72", "10#")

    before = pbx_state.get_failover("10#")
    await hass.services.async_call(
        DOMAIN,
        "set_call_forwarding",
        {"extension": "10#", "type": "hangup"},
        blocking=True,
    )
    assert pbx_state.get_failover("10#")["type"] == "HANGUP"
    await hass.services.async_call(
        DOMAIN, "clear_call_forwarding", {"extension": "10#"}, blocking=True
    )
    assert pbx_state.get_failover("10#") == before
