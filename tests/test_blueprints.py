"""The shipped blueprints are valid and use only what the integration offers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.components.blueprint.models import Blueprint, BlueprintInputs
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.trigger import async_validate_trigger_config
from homeassistant.util.yaml import load_yaml
import pytest

from custom_components.kalliopepbx.const import DOMAIN

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
