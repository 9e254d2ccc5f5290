"""The shipped blueprints are valid and use only what the integration offers."""

from __future__ import annotations

from pathlib import Path

from homeassistant.components.blueprint import models
from homeassistant.core import HomeAssistant
from homeassistant.util.yaml import load_yaml
import pytest

from custom_components.kalliopepbx.const import DOMAIN

BLUEPRINTS = sorted(
    (Path(__file__).parent.parent / "blueprints" / "automation" / DOMAIN).glob("*.yaml")
)


def test_there_are_blueprints() -> None:
    """At least the two the README documents."""
    assert {path.name for path in BLUEPRINTS} >= {
        "notify_new_voicemail.yaml",
        "forward_when_away.yaml",
    }


@pytest.mark.parametrize("path", BLUEPRINTS, ids=lambda path: path.stem)
async def test_blueprint_is_valid(hass: HomeAssistant, path: Path) -> None:
    """Home Assistant accepts the blueprint; its actions are ours and exist."""
    blueprint = models.Blueprint(
        load_yaml(path), expected_domain="automation", path=str(path)
    )
    assert blueprint.metadata["name"].startswith("KalliopePBX")
    text = path.read_text(encoding="utf-8")
    services = Path(__file__).parent.parent / "custom_components" / DOMAIN
    offered = load_yaml(services / "services.yaml")
    prefix = f"- action: {DOMAIN}."
    used = [
        line.strip().removeprefix(prefix)
        for line in text.splitlines()
        if line.strip().startswith(prefix)
    ]
    assert all(action in offered for action in used), used
