"""Assist: the shipped sentences match, and the intents do what they say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hassil import Intents, recognize
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import intent
import pytest
import yaml

from simulator import PbxState

pytestmark = pytest.mark.usefixtures("init_integration")

SENTENCES = Path(__file__).parent.parent / "custom_sentences"


@pytest.fixture
def scenario() -> dict[str, Any]:
    """Twelve extensions; 201 Stefano Villa has voicemail, 210 has 4 new."""
    return {"extensions": 12}


async def say(
    hass: HomeAssistant,
    text: str,
    language: str = "en",
    context: Context | None = None,
) -> intent.IntentResponse:
    """Match `text` against the shipped sentences, then run the intent."""
    with (SENTENCES / language / "kalliopepbx.yaml").open(encoding="utf-8") as file:
        intents = Intents.from_dict(yaml.safe_load(file))
    result = recognize(text, intents)
    assert result is not None, f"no sentence matches {text!r}"
    slots = {
        name: {"value": e.value, "text": e.text} for name, e in result.entities.items()
    }
    return await intent.async_handle(
        hass,
        "test",
        result.intent.name,
        slots,
        text_input=text,
        context=context,
        language=language,
    )


def speech(response: intent.IntentResponse) -> str:
    """What Assist says."""
    return str(response.speech["plain"]["speech"])


async def test_call_a_phonebook_contact(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """A contact's name is looked up in the PBX phonebook."""
    response = await say(hass, "call Mario Rossi from Stefano Villa")
    placed = pbx_state.placed_calls[-1]
    assert (placed.exten, placed.number) == ("201", "+390248512231")
    assert speech(response).startswith("Calling Mario Rossi from Stefano Villa")


async def test_call_a_colleague_or_number(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """A colleague's name dials their extension; digits dial as they are."""
    await say(hass, "call Vittoria Donati from 201")
    await say(hass, "call 02 1234567 from stefano villa")
    await say(hass, "chiama Vittoria Donati da Stefano Villa", language="it")
    assert [(c.exten, c.number) for c in pbx_state.placed_calls] == [
        ("201", "202"),
        ("201", "021234567"),
        ("201", "202"),
    ]


async def test_call_errors_are_spoken(hass: HomeAssistant, pbx_state: PbxState) -> None:
    """Unknown people and extensions get an answer, and no call."""
    with pytest.raises(intent.IntentHandleError, match="couldn't find Nobody"):
        await say(hass, "call Nobody Atall from Stefano Villa")
    with pytest.raises(intent.IntentHandleError, match="extension called Kitchen"):
        await say(hass, "call Mario Rossi from Kitchen")
    with pytest.raises(intent.IntentHandleError, match="Which extension"):
        await intent.async_handle(
            hass, "test", "KalliopeCall", {"contact": {"value": "Mario Rossi"}}
        )
    assert pbx_state.placed_calls == []


async def test_pbx_errors_are_spoken(hass: HomeAssistant, pbx_state: PbxState) -> None:
    """A PBX refusal becomes Assist's answer, not a crash."""
    pbx_state.set_pending(True)
    with pytest.raises(intent.IntentHandleError, match="not applied yet"):
        await say(hass, "turn off call forwarding for Marco Caputo")
    with pytest.raises(intent.IntentHandleError, match="error 10"):
        await say(hass, "call Mario Rossi from Salvatore Lucà")


async def test_call_forwarding_on_and_off(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """On forwards to the target; off restores the failover from before."""
    before = pbx_state.get_failover("201")
    await hass.services.async_call(
        "text",
        "set_value",
        {"entity_id": "text.stefano_villa_forwarding_target", "value": "202"},
        blocking=True,
    )
    response = await say(hass, "turn on call forwarding for Stefano Villa")
    assert pbx_state.get_failover("201")["type"] == "FORWARD_TO_EXTEN"
    assert pbx_state.get_failover("201")["value"] == "202"
    assert speech(response) == "Calls to Stefano Villa are now forwarded to 202."

    response = await say(hass, "disattiva l'inoltro di chiamata per 201", "it")
    assert pbx_state.get_failover("201") == before
    assert "disattivato" in speech(response)


async def test_call_forwarding_intent_is_admin_only(
    hass: HomeAssistant, pbx_state: PbxState, hass_read_only_user: User
) -> None:
    """Like the switch, only administrators may change forwarding by voice."""
    with pytest.raises(intent.IntentHandleError, match="Only an administrator"):
        await say(
            hass,
            "turn off call forwarding for Marco Caputo",
            context=Context(user_id=hass_read_only_user.id),
        )
    assert pbx_state.get_failover("203")["type"] == "FORWARD_TO_EXTERNAL_NUMBER"


async def test_voicemail(hass: HomeAssistant, pbx_state: PbxState) -> None:
    """The total, who it is for, and per extension."""
    response = await say(hass, "do I have new voicemail")
    assert speech(response) == (
        "There are 6 new voicemail messages: Stefano Villa (2), Leonardo Fiore (4)."
    )
    response = await say(hass, "does Stefano Villa have any new voicemails")
    assert speech(response) == (
        "There are 2 new voicemail messages: Stefano Villa (2)."
    )
    response = await say(hass, "does Roberto Gallo have new voicemail")
    assert speech(response) == "There is no new voicemail."

    pbx_state.set_voicemail("201", new=0)
    pbx_state.set_voicemail("210", new=1)
    entry = hass.config_entries.async_entries("kalliopepbx")[0]
    await entry.runtime_data.voicemail.async_refresh()
    response = await say(hass, "ci sono nuovi messaggi in segreteria", "it")
    assert (
        speech(response) == "C'è 1 nuovo messaggio in segreteria, per Leonardo Fiore."
    )


async def test_no_pbx_loaded(hass: HomeAssistant) -> None:
    """With every PBX unloaded, Assist says so."""
    entry = hass.config_entries.async_entries("kalliopepbx")[0]
    await hass.config_entries.async_unload(entry.entry_id)
    with pytest.raises(intent.IntentHandleError, match="No KalliopePBX"):
        await say(hass, "any new voicemails")
