"""The shipped blueprints are valid and use only what the integration offers."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.blueprint.models import Blueprint, BlueprintInputs
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.trigger import async_validate_trigger_config
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import load_yaml
import pytest
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.kalliopepbx.const import CONF_LIVE_EVENTS, DOMAIN
from simulator import PbxState

from .conftest import PBX_ID, find_device
from .live_helpers import Post, call, notification
from .reference_pbx import ReferencePbx

ROOT = Path(__file__).parent.parent
BLUEPRINTS = ROOT / "blueprints" / "automation" / DOMAIN

# Example answers a user would give to each blueprint's inputs.
INPUTS: dict[str, dict[str, Any]] = {
    "notify_new_voicemail": {
        "voicemail_events": ["event.giulia_rossi_voicemail"],
        "notify_device": "0123456789abcdef0123456789abcdef",
    },
    "forward_when_away": {
        "zone": "zone.home",
        "extension": "0123456789abcdef0123456789abcdef",
        "mobile_number": "+39 333 1234567",
    },
    "notify_missed_call": {
        "call_event": "event.giulia_rossi_call",
        "notify_action": "notify.mobile_app_pixel_8",
    },
    "ring_group_presence": {
        "person": "person.giulia_bianchi",
        "ring_switch": "switch.giulia_bianchi_rings_in_incoming",
    },
    "nightly_backup": {"pbx": "01JKALLIOPEPBXENTRY0000001", "time": "02:30:00"},
    "ring_pause_media": {
        "call_state": "sensor.giulia_rossi_call_state",
        "media_players": ["media_player.kitchen"],
        "lights": ["light.desk"],
    },
}


def test_the_documented_blueprints_ship() -> None:
    """Every blueprint the README documents is in the repository."""
    assert {path.stem for path in BLUEPRINTS.glob("*.yaml")} == set(INPUTS)


@pytest.mark.parametrize("name", sorted(INPUTS))
async def test_blueprint_is_valid(hass: HomeAssistant, name: str) -> None:
    """It loads, fills in, and its triggers and actions validate."""
    path = BLUEPRINTS / f"{name}.yaml"
    blueprint = Blueprint(
        load_yaml(path),
        expected_domain="automation",
        path=str(path),
        schema=BLUEPRINT_SCHEMA,
    )
    assert blueprint.metadata["name"].startswith("KalliopePBX")
    config = BlueprintInputs(
        blueprint, {"use_blueprint": {"path": path.name, "input": INPUTS[name]}}
    ).async_substitute()
    await async_validate_trigger_config(hass, cv.TRIGGER_SCHEMA(config["triggers"]))
    actions = cv.SCRIPT_SCHEMA(config["actions"])
    offered = load_yaml(ROOT / "custom_components" / DOMAIN / "services.yaml")
    used = [
        step["action"].removeprefix(f"{DOMAIN}.")
        for action in actions
        for option in action.get("choose", [{"sequence": [action]}])
        for step in option["sequence"]
        if str(step.get("action", "")).startswith(f"{DOMAIN}.")
    ]
    assert all(service in offered for service in used), used


@pytest.mark.usefixtures("init_integration")
async def test_forward_when_away_runs(
    hass: HomeAssistant, pbx_state: PbxState, freezer: FrozenDateTimeFactory
) -> None:
    """Away for 5 minutes forwards; back restores; a short absence changes nothing."""
    target = Path(hass.config.path("blueprints", "automation", DOMAIN))
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(BLUEPRINTS / "forward_when_away.yaml", target)
    device = find_device(hass, f"{PBX_ID}_203")
    assert device is not None
    pbx_state.set_pending(False)
    hass.states.async_set("zone.home", "1")
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {
                    "path": f"{DOMAIN}/forward_when_away.yaml",
                    "input": {
                        "zone": "zone.home",
                        "extension": device.id,
                        "mobile_number": "+39 333 1234567",
                    },
                }
            }
        },
    )
    await hass.async_block_till_done()
    before = pbx_state.get_failover("203")

    async def zone(people: str, then_wait: timedelta) -> None:
        hass.states.async_set("zone.home", people)
        await hass.async_block_till_done()
        freezer.tick(then_wait)
        async_fire_time_changed(hass)
        await hass.async_block_till_done()

    # Out for 2 minutes: nothing is forwarded, and nothing is "restored".
    await zone("0", timedelta(minutes=2))
    await zone("1", timedelta(minutes=1))
    assert pbx_state.get_failover("203") == before

    await zone("0", timedelta(minutes=6))
    assert pbx_state.get_failover("203")["type"] == "FORWARD_TO_EXTERNAL_NUMBER"
    assert pbx_state.get_failover("203")["value"] == "+393331234567"

    await zone("2", timedelta(minutes=1))
    assert pbx_state.get_failover("203") == before


async def use_blueprint(hass: HomeAssistant, name: str, inputs: dict[str, Any]) -> None:
    """Create an automation from a shipped blueprint, as the UI does."""
    target = Path(hass.config.path("blueprints", "automation", DOMAIN))
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(BLUEPRINTS / f"{name}.yaml", target)
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "use_blueprint": {"path": f"{DOMAIN}/{name}.yaml", "input": inputs}
            }
        },
    )
    await hass.async_block_till_done()


# The time trigger waits for the next night when the test ends.
@pytest.mark.parametrize("expected_lingering_timers", [True])
@pytest.mark.usefixtures("init_integration")
async def test_nightly_backup_runs(
    hass: HomeAssistant,
    pbx_state: PbxState,
    freezer: FrozenDateTimeFactory,
    tmp_path: Path,
) -> None:
    """At the chosen time, one backup of the chosen PBX lands on disk."""
    hass.config.config_dir = str(tmp_path)
    await hass.config.async_set_time_zone("Europe/Rome")
    freezer.move_to("2026-12-02T01:29:00+00:00")
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    await use_blueprint(
        hass, "nightly_backup", {"pbx": entry.entry_id, "time": "02:30:00"}
    )
    directory = tmp_path / DOMAIN / "backups" / PBX_ID
    assert not directory.exists()

    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert pbx_state.backups_created == 1
    assert [path.name for path in directory.iterdir()] == ["20261202-023000.tgz"]


@pytest.mark.parametrize("entry_options", [{CONF_LIVE_EVENTS: True}])
async def test_notify_missed_call_runs(
    hass: HomeAssistant, post: Post, freezer: FrozenDateTimeFactory
) -> None:
    """Each missed call is one message: name, else number, else unknown; the time."""
    freezer.move_to("2026-12-02T08:00:00+00:00")
    await hass.config.async_set_time_zone("Europe/Rome")
    sent = async_mock_service(hass, "notify", "office_phone")
    await use_blueprint(
        hass,
        "notify_missed_call",
        {
            "call_event": "event.mario_rossi_call",
            "notify_action": "notify.office_phone",
        },
    )

    # Answered, and a call missed by someone else: no message.
    await post(notification("pbx.extension.incomingcall", call("a1")))
    await post(notification("pbx.extension.answercall", call("a1")))
    await post(notification("pbx.call.end", call("a1", duration="30")))
    await post(notification("pbx.extension.missedcall", call("g1", extension="202")))
    assert sent == []

    # The phonebook names the caller while the phone rings.
    await post(notification("pbx.extension.incomingcall", call("m1")))
    await post(notification("pbx.extension.missedcall", call("m1")))
    freezer.tick(timedelta(minutes=7))
    await post(
        notification("pbx.extension.missedcall", call("m2", caller_num="0398765432"))
    )
    await post(notification("pbx.extension.missedcall", call("m3", caller_num="")))
    await hass.async_block_till_done()
    assert [(c.data["title"], c.data["message"]) for c in sent] == [
        ("Missed call", "Caffè Città called Mario Rossi at 09:00."),
        ("Missed call", "0398765432 called Mario Rossi at 09:07."),
        ("Missed call", "unknown number called Mario Rossi at 09:07."),
    ]


@pytest.mark.parametrize("entry_options", [{CONF_LIVE_EVENTS: True}])
async def test_ring_pause_media_runs(hass: HomeAssistant, post: Post) -> None:
    """Ringing pauses what plays and flashes; idle resumes only what it paused."""
    paused = async_mock_service(hass, "media_player", "media_pause")
    played = async_mock_service(hass, "media_player", "media_play")
    toggled = async_mock_service(hass, "light", "toggle")
    hass.states.async_set("media_player.kitchen", "playing")
    hass.states.async_set("media_player.radio", "playing")
    hass.states.async_set("media_player.tv", "off")
    hass.states.async_set("light.desk", "off")
    await use_blueprint(
        hass,
        "ring_pause_media",
        {
            "call_state": "sensor.mario_rossi_call_state",
            "media_players": [
                "media_player.kitchen",
                "media_player.radio",
                "media_player.tv",
            ],
            "lights": ["light.desk"],
            "flashes": 2,
        },
    )

    async def send(event: str, params: dict[str, str]) -> None:
        # The automation waits for the call's end: nothing would settle.
        await post(notification(event, params), settle=False)

    async def run_for(seconds: int) -> None:
        """Let the automation run, its flashes included."""
        for _ in range(seconds * 4):
            async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=1))
            for _ in range(10):
                await asyncio.sleep(0)

    # Another extension ringing changes nothing.
    await send("pbx.extension.incomingcall", call("o1", extension="202"))
    await run_for(5)
    assert (paused, toggled) == ([], [])

    await send("pbx.extension.incomingcall", call("r1"))
    await run_for(5)
    assert [c.data["entity_id"] for c in paused] == [
        ["media_player.kitchen", "media_player.radio"]
    ]
    # Two flashes: on, off, on, off.
    assert [c.data["entity_id"] for c in toggled] == [["light.desk"]] * 4
    hass.states.async_set("media_player.kitchen", "paused")
    # Someone stops the radio during the call: it stays off.
    hass.states.async_set("media_player.radio", "off")
    await send("pbx.extension.answercall", call("r1"))
    await run_for(1)
    assert played == []

    await send("pbx.call.end", call("r1", duration="12"))
    await run_for(1)
    assert [c.data["entity_id"] for c in played] == [["media_player.kitchen"]]


@pytest.mark.usefixtures("reference_integration")
async def test_ring_group_presence_runs(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """Leaving home takes the extension out of the group; back home puts it back."""
    hass.states.async_set("person.giulia_bianchi", "home")
    await use_blueprint(
        hass,
        "ring_group_presence",
        {
            "person": "person.giulia_bianchi",
            "ring_switch": "switch.giulia_bianchi_rings_in_incoming",
        },
    )

    async def move(where: str) -> None:
        hass.states.async_set("person.giulia_bianchi", where)
        await hass.async_block_till_done(wait_background_tasks=True)

    # From one zone to another away from home: nothing changes.
    await move("not_home")
    assert reference_pbx.callgroup_members("incoming") == [["201"], ["203"]]
    await move("office")
    await move("unavailable")
    assert reference_pbx.callgroup_members("incoming") == [["201"], ["203"]]
    assert len(reference_pbx.seen("PUT", "/pbx/callgroups/incoming")) == 1

    await move("home")
    assert reference_pbx.callgroup_members("incoming") == [["201", "202"], ["203"]]
    switch = hass.states.get("switch.giulia_bianchi_rings_in_incoming")
    assert switch is not None
    assert switch.state == "on"

    # Unknown (Home Assistant starting) before home is no coming back.
    await move("not_home")
    await move("unknown")
    await move("home")
    assert reference_pbx.callgroup_members("incoming") == [["201"], ["203"]]
