"""What the README promises about actions and Assist holds."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from hassil import Intents, recognize
from hassil.intents import TextSlotList
from home_assistant_intents import get_intents
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    config_validation as cv,
    entity_registry as er,
    intent,
    template,
)
from homeassistant.helpers.trigger import async_validate_trigger_config
from homeassistant.setup import async_setup_component
import pytest
import yaml

from custom_components.kalliopepbx.const import DOMAIN
from simulator import PbxState

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SENTENCES = ROOT / "custom_sentences"


def section(title: str) -> str:
    """The README's `## title` section."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    """Cells of the table rows whose first cell starts with `first_cell`."""
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].startswith(first_cell):
            rows.append(cells)
    return rows


def quoted(text: str) -> list[str]:
    return re.findall(r"\"([^\"]+)\"", text)


def shipped(language: str) -> Intents:
    with (SENTENCES / language / "kalliopepbx.yaml").open(encoding="utf-8") as file:
        return Intents.from_dict(yaml.safe_load(file))


def test_documented_sentences_reach_their_intents() -> None:
    """Every example sentence in the Voice assistants table matches its intent."""
    rows = table_rows(section("Voice assistants"), "`Kalliope")
    assert len(rows) == 4
    for intent_cell, english, italian, _ in rows:
        intent_type = intent_cell.strip("`")
        for language, cell in (("en", english), ("it", italian)):
            examples = quoted(cell)
            assert examples, f"{intent_type} has no {language} example"
            for text in examples:
                result = recognize(text, shipped(language))
                assert result is not None, f"{text!r} matches nothing"
                assert result.intent.name == intent_type, text


def builtin_examples() -> list[str]:
    paragraph = next(
        part for part in section("Voice assistants").split("\n\n") if "built-in" in part
    )
    return quoted(paragraph.replace("\n", " "))


def entity_translations(language: str) -> dict[str, Any]:
    path = ROOT / "custom_components" / DOMAIN / "translations" / f"{language}.json"
    return dict(json.loads(path.read_text(encoding="utf-8"))["entity"])


def entity_names(hass: HomeAssistant, language: str) -> dict[str, str]:
    """Spoken names (device name + entity name) of our entities -> entity id.

    The test instance runs in English; other languages swap the entity part.
    """
    english, spoken = entity_translations("en"), entity_translations(language)
    names = {}
    for entry in er.async_get(hass).entities.values():
        state = hass.states.get(entry.entity_id)
        if entry.platform != DOMAIN or entry.translation_key is None or not state:
            continue
        key = (entry.domain, entry.translation_key)
        device_name = state.name.removesuffix(english[key[0]][key[1]]["name"])
        names[f"{device_name}{spoken[key[0]][key[1]]['name']}"] = entry.entity_id
    return names


@pytest.mark.usefixtures("init_integration")
async def test_builtin_sentences_work_with_our_entity_names(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """Home Assistant's own sentences find our entities by their names."""
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "intent", {})
    pbx_state.set_pending(False)
    await hass.services.async_call(
        "text",
        "set_value",
        {"entity_id": "text.giulia_rossi_forwarding_target", "value": "203"},
        blocking=True,
    )
    examples = builtin_examples()
    assert len(examples) >= 4
    for text in examples:
        language = "it" if text.split()[0] in {"accendi", "spegni"} else "en"
        names = entity_names(hass, language)
        slot_lists: dict[str, Any] = {
            "name": TextSlotList.from_tuples(
                [
                    (name, name, {"domain": entity_id.split(".")[0]})
                    for name, entity_id in names.items()
                ]
            ),
            "area": TextSlotList.from_strings([]),
            "floor": TextSlotList.from_strings([]),
        }
        result = recognize(
            text, Intents.from_dict(get_intents(language)), slot_lists=slot_lists
        )
        assert result is not None, f"{text!r} matches nothing"
        spoken_name = result.entities["name"].value
        assert spoken_name in names, text
        if language != "en":
            continue
        response = await intent.async_handle(
            hass,
            "test",
            result.intent.name,
            {"name": {"value": spoken_name}},
            text_input=text,
            language=language,
        )
        assert response.response_type is not intent.IntentResponseType.ERROR, text
        await hass.async_block_till_done()
        if result.intent.name == "HassTurnOn":
            assert pbx_state.get_failover("202")["value"] == "203"
        elif result.intent.name == "HassTurnOff":
            assert pbx_state.get_failover("202")["type"] != "FORWARD_TO_EXTEN"


# What the script examples' response variables hold, shaped as the actions answer.
EXAMPLE_RESPONSES = {"added": {"id": "41"}, "found": {"contacts": [{"id": "12"}]}}


@pytest.mark.usefixtures("init_integration")
async def test_action_examples_are_valid(hass: HomeAssistant) -> None:
    """Every action example in the README passes the action's own checks."""
    blocks = re.findall(r"```yaml\n(.*?)```", section("Actions"), re.DOTALL)
    examples = [yaml.safe_load(block) for block in blocks]
    steps: list[tuple[dict[str, Any], Any]] = []
    for example, following in zip(examples, [*examples[1:], None], strict=True):
        if isinstance(example, dict) and "sequence" in example:
            steps.extend((step, None) for step in example["sequence"])
        elif isinstance(example, dict) and "action" in example:
            steps.append((example, following))
    checked = 0
    for step, following in steps:
        domain, service = step["action"].split(".")
        if domain != DOMAIN:
            # A platform action on one of our entities (switch.turn_off).
            assert step["target"]["entity_id"].startswith(f"{domain}.")
            continue
        data = {
            key: template.Template(value, hass).async_render(EXAMPLE_RESPONSES)
            if isinstance(value, str) and "{{" in value
            else value
            for key, value in step["data"].items()
        }
        schema = hass.services.async_services_for_domain(DOMAIN)[service].schema
        assert schema is not None
        schema(data)
        checked += 1
        if service == "search_phonebook" and following is not None:
            # The answer shown under it is the demo PBX's real answer.
            answer = await hass.services.async_call(
                DOMAIN, service, data, blocking=True, return_response=True
            )
            assert answer == following
    assert checked >= 10


async def test_automation_examples_are_valid(hass: HomeAssistant) -> None:
    """The README's example automations have valid triggers and actions."""
    blocks = re.findall(
        r"```yaml\n(.*?)```", section("Automations and blueprints"), re.DOTALL
    )
    automations = [yaml.safe_load(block) for block in blocks]
    assert len(automations) >= 2
    for automation in automations:
        await async_validate_trigger_config(
            hass, cv.TRIGGER_SCHEMA(automation["triggers"])
        )
        cv.CONDITIONS_SCHEMA(automation.get("conditions", []))
        cv.SCRIPT_SCHEMA(automation["actions"])


def test_documented_blueprints_exist() -> None:
    """Each blueprint the README links to is shipped."""
    links = re.findall(
        r"\]\((blueprints/automation/kalliopepbx/[^)]+\.yaml)\)",
        section("Automations and blueprints"),
    )
    shipped_blueprints = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "blueprints" / "automation" / "kalliopepbx").glob("*.yaml")
    )
    assert sorted(links) == shipped_blueprints


def test_layout_names_every_module() -> None:
    """The README's layout lists each module of the integration and its client."""
    layout = README[README.index("### Layout") : README.index("## Screenshots")]
    listed = set(re.findall(r"[\w]+\.py", layout))
    package = ROOT / "custom_components" / "kalliopepbx"
    modules = {
        path.name for path in [*package.glob("*.py"), *(package / "api").glob("*.py")]
    }
    assert modules - listed == set()
    assert listed - modules == {"reference_pbx.py"}
