"""The call forwarding switch and its target, and the events of an
extension, on the reference-shaped PBX: 201 forwards to a mobile, 202 hangs
up (not forwarding, no mailbox), 203 has a mailbox."""

from __future__ import annotations

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNKNOWN
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError, Unauthorized
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.kalliopepbx.const import (
    REGISTRATIONS_INTERVAL,
    SYSTEM_INTERVAL,
    VOICEMAIL_INTERVAL,
)

from .conftest import advance, set_text, switch_to
from .reference_pbx import ReferencePbx, fixture_bytes

pytestmark = pytest.mark.usefixtures("reference_integration")

SWITCH = "switch.giulia_bianchi_call_forwarding"
TARGET = "text.giulia_bianchi_forwarding_target"


async def test_target_defaults_to_what_the_pbx_forwards_to(
    hass: HomeAssistant,
) -> None:
    """An extension forwarding outside shows its destination as the target."""
    assert hass.states.get("text.mario_rossi_forwarding_target").state == "3351234567"
    assert hass.states.get("switch.mario_rossi_call_forwarding").state == STATE_ON
    assert hass.states.get(TARGET).state == ""
    assert hass.states.get(SWITCH).state == STATE_OFF


async def test_switch_forwards_to_the_target_and_restores(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """On forwards to the typed number; a new target re-forwards; off restores."""
    before = reference_pbx.failover("202")
    await set_text(hass, TARGET, "+39 347 000 0001")
    assert hass.states.get(TARGET).state == "+393470000001"
    # Only typing a target changes nothing on the PBX.
    assert reference_pbx.writes() == []

    await switch_to(hass, SWITCH, "turn_on")
    forwarded = reference_pbx.failover("202")
    assert (forwarded["type"], forwarded["value"]) == (
        "FORWARD_TO_EXTERNAL_NUMBER",
        "+393470000001",
    )
    assert hass.states.get(SWITCH).state == STATE_ON

    await set_text(hass, TARGET, "203")
    forwarded = reference_pbx.failover("202")
    assert (forwarded["type"], forwarded["value"]) == ("FORWARD_TO_EXTEN", "203")

    await switch_to(hass, SWITCH, "turn_off")
    assert reference_pbx.failover("202") == before
    assert hass.states.get(SWITCH).state == STATE_OFF
    assert hass.states.get(TARGET).state == "203"
    assert reference_pbx.pending is False


async def test_switch_follows_changes_made_on_the_pbx(
    hass: HomeAssistant, reference_pbx: ReferencePbx, freezer: FrozenDateTimeFactory
) -> None:
    """Forwarding set in the PBX's own interface shows up at the next poll."""
    reference_pbx.set_failover("202", type="FORWARD_TO_EXTEN", value="203")
    await advance(hass, freezer, SYSTEM_INTERVAL)
    assert hass.states.get(SWITCH).state == STATE_ON
    assert hass.states.get(TARGET).state == "203"


async def test_switch_without_target(hass: HomeAssistant) -> None:
    """Turning on with no target says what is missing."""
    with pytest.raises(ServiceValidationError) as err:
        await switch_to(hass, SWITCH, "turn_on")
    assert err.value.translation_key == "no_forwarding_target"


@pytest.mark.parametrize("value", ["1" * 33, "+39 (02) " + "1" * 31])
async def test_target_validation(hass: HomeAssistant, value: str) -> None:
    """A target that is not a dialable number is refused and not kept."""
    with pytest.raises(ServiceValidationError) as err:
        await set_text(hass, TARGET, value)
    assert err.value.translation_key == "invalid_number"
    assert hass.states.get(TARGET).state == ""


async def test_target_rejected_by_the_entity_pattern(hass: HomeAssistant) -> None:
    """Letters never get as far as the integration."""
    # 2025.4 raises ValueError, newer cores ServiceValidationError.
    with pytest.raises((ValueError, ServiceValidationError), match="pattern"):
        await set_text(hass, TARGET, "mobile")


async def test_switch_and_target_are_admin_only(
    hass: HomeAssistant, reference_pbx: ReferencePbx, hass_read_only_user: User
) -> None:
    """Forwarding changes where calls go: administrators only."""
    context = Context(user_id=hass_read_only_user.id)
    with pytest.raises(Unauthorized):
        await set_text(hass, TARGET, "203", context)
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            "switch",
            "turn_off",
            {"entity_id": "switch.mario_rossi_call_forwarding"},
            blocking=True,
            context=context,
        )
    assert reference_pbx.writes() == []
    assert hass.states.get("switch.mario_rossi_call_forwarding").state == STATE_ON


async def test_registration_events(
    hass: HomeAssistant, reference_pbx: ReferencePbx, freezer: FrozenDateTimeFactory
) -> None:
    """Losing and regaining registration fire events; no event at start-up."""
    entity_id = "event.mario_rossi_registration"
    assert hass.states.get(entity_id).state == STATE_UNKNOWN

    reference_pbx.answer(
        "/users/registrations/",
        fixture_bytes("registrations.xml").replace(
            b"<status>OK", b"<status>UNREACHABLE"
        ),
    )
    await advance(hass, freezer, REGISTRATIONS_INTERVAL)
    state = hass.states.get(entity_id)
    assert state.attributes["event_type"] == "unregistered"
    lost_at = state.state

    await advance(hass, freezer, REGISTRATIONS_INTERVAL)
    assert hass.states.get(entity_id).state == lost_at

    reference_pbx.restore("/users/registrations/")
    await advance(hass, freezer, REGISTRATIONS_INTERVAL)
    state = hass.states.get(entity_id)
    assert state.attributes["event_type"] == "registered"
    # Only 201 changed: 202, unreachable from the start, fired nothing.
    assert hass.states.get("event.giulia_bianchi_registration").state == STATE_UNKNOWN


async def test_new_voicemail_event(
    hass: HomeAssistant, reference_pbx: ReferencePbx, freezer: FrozenDateTimeFactory
) -> None:
    """A mailbox whose new count goes up fires; reading messages does not."""
    entity_id = "event.luca_verdi_voicemail"
    assert hass.states.get(entity_id).state == STATE_UNKNOWN
    count = fixture_bytes("voicemail_count.xml")
    reference_pbx.answer("/voicemails/count/203", count.replace(b">3<", b">5<"))
    await advance(hass, freezer, VOICEMAIL_INTERVAL)
    state = hass.states.get(entity_id)
    assert state.attributes["event_type"] == "new_voicemail"
    assert (state.attributes["new"], state.attributes["urgent"]) == (5, 1)
    assert state.attributes["arrived"] == 2
    fired_at = state.state

    reference_pbx.answer("/voicemails/count/203", count.replace(b">3<", b">0<"))
    await advance(hass, freezer, VOICEMAIL_INTERVAL)
    assert hass.states.get(entity_id).state == fired_at
    # Extensions without voicemail have no voicemail event.
    assert hass.states.get("event.giulia_bianchi_voicemail") is None


async def test_mailbox_polled_for_its_event_alone(
    hass: HomeAssistant, reference_pbx: ReferencePbx, freezer: FrozenDateTimeFactory
) -> None:
    """With its counters disabled, a mailbox is still polled for its event;
    with the event disabled too, it is not polled at all."""
    registry = er.async_get(hass)
    for key in ("new", "urgent", "old"):
        registry.async_update_entity(
            f"sensor.luca_verdi_{key}_voicemails",
            disabled_by=er.RegistryEntryDisabler.USER,
        )
    registry.async_update_entity(
        "sensor.kalliopepbx_office_new_voicemails",
        disabled_by=er.RegistryEntryDisabler.USER,
    )

    async def polled() -> bool:
        before = len(reference_pbx.seen("GET", "/voicemails/count/203"))
        await advance(hass, freezer, VOICEMAIL_INTERVAL)
        return len(reference_pbx.seen("GET", "/voicemails/count/203")) > before

    assert await polled()
    registry.async_update_entity(
        "event.luca_verdi_voicemail", disabled_by=er.RegistryEntryDisabler.USER
    )
    assert not await polled()
    # Mario's mailbox, with its sensors on, still is.
    assert reference_pbx.seen("GET", "/voicemails/count/201")
