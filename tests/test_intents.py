"""Assist: the shipped sentences reach the intents through Home Assistant's
conversation agent, as a spoken sentence does, and the intents do what they say."""

from __future__ import annotations

from pathlib import Path
import shutil
from typing import Any

from homeassistant.auth.models import User
from homeassistant.components.conversation import async_converse
from homeassistant.components.homeassistant.exposed_entities import (
    async_expose_entity,
)
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import entity_registry as er, intent
from homeassistant.setup import async_setup_component
import pytest

from custom_components.kalliopepbx.const import (
    CONF_ALLOWED_NUMBERS,
    CONF_VOICE_FORWARDING_WITHOUT_USER,
    DOMAIN,
)
from simulator import PbxState

from .conftest import PBX_ID

SENTENCES = Path(__file__).parent.parent / "custom_sentences"
# Extensions whose entities the tests expose to Assist; 212 stays unexposed.
EXPOSED = [str(exten) for exten in range(201, 212)]


@pytest.fixture
def scenario() -> dict[str, Any]:
    """Twelve extensions; 201 Stefano Villa has voicemail, 210 has 4 new."""
    return {"extensions": 12}


@pytest.fixture(autouse=True)
async def assist(hass: HomeAssistant, init_integration: Any, tmp_path: Path) -> None:
    """The conversation agent with the shipped sentences, as a user installs them."""
    shutil.copytree(SENTENCES, tmp_path / "custom_sentences")
    hass.config.config_dir = str(tmp_path)
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(hass, "conversation", {})
    registry = er.async_get(hass)
    for exten in EXPOSED:
        entity_id = registry.async_get_entity_id(
            "binary_sensor", DOMAIN, f"{PBX_ID}_{exten}_registered"
        )
        assert entity_id is not None
        async_expose_entity(hass, "conversation", entity_id, True)


async def say(
    hass: HomeAssistant,
    text: str,
    language: str = "en",
    context: Context | None = None,
) -> intent.IntentResponse:
    """What Assist answers to a sentence (no user unless `context` has one)."""
    result = await async_converse(
        hass, text, None, context or Context(), language=language
    )
    return result.response


def speech(response: intent.IntentResponse) -> str:
    """What Assist says."""
    return str(response.speech["plain"]["speech"])


def refused(response: intent.IntentResponse) -> str:
    """What Assist says on an expected failure (an error response)."""
    assert response.response_type is intent.IntentResponseType.ERROR
    assert response.error_code is intent.IntentResponseErrorCode.FAILED_TO_HANDLE
    return speech(response)


@pytest.fixture
def admin(hass_admin_user: User) -> Context:
    """A signed-in administrator speaking (e.g. through the companion app)."""
    return Context(user_id=hass_admin_user.id)


async def test_call_a_phonebook_contact(
    hass: HomeAssistant, pbx_state: PbxState, admin: Context
) -> None:
    """A contact's name is looked up in the PBX phonebook."""
    response = await say(hass, "call Mario Rossi from Stefano Villa", context=admin)
    placed = pbx_state.placed_calls[-1]
    assert (placed.exten, placed.number) == ("201", "+390248512231")
    assert speech(response).startswith("Calling Mario Rossi from Stefano Villa")


async def test_call_a_colleague_or_number(
    hass: HomeAssistant, pbx_state: PbxState, admin: Context
) -> None:
    """A colleague's name dials their extension; digits dial as they are."""
    await say(hass, "call Vittoria Donati from 201")
    await say(hass, "call 02 1234567 from stefano villa", context=admin)
    await say(hass, "chiama Vittoria Donati da Stefano Villa", language="it")
    assert [(c.exten, c.number) for c in pbx_state.placed_calls] == [
        ("201", "202"),
        ("201", "021234567"),
        ("201", "202"),
    ]


async def test_call_errors_are_spoken(
    hass: HomeAssistant, pbx_state: PbxState, admin: Context
) -> None:
    """Unknown people and extensions get an answer, and no call."""
    response = await say(hass, "call Nobody Atall from Stefano Villa", context=admin)
    assert refused(response) == "I couldn't find Nobody Atall in the phonebook."
    response = await say(hass, "call Mario Rossi from Kitchen", context=admin)
    assert "extension called Kitchen" in refused(response)
    response = await intent.async_handle(
        hass, "test", "KalliopeCall", {"contact": {"value": "Mario Rossi"}}
    )
    assert refused(response) == "Which extension should ring first?"
    assert pbx_state.placed_calls == []


async def test_expected_failures_are_spoken_not_logged(
    hass: HomeAssistant, pbx_state: PbxState, caplog: pytest.LogCaptureFixture
) -> None:
    """No target, unknown extension, number not allowed, PBX refusal: our words.

    The conversation agent turns a raised error into "An unexpected error
    occurred" and logs a traceback; none of these may do that.
    """
    response = await say(
        hass, "turn on call forwarding for Stefano Villa", context=Context()
    )
    assert "without a signed-in user" in refused(response)
    hass.config_entries.async_update_entry(
        hass.config_entries.async_entries(DOMAIN)[0],
        options={CONF_VOICE_FORWARDING_WITHOUT_USER: True},
    )
    await hass.async_block_till_done()
    answers = [
        refused(await say(hass, sentence, language))
        for sentence, language in (
            ("turn on call forwarding for Stefano Villa", "en"),
            ("attiva l'inoltro di chiamata per Stefano Villa", "it"),
            ("call Mario Rossi from Kitchen", "en"),
            ("call 02 1234567 from Stefano Villa", "en"),
            ("chiama 02 1234567 da Stefano Villa", "it"),
        )
    ]
    assert answers == [
        "Set the forwarding target of extension 201 first.",
        "Imposta prima la destinazione dell'inoltro dell'interno 201.",
        "I don't know an extension called Kitchen that is exposed to Assist.",
        "Only an administrator can call the outside number 021234567: no Allowed"
        " numbers are set in the integration options. An administrator can set"
        " Allowed numbers to let other users, automations and voice assistants"
        " call the numbers it matches.",
        "Solo un amministratore può chiamare il numero esterno 021234567: nelle"
        " opzioni dell'integrazione non sono impostati i Numeri consentiti. Un"
        " amministratore può impostarli per permettere ad altri utenti, automazioni"
        " e assistenti vocali di chiamare i numeri che corrispondono.",
    ]
    assert "unexpected error" not in " ".join(answers).lower()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert pbx_state.placed_calls == []


@pytest.mark.parametrize("entry_options", [{CONF_ALLOWED_NUMBERS: r"0[1-9][0-9]{5,9}"}])
async def test_voice_satellites_dial_only_allowed_numbers(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """With no user, outside numbers must match Allowed numbers."""
    response = await say(hass, "call 0039 02 1234567 from Stefano Villa")
    assert "not allowed" in refused(response)
    await say(hass, "call 02 1234567 from Stefano Villa")
    assert [c.number for c in pbx_state.placed_calls] == ["021234567"]


async def test_pbx_errors_are_spoken(
    hass: HomeAssistant, pbx_state: PbxState, admin: Context
) -> None:
    """A PBX refusal becomes Assist's answer, not a crash."""
    pbx_state.set_pending(True)
    response = await say(
        hass, "turn off call forwarding for Marco Caputo", context=admin
    )
    assert "not applied yet" in refused(response)
    response = await say(hass, "call Mario Rossi from Salvatore Lucà", context=admin)
    assert "error 10" in refused(response)


async def test_only_extensions_exposed_to_assist(
    hass: HomeAssistant, pbx_state: PbxState, admin: Context
) -> None:
    """An extension with no entity exposed to Assist is unknown to it."""
    config = hass.config_entries.async_entries(DOMAIN)[0].runtime_data.extensions
    hidden = config["212"].name
    assert hidden
    response = await say(hass, f"call 202 from {hidden}", context=admin)
    assert "exposed to Assist" in refused(response)
    response = await say(hass, f"does {hidden} have new voicemail")
    assert "exposed to Assist" in refused(response)
    # Nor is it found by name as someone to call; its digits still dial.
    response = await say(hass, f"call {hidden} from Stefano Villa", context=admin)
    assert refused(response) == f"I couldn't find {hidden} in the phonebook."
    assert pbx_state.placed_calls == []
    await say(hass, "call 212 from Stefano Villa")
    assert [c.number for c in pbx_state.placed_calls] == ["212"]


async def test_call_forwarding_on_and_off(
    hass: HomeAssistant, pbx_state: PbxState, admin: Context
) -> None:
    """On forwards to the target; off restores the failover from before."""
    before = pbx_state.get_failover("201")
    await hass.services.async_call(
        "text",
        "set_value",
        {"entity_id": "text.stefano_villa_forwarding_target", "value": "202"},
        blocking=True,
    )
    response = await say(
        hass, "turn on call forwarding for Stefano Villa", context=admin
    )
    assert pbx_state.get_failover("201")["type"] == "FORWARD_TO_EXTEN"
    assert pbx_state.get_failover("201")["value"] == "202"
    assert speech(response) == "Calls to Stefano Villa are now forwarded to 202."

    response = await say(
        hass, "disattiva l'inoltro di chiamata per 201", "it", context=admin
    )
    assert pbx_state.get_failover("201") == before
    assert "disattivato" in speech(response)


async def test_call_forwarding_intent_is_admin_only(
    hass: HomeAssistant, pbx_state: PbxState, hass_read_only_user: User
) -> None:
    """Like the switch, only administrators may change forwarding by voice."""
    response = await say(
        hass,
        "turn off call forwarding for Marco Caputo",
        context=Context(user_id=hass_read_only_user.id),
    )
    assert refused(response) == "Only an administrator can change call forwarding."
    assert pbx_state.get_failover("203")["type"] == "FORWARD_TO_EXTERNAL_NUMBER"


async def test_call_forwarding_by_voice_satellite_needs_the_option(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """A satellite has no user: refused unless an administrator allowed it."""
    before = pbx_state.get_failover("203")
    response = await say(hass, "turn off call forwarding for Marco Caputo")
    assert "without a signed-in user" in refused(response)
    assert pbx_state.get_failover("203") == before

    hass.config_entries.async_update_entry(
        hass.config_entries.async_entries(DOMAIN)[0],
        options={CONF_VOICE_FORWARDING_WITHOUT_USER: True},
    )
    await hass.async_block_till_done()
    response = await say(hass, "turn off call forwarding for Marco Caputo")
    assert response.response_type is intent.IntentResponseType.ACTION_DONE
    assert pbx_state.get_failover("203")["type"] != "FORWARD_TO_EXTERNAL_NUMBER"


async def test_forwarding_switch_is_not_exposed_by_default(
    hass: HomeAssistant,
) -> None:
    """HassTurnOn from a satellite cannot reach forwarding unless exposed on purpose."""
    response = await say(hass, "turn on Marco Caputo call forwarding")
    assert response.response_type is intent.IntentResponseType.ERROR
    state = hass.states.get("switch.marco_caputo_call_forwarding")
    assert state is not None


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
    response = await say(hass, "any new voicemails")
    assert refused(response) == "No KalliopePBX is available."


async def test_refusal_through_the_conversation_api(
    hass: HomeAssistant, pbx_state: PbxState, hass_client: Any
) -> None:
    """`/api/conversation/process`, as the frontend sends a typed sentence."""
    client = await hass_client()
    answer = await client.post(
        "/api/conversation/process",
        json={"text": "turn on call forwarding for Stefano Villa", "language": "en"},
    )
    assert answer.status == 200
    response = (await answer.json())["response"]
    assert response["response_type"] == "error"
    assert (
        response["speech"]["plain"]["speech"]
        == "Set the forwarding target of extension 201 first."
    )
