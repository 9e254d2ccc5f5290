"""Call groups against answers shaped as the API reference shows them.

The reference-shaped PBX holds the reference's example group `incoming`
("Incoming"): 201 and 202 ring together, then 203. `callgroups_two.xml`
adds group 1 ("Sales", 203 alone).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from xml.etree import ElementTree as ET

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, Platform
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import (
    HomeAssistantError,
    ServiceValidationError,
    Unauthorized,
)
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.const import DOMAIN, SYSTEM_INTERVAL
from simulator import PbxState

from .conftest import PBX_ID, advance, call_action, switch_to
from .lock_helpers import off_then_on
from .reference_pbx import ReferencePbx

SENSOR = "sensor.kalliopepbx_office_call_group_incoming"
RINGS_201 = "switch.mario_rossi_rings_in_incoming"
RINGS_202 = "switch.giulia_bianchi_rings_in_incoming"
RINGS_203 = "switch.luca_verdi_rings_in_incoming"
PATH = "/pbx/callgroups/incoming"


def callgroup_entities(hass: HomeAssistant) -> set[str]:
    """Entity ids of every call group entity in the registry."""
    registry = er.async_get(hass)
    return {
        entry.entity_id
        for entry in registry.entities.values()
        if entry.platform == DOMAIN and "_callgroup_" in entry.unique_id
    }


def written_members(pbx: ReferencePbx, path: str = PATH) -> list[list[list[str]]]:
    """The members of every PUT to a group, priority by priority."""
    return [
        [
            [m.findtext("exten", "") for m in priority.iter("member")]
            for priority in ET.fromstring(r.body).iter("priority")  # noqa: S314
        ]
        for r in pbx.seen("PUT", path)
    ]


def take_out_203(pbx: ReferencePbx) -> None:
    """Incoming without its second priority: 203 no longer rings in it."""
    priorities = pbx.callgroups["incoming"].find("priorities")
    assert priorities is not None
    priorities.remove(priorities[1])


@pytest.mark.usefixtures("reference_integration")
async def test_sensor_shows_the_group(hass: HomeAssistant) -> None:
    """Member count as the state; members in ring order and the rest as attributes."""
    state = hass.states.get(SENSOR)
    assert state is not None
    assert state.state == "3"
    assert state.attributes["friendly_name"] == "KalliopePBX Office Call group Incoming"
    assert state.attributes["members"] == [
        {"extension": "201", "name": "Mario Rossi"},
        {"extension": "202", "name": "Giulia Bianchi"},
        {"extension": "203", "name": "Luca Verdi"},
    ]
    assert state.attributes["ring_strategy"] == "sequential"
    assert state.attributes["priorities"] == [["201", "202"], ["203"]]
    assert state.attributes["ring_timeout"] == 20
    assert state.attributes["enabled"] is True
    entry = er.async_get(hass).async_get(SENSOR)
    assert entry is not None
    assert entry.unique_id == f"{PBX_ID}_callgroup_incoming"
    for switch in (RINGS_201, RINGS_202, RINGS_203):
        switch_state = hass.states.get(switch)
        assert switch_state is not None
        assert switch_state.state == STATE_ON
    registered = er.async_get(hass).async_get(RINGS_201)
    assert registered is not None
    assert registered.entity_category == "config"
    assert registered.unique_id == f"{PBX_ID}_201_callgroup_incoming"


async def test_one_priority_rings_simultaneously(
    hass: HomeAssistant, reference_pbx: ReferencePbx, reference_entry: MockConfigEntry
) -> None:
    """Everyone in one priority: `simultaneous`; names from the configuration too."""
    take_out_203(reference_pbx)
    for name in reference_pbx.callgroups["incoming"].iter("display_name"):
        name.text = None
    assert await hass.config_entries.async_setup(reference_entry.entry_id)
    await hass.async_block_till_done()
    state = hass.states.get(SENSOR)
    assert state is not None
    assert state.state == "2"
    assert state.attributes["ring_strategy"] == "simultaneous"
    assert state.attributes["members"] == [
        {"extension": "201", "name": "Mario Rossi"},
        {"extension": "202", "name": "Giulia Bianchi"},
    ]
    # 203 never rang in the group: its switch is there, disabled by default.
    assert hass.states.get(RINGS_203) is None
    registered = er.async_get(hass).async_get(RINGS_203)
    assert registered is not None
    assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION


@pytest.mark.usefixtures("reference_integration")
async def test_switch_off_takes_out_only_that_extension(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Everyone else keeps their priority and order; the PUT carries them all."""
    await switch_to(hass, RINGS_202, "turn_off")
    assert written_members(reference_pbx) == [[["201"], ["203"]]]
    assert reference_pbx.callgroup_members("incoming") == [["201"], ["203"]]
    # Only the members are sent: name, timeout and the rest stay as they are.
    (put,) = reference_pbx.seen("PUT", PATH)
    sent = ET.fromstring(put.body).find("callgroup")  # noqa: S314
    assert sent is not None
    assert [child.tag for child in sent] == ["priorities"]
    group = reference_pbx.callgroups["incoming"]
    assert (group.findtext("name"), group.findtext("timeout")) == ("Incoming", "20")
    # Read once before the write, once after the apply to check it.
    assert len(reference_pbx.seen("GET", PATH)) == 2
    assert reference_pbx.pending is False
    assert ("PUT", "/pbx/apply") in reference_pbx.writes()
    state = hass.states.get(RINGS_202)
    assert state is not None
    assert state.state == STATE_OFF
    sensor = hass.states.get(SENSOR)
    assert sensor is not None
    assert sensor.state == "2"
    # Already off: nothing more is sent.
    await switch_to(hass, RINGS_202, "turn_off")
    assert len(reference_pbx.seen("PUT", PATH)) == 1


@pytest.mark.usefixtures("reference_integration")
@pytest.mark.parametrize(
    ("switch", "expected_off", "expected_back"),
    [
        (RINGS_201, [["202"], ["203"]], [["202", "201"], ["203"]]),
        (RINGS_203, [["201", "202"], []], [["201", "202"], ["203"]]),
    ],
)
async def test_switch_on_puts_it_back_where_it_rang(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    switch: str,
    expected_off: list[list[str]],
    expected_back: list[list[str]],
) -> None:
    """Back into the priority it was in, not the last one."""
    await switch_to(hass, switch, "turn_off")
    assert reference_pbx.callgroup_members("incoming") == expected_off
    await switch_to(hass, switch, "turn_on")
    assert reference_pbx.callgroup_members("incoming") == expected_back
    assert reference_pbx.pending is False
    state = hass.states.get(switch)
    assert state is not None
    assert state.state == STATE_ON
    # Already on: nothing more is sent.
    await switch_to(hass, switch, "turn_on")
    assert len(reference_pbx.seen("PUT", PATH)) == 2


async def test_former_priority_remembered_across_restarts(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_integration: MockConfigEntry,
) -> None:
    """Taken out, Home Assistant restarted: back into its own priority."""
    await switch_to(hass, RINGS_201, "turn_off")
    assert await hass.config_entries.async_reload(reference_integration.entry_id)
    await hass.async_block_till_done()
    state = hass.states.get(RINGS_201)
    assert state is not None
    assert state.state == STATE_OFF
    await switch_to(hass, RINGS_201, "turn_on")
    assert reference_pbx.callgroup_members("incoming") == [["202", "201"], ["203"]]


@pytest.mark.usefixtures("reference_integration")
async def test_group_without_priorities_gets_a_first_one(
    hass: HomeAssistant, reference_pbx: ReferencePbx, freezer: FrozenDateTimeFactory
) -> None:
    """Emptied on the PBX: turning a switch on makes priority 1 with it."""
    priorities = reference_pbx.callgroups["incoming"].find("priorities")
    assert priorities is not None
    priorities.clear()
    await advance(hass, freezer, SYSTEM_INTERVAL)
    state = hass.states.get(RINGS_202)
    assert state is not None
    assert state.state == STATE_OFF
    await switch_to(hass, RINGS_202, "turn_on")
    assert written_members(reference_pbx) == [[["202"]]]
    assert reference_pbx.callgroup_members("incoming") == [["202"]]


@pytest.mark.usefixtures("reference_integration")
async def test_refused_while_someone_else_has_changes_pending(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Applying would apply their changes too: nothing is written."""
    reference_pbx.pending = True
    with pytest.raises(HomeAssistantError) as err:
        await switch_to(hass, RINGS_202, "turn_off")
    assert err.value.translation_key == "changes_already_pending"
    assert reference_pbx.seen("PUT", PATH) == []
    assert reference_pbx.callgroup_members("incoming") == [["201", "202"], ["203"]]


@pytest.mark.usefixtures("reference_integration")
async def test_two_switches_at_once_both_land(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Each change reads the group under the lock: no change undoes the other."""
    await asyncio.gather(
        switch_to(hass, RINGS_201, "turn_off"),
        switch_to(hass, RINGS_203, "turn_off"),
    )
    assert reference_pbx.callgroup_members("incoming") == [["202"], []]
    assert len(reference_pbx.seen("PUT", PATH)) == 2
    for switch in (RINGS_201, RINGS_203):
        state = hass.states.get(switch)
        assert state is not None
        assert state.state == STATE_OFF


@pytest.mark.usefixtures("reference_integration")
async def test_change_the_pbx_does_not_show_is_reported(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Written and applied, but read back unchanged: the user is told."""
    before = reference_pbx.callgroup_members("incoming")

    async def ignore_writes(request: object) -> object:
        from aiohttp import web

        from .reference_pbx import fixture_bytes

        assert isinstance(request, web.Request)
        if request.method == "GET":
            members = "".join(
                ET.tostring(reference_pbx.callgroups["incoming"], encoding="unicode")
            )
            body = f"<kpbx_response><callgroups>{members}</callgroups></kpbx_response>"
            return web.Response(body=body.encode(), content_type="text/xml")
        return web.Response(
            body=fixture_bytes("callgroup_saved.xml"), content_type="text/xml"
        )

    reference_pbx.handle(PATH, ignore_writes)  # type: ignore[arg-type]
    with pytest.raises(HomeAssistantError) as err:
        await switch_to(hass, RINGS_202, "turn_off")
    assert err.value.translation_key == "callgroup_not_applied"
    assert err.value.translation_placeholders == {
        "callgroup": "Incoming",
        "expected": "201 | 203",
        "actual": "201, 202 | 203",
    }
    assert reference_pbx.callgroup_members("incoming") == before


# ---------------------------------------------------------------- the action


@pytest.mark.usefixtures("reference_integration")
async def test_action_by_id_with_members(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """One priority, in the order given."""
    await call_action(
        hass,
        "set_callgroup_members",
        {"callgroup": "incoming", "members": ["203", "201"]},
    )
    assert reference_pbx.callgroup_members("incoming") == [["203", "201"]]
    assert reference_pbx.pending is False
    sensor = hass.states.get(SENSOR)
    assert sensor is not None
    assert sensor.attributes["ring_strategy"] == "simultaneous"
    assert sensor.state == "2"


@pytest.mark.usefixtures("reference_integration")
async def test_action_by_name_with_priorities(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_integration: MockConfigEntry,
) -> None:
    """The name in any case; one list per priority."""
    await call_action(
        hass,
        "set_callgroup_members",
        {
            "config_entry_id": reference_integration.entry_id,
            "callgroup": "INCOMING",
            "priorities": [["202"], ["203", "201"]],
        },
    )
    assert written_members(reference_pbx) == [[["202"], ["203", "201"]]]
    assert reference_pbx.callgroup_members("incoming") == [["202"], ["203", "201"]]


@pytest.mark.usefixtures("reference_integration")
async def test_action_finds_a_group_made_since_the_last_poll(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Not polled yet: the PBX is asked, and the group is found by its name."""
    reference_pbx.load_callgroups("callgroups_two.xml")
    await call_action(
        hass, "set_callgroup_members", {"callgroup": "sales", "members": ["202"]}
    )
    assert written_members(reference_pbx, "/pbx/callgroups/1") == [[["202"]]]
    assert reference_pbx.callgroup_members("1") == [["202"]]


@pytest.mark.usefixtures("reference_integration")
async def test_action_refuses_a_name_two_groups_share(
    hass: HomeAssistant, reference_pbx: ReferencePbx, freezer: FrozenDateTimeFactory
) -> None:
    """Which one is meant cannot be guessed: the ids are given to choose from."""
    reference_pbx.load_callgroups("callgroups_two.xml")
    name = reference_pbx.callgroups["1"].find("name")
    assert name is not None
    name.text = "Incoming"
    await advance(hass, freezer, SYSTEM_INTERVAL)
    with pytest.raises(ServiceValidationError) as err:
        await call_action(
            hass,
            "set_callgroup_members",
            {"callgroup": "Incoming", "members": ["202"]},
        )
    assert err.value.translation_key == "ambiguous_callgroup"
    assert err.value.translation_placeholders == {
        "callgroup": "Incoming",
        "ids": "1, incoming",
    }
    assert reference_pbx.writes() == []
    # The id still picks one.
    await call_action(
        hass, "set_callgroup_members", {"callgroup": "1", "members": ["202"]}
    )
    assert reference_pbx.callgroup_members("1") == [["202"]]


@pytest.mark.usefixtures("reference_integration")
async def test_action_on_a_group_deleted_since_the_poll(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """The PBX is asked which groups it has now: refused, nothing sent."""
    del reference_pbx.callgroups["incoming"]
    with pytest.raises(ServiceValidationError) as err:
        await call_action(
            hass,
            "set_callgroup_members",
            {"callgroup": "incoming", "members": ["201"]},
        )
    assert err.value.translation_key == "unknown_callgroup"
    assert reference_pbx.writes() == []


@pytest.mark.usefixtures("reference_integration")
async def test_action_on_a_group_deleted_before_the_write(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Gone between the lookup and the write: the PBX's error 15, nothing applied."""
    reference_pbx.answer(PATH, fixture="callgroup_error_15.xml")
    with pytest.raises(HomeAssistantError) as err:
        await call_action(
            hass,
            "set_callgroup_members",
            {"callgroup": "incoming", "members": ["201"]},
        )
    assert err.value.translation_key == "unknown_callgroup"
    assert err.value.translation_placeholders == {"callgroup": "Incoming"}
    assert reference_pbx.writes() == [("PUT", PATH)]


@pytest.mark.usefixtures("reference_integration")
@pytest.mark.parametrize(
    ("data", "key", "placeholders"),
    [
        (
            {"callgroup": "Reception", "members": ["201"]},
            "unknown_callgroup",
            {"callgroup": "Reception"},
        ),
        (
            {"callgroup": "incoming", "members": ["201", "299"]},
            "unknown_extension",
            {"extension": "299"},
        ),
        (
            {"callgroup": "incoming", "priorities": [["201"], ["202", "201"]]},
            "duplicate_callgroup_member",
            {"extension": "201"},
        ),
        ({"callgroup": "incoming"}, "callgroup_members_required", None),
    ],
)
async def test_action_refusals(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    data: dict[str, object],
    key: str,
    placeholders: dict[str, str] | None,
) -> None:
    """Validated before anything is sent; the message is translated."""
    with pytest.raises(ServiceValidationError) as err:
        await call_action(hass, "set_callgroup_members", data)
    assert err.value.translation_key == key
    assert err.value.translation_placeholders == placeholders
    assert reference_pbx.writes() == []


@pytest.mark.usefixtures("reference_integration")
async def test_non_admin_is_refused(
    hass: HomeAssistant, hass_read_only_user: User, reference_pbx: ReferencePbx
) -> None:
    """Neither the action nor the switches for a user who is not an administrator."""
    context = Context(user_id=hass_read_only_user.id)
    with pytest.raises(Unauthorized):
        await call_action(
            hass,
            "set_callgroup_members",
            {"callgroup": "incoming", "members": ["201"]},
            context=context,
        )
    with pytest.raises(Unauthorized):
        await switch_to(hass, RINGS_201, "turn_off", context)
    assert reference_pbx.writes() == []


# ---------------------------------------------------------------- following the PBX


@pytest.mark.usefixtures("reference_integration")
async def test_groups_appear_and_disappear_with_the_pbx(
    hass: HomeAssistant, reference_pbx: ReferencePbx, freezer: FrozenDateTimeFactory
) -> None:
    """A new group at the next system poll; a group gone loses its entities."""
    sales = "sensor.kalliopepbx_office_call_group_sales"
    sales_203 = "switch.luca_verdi_rings_in_sales"
    assert hass.states.get(sales) is None
    reference_pbx.load_callgroups("callgroups_two.xml")
    await advance(hass, freezer, SYSTEM_INTERVAL)
    state = hass.states.get(sales)
    assert state is not None
    assert state.state == "1"
    assert hass.states.get(sales_203) is not None

    # Taken out on the PBX itself: its switch stays, off, to be turned back on.
    take_out_203(reference_pbx)
    await advance(hass, freezer, SYSTEM_INTERVAL)
    state = hass.states.get(RINGS_203)
    assert state is not None
    assert state.state == STATE_OFF

    del reference_pbx.callgroups["1"]
    await advance(hass, freezer, SYSTEM_INTERVAL)
    assert callgroup_entities(hass) == {SENSOR, RINGS_201, RINGS_202, RINGS_203}
    assert hass.states.get(sales) is None
    assert hass.states.get(sales_203) is None


@pytest.mark.usefixtures("reference_integration")
async def test_failing_endpoint_costs_only_call_group_entities(
    hass: HomeAssistant, reference_pbx: ReferencePbx, freezer: FrozenDateTimeFactory
) -> None:
    """A bad answer: the group entities go unavailable, none removed, back after."""
    reference_pbx.answer("/pbx/callgroups", "<kpbx_response><callgroups>", status=200)
    await advance(hass, freezer, SYSTEM_INTERVAL)
    for entity_id in (SENSOR, RINGS_201):
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.state == STATE_UNAVAILABLE
    license_state = hass.states.get("sensor.kalliopepbx_office_licence_status")
    assert license_state is not None
    assert license_state.state == "active"
    assert len(callgroup_entities(hass)) == 4

    reference_pbx.restore("/pbx/callgroups")
    await advance(hass, freezer, SYSTEM_INTERVAL)
    state = hass.states.get(SENSOR)
    assert state is not None
    assert state.state == "3"


async def test_unsupported_endpoint_gives_no_call_group_entities(
    hass: HomeAssistant, reference_pbx: ReferencePbx, reference_entry: MockConfigEntry
) -> None:
    """A firmware without call groups (HTTP 404): none of their entities."""
    reference_pbx.answer(
        "/pbx/callgroups", "Not Found", status=404, content_type="text/plain"
    )
    assert await hass.config_entries.async_setup(reference_entry.entry_id)
    await hass.async_block_till_done()
    assert callgroup_entities(hass) == set()
    assert hass.states.get(SENSOR) is None
    license_state = hass.states.get("sensor.kalliopepbx_office_licence_status")
    assert license_state is not None
    assert license_state.state == "active"
    forwarding = hass.states.get("switch.mario_rossi_call_forwarding")
    assert forwarding is not None
    assert forwarding.state != STATE_UNAVAILABLE
    registry = er.async_get(hass)
    assert not [
        e
        for e in er.async_entries_for_config_entry(registry, reference_entry.entry_id)
        if e.domain == Platform.SWITCH and "_callgroup_" in e.unique_id
    ]


@pytest.mark.usefixtures("reference_integration")
async def test_group_deleted_on_the_pbx_since_the_poll(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Read under the lock and gone: the user is told, nothing is written."""
    del reference_pbx.callgroups["incoming"]
    with pytest.raises(HomeAssistantError) as err:
        await switch_to(hass, RINGS_202, "turn_off")
    assert err.value.translation_key == "unknown_callgroup"
    assert err.value.translation_placeholders == {"callgroup": "Incoming"}
    assert reference_pbx.writes() == []


async def test_switch_against_the_simulator(
    hass: HomeAssistant, init_integration: MockConfigEntry, pbx_state: PbxState
) -> None:
    """The simulator keeps the others' order and priorities, and applies."""
    pbx_state.set_pending(False)
    before = pbx_state.callgroups["incoming"].priorities
    first, second = before[0].members, before[1].members
    leaving = second[0]
    registry = er.async_get(hass)
    entity_id = registry.async_get_entity_id(
        Platform.SWITCH, DOMAIN, f"{PBX_ID}_{leaving}_callgroup_incoming"
    )
    assert entity_id is not None
    await switch_to(hass, entity_id, "turn_off")
    after = pbx_state.callgroups["incoming"].priorities
    assert [p.members for p in after] == [first, second[1:]]
    assert pbx_state.pending is False
    await switch_to(hass, entity_id, "turn_on")
    after = pbx_state.callgroups["incoming"].priorities
    assert [p.members for p in after] == [first, (*second[1:], leaving)]


@pytest.mark.usefixtures("reference_integration")
async def test_off_then_on_at_once_the_last_press_wins(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """On pressed while off is under way: the poll showed "on", yet on is sent."""
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    client = entry.runtime_data.client
    order = await off_then_on(hass, client, RINGS_202, write="set_callgroup_members")
    assert order == ["set_callgroup_members", "set_callgroup_members"]
    assert hass.states.get(RINGS_202).state == STATE_ON
    assert reference_pbx.callgroup_members("incoming")[0] == ["201", "202"]


async def test_switches_survive_a_start_without_the_extension_list(
    hass: HomeAssistant, reference_pbx: ReferencePbx, reference_entry: MockConfigEntry
) -> None:
    """Members are unknown, not gone: their switches (and names given) stay."""
    assert await hass.config_entries.async_setup(reference_entry.entry_id)
    await hass.async_block_till_done()
    before = callgroup_entities(hass)
    assert RINGS_202 in before
    assert await hass.config_entries.async_unload(reference_entry.entry_id)
    await hass.async_block_till_done()
    for path in ("/users/configs/", "/users/brief/"):
        reference_pbx.answer(path, "<kpbx_response><x>")
    assert await hass.config_entries.async_setup(reference_entry.entry_id)
    await hass.async_block_till_done()
    assert callgroup_entities(hass) == before


# ---------------------------------------------------------------- switches of non-members


async def test_a_switch_disabled_by_default_comes_on_when_its_extension_joins(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Put into the group by the action: its switch is enabled and shows on."""
    take_out_203(reference_pbx)
    assert await hass.config_entries.async_setup(reference_entry.entry_id)
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    assert hass.states.get(RINGS_203) is None

    await call_action(
        hass,
        "set_callgroup_members",
        {"callgroup": "incoming", "priorities": [["201", "202"], ["203"]]},
    )
    await hass.async_block_till_done()
    registered = registry.async_get(RINGS_203)
    assert registered is not None
    assert registered.disabled_by is None
    state = hass.states.get(RINGS_203)
    assert state is not None
    assert state.state == STATE_ON
    # Home Assistant reloads the entry after an entity is enabled: still on.
    before_reload = reference_entry.runtime_data
    await advance(hass, freezer, timedelta(seconds=31))
    assert reference_entry.state is ConfigEntryState.LOADED
    assert reference_entry.runtime_data is not before_reload
    state = hass.states.get(RINGS_203)
    assert state is not None
    assert state.state == STATE_ON

    # Disabled by the user: it stays so, whatever the PBX does.
    registry.async_update_entity(RINGS_203, disabled_by=er.RegistryEntryDisabler.USER)
    await hass.async_block_till_done()
    for members in ([["201", "202"]], [["201", "202"], ["203"]]):
        await call_action(
            hass,
            "set_callgroup_members",
            {"callgroup": "incoming", "priorities": members},
        )
        await hass.async_block_till_done()
    registered = registry.async_get(RINGS_203)
    assert registered is not None
    assert registered.disabled_by is er.RegistryEntryDisabler.USER


async def test_no_switches_for_non_members_on_a_large_pbx(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the limit of extension and group pairs, only members get one."""
    monkeypatch.setattr(
        "custom_components.kalliopepbx.callgroup_entities.NON_MEMBER_SWITCHES_MAX", 2
    )
    take_out_203(reference_pbx)
    assert await hass.config_entries.async_setup(reference_entry.entry_id)
    await hass.async_block_till_done()
    assert callgroup_entities(hass) == {SENSOR, RINGS_201, RINGS_202}


async def test_an_earlier_member_gets_its_switch_back_from_memory(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Its registry entry gone, the remembered priority makes it again, enabled."""
    take_out_203(reference_pbx)
    await advance(hass, freezer, SYSTEM_INTERVAL)
    entry_id = reference_integration.entry_id
    assert await hass.config_entries.async_unload(entry_id)
    registry = er.async_get(hass)
    registry.async_remove(RINGS_203)
    assert await hass.config_entries.async_setup(entry_id)
    await hass.async_block_till_done()
    registered = registry.async_get(RINGS_203)
    assert registered is not None
    assert registered.disabled_by is None
    state = hass.states.get(RINGS_203)
    assert state is not None
    assert state.state == STATE_OFF


async def test_a_pbx_briefly_without_call_groups_keeps_their_entities(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 404 while the PBX starts up is not "no call groups": nothing is deleted.

    Only a list missing for half an hour counts as gone, however often the
    PBX is asked meanwhile, and a restart of Home Assistant does not count
    as proof either.
    """
    before = callgroup_entities(hass)
    not_found = {"status": 404, "content_type": "text/plain"}
    reference_pbx.answer("/pbx/callgroups", "Not Found", **not_found)
    await advance(hass, freezer, SYSTEM_INTERVAL)
    # Changes made meanwhile refresh the system data too: not the clock.
    for _ in range(3):
        await reference_integration.runtime_data.system.async_refresh()
    await hass.async_block_till_done()
    assert callgroup_entities(hass) == before
    for entity_id in (SENSOR, RINGS_201):
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.state == STATE_UNAVAILABLE

    # Home Assistant restarts while the PBX still answers 404.
    entry_id = reference_integration.entry_id
    assert await hass.config_entries.async_unload(entry_id)
    assert await hass.config_entries.async_setup(entry_id)
    await hass.async_block_till_done()
    assert callgroup_entities(hass) == before

    reference_pbx.restore("/pbx/callgroups")
    await advance(hass, freezer, SYSTEM_INTERVAL)
    state = hass.states.get(RINGS_201)
    assert state is not None
    assert state.state == STATE_ON

    reference_pbx.answer("/pbx/callgroups", "Not Found", **not_found)
    for _ in range(3):
        await advance(hass, freezer, SYSTEM_INTERVAL)
    assert callgroup_entities(hass) == before
    caplog.clear()
    await advance(hass, freezer, SYSTEM_INTERVAL)
    assert callgroup_entities(hass) == set()
    # Said once, and not as if the list had come back.
    messages = [record.getMessage() for record in caplog.records]
    assert [m for m in messages if "taken as not offered" in m] == [
        "KalliopePBX Office: GET /pbx/callgroups not found on the PBX for a while,"
        " taken as not offered"
    ]
    assert not [m for m in messages if "available again" in m]


async def test_disabled_non_member_switches_go_when_the_pbx_grows_past_the_limit(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Nobody enabled it and the extension never rang there: it goes again."""
    take_out_203(reference_pbx)
    assert await hass.config_entries.async_setup(reference_entry.entry_id)
    await hass.async_block_till_done()
    assert RINGS_203 in callgroup_entities(hass)
    monkeypatch.setattr(
        "custom_components.kalliopepbx.callgroup_entities.NON_MEMBER_SWITCHES_MAX", 4
    )
    # A second group: 3 extensions x 2 groups is over the limit now.
    reference_pbx.load_callgroups("callgroups_two.xml")
    take_out_203(reference_pbx)
    await advance(hass, freezer, SYSTEM_INTERVAL)
    assert callgroup_entities(hass) == {
        SENSOR,
        RINGS_201,
        RINGS_202,
        "sensor.kalliopepbx_office_call_group_sales",
        "switch.luca_verdi_rings_in_sales",
    }


async def test_new_entities_disabled_by_the_user_stay_disabled_when_joining(
    hass: HomeAssistant, reference_pbx: ReferencePbx, reference_entry: MockConfigEntry
) -> None:
    """ "Enable newly added entities" off: joining a group enables nothing."""
    hass.config_entries.async_update_entry(
        reference_entry, pref_disable_new_entities=True
    )
    take_out_203(reference_pbx)
    assert await hass.config_entries.async_setup(reference_entry.entry_id)
    await hass.async_block_till_done()
    await call_action(
        hass,
        "set_callgroup_members",
        {"callgroup": "incoming", "priorities": [["201", "202"], ["203"]]},
    )
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    for switch in (RINGS_201, RINGS_203):
        registered = registry.async_get(switch)
        assert registered is not None
        assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
