"""The voicemail switch of an extension: on the simulator (202 Giulia Rossi
has a mailbox with 2 new and 5 old messages, 201 has none) and against
answers shaped like the reference's (203 Luca Verdi has a mailbox)."""

from __future__ import annotations

import dataclasses
from typing import Any
import xml.etree.ElementTree as ET

from homeassistant.auth.models import User
from homeassistant.const import STATE_OFF, STATE_ON, EntityCategory
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, Unauthorized
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.const import CONF_VOICEMAIL_SENSORS
from simulator import PbxState

from .conftest import switch_to
from .lock_helpers import change_held_at_write, let_others_run, off_then_on
from .reference_pbx import ReferencePbx

pytestmark = pytest.mark.usefixtures("nothing_pending")

SWITCH = "switch.giulia_rossi_voicemail"
# Everything that exists because 202 has a mailbox.
MAILBOX_ENTITIES = (
    "sensor.giulia_rossi_new_voicemails",
    "sensor.giulia_rossi_urgent_voicemails",
    "sensor.giulia_rossi_old_voicemails",
    "event.giulia_rossi_voicemail",
)


def user_of(pbx_state: PbxState, exten: str) -> dict[str, Any]:
    """The whole configuration of an extension as the simulator holds it."""
    return dataclasses.asdict(pbx_state.extensions[exten])


def mailbox_entities(hass: HomeAssistant) -> dict[str, str | None]:
    """Entity id -> state of 202's mailbox entities that are registered."""
    registry = er.async_get(hass)
    return {
        entity_id: (state.state if (state := hass.states.get(entity_id)) else None)
        for entity_id in MAILBOX_ENTITIES
        if registry.async_get(entity_id) is not None
    }


@pytest.mark.usefixtures("init_integration")
async def test_switch_is_a_configuration_entity_of_each_extension(
    hass: HomeAssistant,
) -> None:
    """On where the PBX has voicemail, off where not; kept out of Assist."""
    assert hass.states.get(SWITCH).state == STATE_ON
    assert hass.states.get("switch.reception_front_desk_voicemail").state == STATE_OFF
    entity = er.async_get(hass).async_get(SWITCH)
    assert entity is not None
    assert entity.entity_category is EntityCategory.CONFIG
    assert entity.translation_key == "voicemail"


@pytest.mark.usefixtures("init_integration")
async def test_off_and_on_again(hass: HomeAssistant, pbx_state: PbxState) -> None:
    """Off: only vm_enabled changes, applied, the mailbox entities go.
    On: back, with the mailbox's counts at once."""
    before = user_of(pbx_state, "202")
    assert mailbox_entities(hass)["sensor.giulia_rossi_new_voicemails"] == "2"

    await switch_to(hass, SWITCH, "turn_off")

    assert user_of(pbx_state, "202") == {**before, "vm_enabled": False}
    assert pbx_state.committed_extensions["202"].vm_enabled is False
    assert pbx_state.pending is False
    assert hass.states.get(SWITCH).state == STATE_OFF
    assert mailbox_entities(hass) == {}
    assert all(hass.states.get(entity_id) is None for entity_id in MAILBOX_ENTITIES)

    # A message left meanwhile (on the PBX's own side): shown when back on.
    pbx_state.voicemails["202"].new = 4
    await switch_to(hass, SWITCH, "turn_on")

    assert user_of(pbx_state, "202") == before
    assert pbx_state.committed_extensions["202"].vm_enabled is True
    assert hass.states.get(SWITCH).state == STATE_ON
    shown = mailbox_entities(hass)
    assert set(shown) == set(MAILBOX_ENTITIES)
    # Counted at once, not at the next voicemail cycle.
    assert shown["sensor.giulia_rossi_new_voicemails"] == "4"
    assert shown["sensor.giulia_rossi_old_voicemails"] == "5"


@pytest.mark.usefixtures("init_integration")
async def test_setting_what_it_is_sends_nothing(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """Turning on a switch that is on writes and applies nothing."""
    pbx_state.reset_counters()
    await switch_to(hass, SWITCH, "turn_on")
    await switch_to(hass, "switch.reception_front_desk_voicemail", "turn_off")
    assert not [
        request for request in pbx_state.counters if not request.startswith("GET ")
    ]


@pytest.mark.usefixtures("init_integration")
async def test_refused_over_foreign_pending_changes(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """Applying would also apply someone else's changes: nothing is written."""
    before = user_of(pbx_state, "202")
    pbx_state.set_pending(True)
    pbx_state.reset_counters()
    with pytest.raises(HomeAssistantError) as err:
        await switch_to(hass, SWITCH, "turn_off")
    assert err.value.translation_key == "changes_already_pending"
    assert user_of(pbx_state, "202") == before
    assert "PUT /users/configs/{exten}" not in pbx_state.counters
    assert "PUT /pbx/apply" not in pbx_state.counters
    assert hass.states.get(SWITCH).state == STATE_ON


@pytest.mark.usefixtures("init_integration")
async def test_administrators_only(
    hass: HomeAssistant, pbx_state: PbxState, hass_read_only_user: User
) -> None:
    """A user who is not an administrator cannot turn voicemail off."""
    before = user_of(pbx_state, "202")
    with pytest.raises(Unauthorized):
        await switch_to(
            hass, SWITCH, "turn_off", Context(user_id=hass_read_only_user.id)
        )
    assert user_of(pbx_state, "202") == before
    assert hass.states.get(SWITCH).state == STATE_ON


@pytest.mark.parametrize("entry_options", [{CONF_VOICEMAIL_SENSORS: False}])
@pytest.mark.usefixtures("init_integration")
async def test_switch_without_voicemail_sensors(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """The option hides the counts, not the PBX setting."""
    assert mailbox_entities(hass) == {}
    await switch_to(hass, SWITCH, "turn_off")
    assert pbx_state.extensions["202"].vm_enabled is False
    await switch_to(hass, SWITCH, "turn_on")
    assert pbx_state.extensions["202"].vm_enabled is True
    assert hass.states.get(SWITCH).state == STATE_ON
    assert mailbox_entities(hass) == {}


async def test_change_waits_for_one_in_progress(
    hass: HomeAssistant, init_integration: MockConfigEntry, pbx_state: PbxState
) -> None:
    """Two changes at once: the second is written after the first is applied."""
    client = init_integration.runtime_data.client
    async with change_held_at_write(
        hass,
        client,
        lambda: switch_to(hass, SWITCH, "turn_off"),
        write="update_user_config",
        record=("apply",),
    ) as held:
        second = hass.async_create_task(
            switch_to(hass, "switch.reception_front_desk_voicemail", "turn_on")
        )
        await let_others_run()
        assert held.order == ["update_user_config"]
        await held.finish(second)
    assert held.order == ["update_user_config", "apply", "update_user_config", "apply"]
    assert pbx_state.extensions["201"].vm_enabled is True
    assert pbx_state.extensions["202"].vm_enabled is False


async def test_off_then_on_at_once_the_last_press_wins(
    hass: HomeAssistant, init_integration: MockConfigEntry, pbx_state: PbxState
) -> None:
    """On pressed while off is under way: the poll showed "on", yet on is sent."""
    client = init_integration.runtime_data.client
    order = await off_then_on(hass, client, SWITCH, write="update_user_config")
    assert order == ["update_user_config", "update_user_config"]
    assert pbx_state.extensions["202"].vm_enabled is True
    assert hass.states.get(SWITCH).state == STATE_ON


# ---------------------------------------------------------------- reference


@pytest.mark.usefixtures("reference_integration")
async def test_reference_sends_only_vm_enabled(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """`PUT /users/configs/203` carries `<vm_enabled>` alone, then is applied."""
    switch = "switch.luca_verdi_voicemail"
    assert hass.states.get(switch).state == STATE_ON
    assert hass.states.get("sensor.luca_verdi_new_voicemails") is not None
    before = ET.tostring(reference_pbx.config("203"))

    await switch_to(hass, switch, "turn_off")

    (put,) = reference_pbx.seen("PUT", "/users/configs/203")
    user = ET.fromstring(put.body).find("user")  # noqa: S314 - our own request
    assert user is not None
    assert [(child.tag, child.text) for child in user] == [("vm_enabled", "false")]
    assert reference_pbx.writes()[-1] == ("PUT", "/pbx/apply")
    assert reference_pbx.pending is False
    assert hass.states.get(switch).state == STATE_OFF
    assert hass.states.get("sensor.luca_verdi_new_voicemails") is None
    # Every other tag of the user is as it was.
    after = reference_pbx.config("203")
    assert after.findtext("vm_enabled") == "false"
    restored = ET.fromstring(before)  # noqa: S314 - a fixture
    for tag in (child.tag for child in restored if child.tag != "vm_enabled"):
        assert ET.tostring(after.find(tag)) == ET.tostring(restored.find(tag)), tag


@pytest.mark.usefixtures("reference_integration")
@pytest.mark.parametrize(
    ("switch", "exten", "press", "key", "stays"),
    [
        ("switch.luca_verdi_voicemail", "203", "turn_off", "voicemail_off", STATE_ON),
        (
            "switch.giulia_bianchi_voicemail",
            "202",
            "turn_on",
            "voicemail_on",
            STATE_OFF,
        ),
    ],
)
async def test_reference_pbx_not_showing_the_change(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    switch: str,
    exten: str,
    press: str,
    key: str,
    stays: str,
) -> None:
    """Acknowledged but not kept: the user is told, the switch stays as it was."""
    reference_pbx.keeps_writes = False
    assert hass.states.get(switch).state == stays
    with pytest.raises(HomeAssistantError) as err:
        await switch_to(hass, switch, press)
    assert err.value.translation_key == f"{key}_not_applied"
    assert err.value.translation_placeholders == {"extension": exten}
    assert hass.states.get(switch).state == stays
