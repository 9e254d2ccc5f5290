"""The example dashboard names entities that the demo PBX really has."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
import yaml

from custom_components.kalliopepbx.const import CONF_LIVE_EVENTS, DOMAIN

DASHBOARD = Path(__file__).parent.parent / "docs" / "dashboard.yaml"
# The dashboard's PBX is the demo added by scripts/develop; here it is the
# fixtures' "KalliopePBX Office".
DEVELOP_PBX = "kalliopepbx_127_0_0_1_8089"
TEST_PBX = "kalliopepbx_office"


def entity_ids(node: Any) -> set[str]:
    """Every entity a card or row refers to."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "entity" and isinstance(value, str):
                found.add(value)
            else:
                found |= entity_ids(value)
    elif isinstance(node, list):
        for item in node:
            found |= (
                {item} if isinstance(item, str) and "." in item else entity_ids(item)
            )
    return found


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """With live call events, as the Calls card says."""
    return {CONF_LIVE_EVENTS: True}


@pytest.mark.usefixtures("init_integration")
async def test_dashboard_entities_exist(hass: HomeAssistant) -> None:
    dashboard = yaml.safe_load(DASHBOARD.read_text(encoding="utf-8"))
    wanted = {
        entity_id.replace(DEVELOP_PBX, TEST_PBX) for entity_id in entity_ids(dashboard)
    }
    assert "sensor.giulia_rossi_call_state" in wanted
    registry = er.async_get(hass)
    ours = {
        entry.entity_id
        for entry in registry.entities.values()
        if entry.platform == DOMAIN
    }
    assert wanted - ours == set()
