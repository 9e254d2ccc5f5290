"""The shipped blueprints are valid and use only what the integration offers."""

from __future__ import annotations

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
from homeassistant.util.yaml import load_yaml
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.kalliopepbx.const import DOMAIN
from simulator import PbxState

from .conftest import PBX_ID, find_device

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
