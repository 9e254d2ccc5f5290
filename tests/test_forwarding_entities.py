"""The call forwarding switch and its target, and the events of an extension."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from homeassistant.auth.models import User
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulator import PbxState

pytestmark = pytest.mark.usefixtures("init_integration")

SWITCH = "switch.stefano_villa_call_forwarding"
TARGET = "text.stefano_villa_forwarding_target"


@pytest.fixture
def scenario() -> dict[str, Any]:
    """Twelve extensions; 201 has voicemail, 203 forwards to a mobile."""
    return {"extensions": 12}


async def set_target(
    hass: HomeAssistant, value: str, context: Context | None = None
) -> None:
    """Type a forwarding target."""
    await hass.services.async_call(
        "text",
        "set_value",
        {"entity_id": TARGET, "value": value},
        blocking=True,
        context=context,
    )


async def switch(
    hass: HomeAssistant, service: str, context: Context | None = None
) -> None:
    """Turn the forwarding switch on or off."""
    await hass.services.async_call(
        "switch", service, {"entity_id": SWITCH}, blocking=True, context=context
    )


async def test_target_defaults_to_what_the_pbx_forwards_to(
    hass: HomeAssistant,
) -> None:
    """An extension forwarding outside shows its destination as the target."""
    assert hass.states.get("text.marco_caputo_forwarding_target").state == "3351234567"
    assert hass.states.get("switch.marco_caputo_call_forwarding").state == STATE_ON
    assert hass.states.get(TARGET).state == ""
    assert hass.states.get(SWITCH).state == STATE_OFF


async def test_switch_forwards_to_the_target_and_restores(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """On forwards to the typed number; a new target re-forwards; off restores."""
    before = pbx_state.get_failover("201")
    await set_target(hass, "+39 347 000 0001")
    assert hass.states.get(TARGET).state == "+393470000001"
    # Only typing a target changes nothing on the PBX.
    assert pbx_state.get_failover("201") == before

    await switch(hass, "turn_on")
    assert pbx_state.get_failover("201")["value"] == "+393470000001"
    assert pbx_state.get_failover("201")["type"] == "FORWARD_TO_EXTERNAL_NUMBER"
    assert hass.states.get(SWITCH).state == STATE_ON

    await set_target(hass, "205")
    assert pbx_state.get_failover("201")["type"] == "FORWARD_TO_EXTEN"
    assert pbx_state.get_failover("201")["value"] == "205"

    await switch(hass, "turn_off")
    assert pbx_state.get_failover("201") == before
    assert hass.states.get(SWITCH).state == STATE_OFF
    assert hass.states.get(TARGET).state == "205"
    assert pbx_state.pending is False


async def test_switch_follows_changes_made_on_the_pbx(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """Forwarding set in the PBX's own interface shows up at the next poll."""
    ext = pbx_state.extensions["201"]
    forwarded = replace(ext.failover, type="FORWARD_TO_EXTEN", value="202")
    pbx_state.save_extension(replace(ext, failover=forwarded))
    pbx_state.apply()
    await config_entry.runtime_data.system.async_refresh()
    assert hass.states.get(SWITCH).state == STATE_ON
    assert hass.states.get(TARGET).state == "202"


async def test_switch_without_target(hass: HomeAssistant) -> None:
    """Turning on with no target says what is missing."""
    with pytest.raises(ServiceValidationError) as err:
        await switch(hass, "turn_on")
    assert err.value.translation_key == "no_forwarding_target"


@pytest.mark.parametrize("value", ["1" * 33, "+39 (02) " + "1" * 31])
async def test_target_validation(
    hass: HomeAssistant, pbx_state: PbxState, value: str
) -> None:
    """A target that is not a dialable number is refused and not kept."""
    with pytest.raises(ServiceValidationError) as err:
        await set_target(hass, value)
    assert err.value.translation_key == "invalid_number"
    assert hass.states.get(TARGET).state == ""


async def test_target_rejected_by_the_entity_pattern(hass: HomeAssistant) -> None:
    """Letters never get as far as the integration."""
    # 2025.4 raises ValueError, newer cores ServiceValidationError.
    with pytest.raises((ValueError, ServiceValidationError), match="pattern"):
        await set_target(hass, "mobile")


async def test_switch_and_target_are_admin_only(
    hass: HomeAssistant, pbx_state: PbxState, hass_read_only_user: User
) -> None:
    """Forwarding changes where calls go: administrators only."""
    context = Context(user_id=hass_read_only_user.id)
    with pytest.raises(Unauthorized):
        await set_target(hass, "202", context)
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            "switch",
            "turn_off",
            {"entity_id": "switch.marco_caputo_call_forwarding"},
            blocking=True,
            context=context,
        )
    assert pbx_state.get_failover("203")["type"] == "FORWARD_TO_EXTERNAL_NUMBER"


async def test_registration_events(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """Losing and regaining registration fire events; no event at start-up."""
    entity_id = "event.stefano_villa_registration"
    assert hass.states.get(entity_id).state == STATE_UNKNOWN
    registrations = config_entry.runtime_data.registrations

    pbx_state.set_registration("201", "UNREACHABLE")
    await registrations.async_refresh()
    state = hass.states.get(entity_id)
    assert state.attributes["event_type"] == "unregistered"
    lost_at = state.state

    await registrations.async_refresh()
    assert hass.states.get(entity_id).state == lost_at

    pbx_state.set_registration("201", "OK", rtt_ms=12)
    await registrations.async_refresh()
    state = hass.states.get(entity_id)
    assert state.attributes["event_type"] == "registered"
    # Only 201 changed: the others fired nothing.
    assert hass.states.get("event.vittoria_donati_registration").state == STATE_UNKNOWN


async def test_new_voicemail_event(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """A mailbox whose new count goes up fires; reading messages does not."""
    entity_id = "event.stefano_villa_voicemail"
    voicemail = config_entry.runtime_data.voicemail
    pbx_state.set_voicemail("201", new=3, urgent=1)
    await voicemail.async_refresh()
    state = hass.states.get(entity_id)
    assert state.attributes["event_type"] == "new_voicemail"
    assert (state.attributes["new"], state.attributes["urgent"]) == (3, 1)
    assert state.attributes["arrived"] == 1
    fired_at = state.state

    pbx_state.set_voicemail("201", new=0)
    await voicemail.async_refresh()
    assert hass.states.get(entity_id).state == fired_at
    # Extensions without voicemail have no voicemail event.
    assert hass.states.get("event.vittoria_donati_voicemail") is None


async def test_mailbox_polled_for_its_event_alone(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """With its counters disabled, a mailbox is still polled for its event."""
    registry = er.async_get(hass)
    for key in ("new", "urgent", "old"):
        registry.async_update_entity(
            f"sensor.stefano_villa_{key}_voicemails",
            disabled_by=er.RegistryEntryDisabler.USER,
        )
    registry.async_update_entity(
        "sensor.kalliopepbx_office_new_voicemails",
        disabled_by=er.RegistryEntryDisabler.USER,
    )
    voicemail = config_entry.runtime_data.voicemail
    assert "201" in voicemail.mailboxes_to_poll()
    registry.async_update_entity(
        "event.stefano_villa_voicemail", disabled_by=er.RegistryEntryDisabler.USER
    )
    assert "201" not in voicemail.mailboxes_to_poll()
