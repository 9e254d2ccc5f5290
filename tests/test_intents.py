"""Assist: the shipped sentences reach the intents through Home Assistant's
conversation agent, as a spoken sentence does, and the intents do what they
say to the reference-shaped PBX."""

from __future__ import annotations

from pathlib import Path
import shutil
from typing import Any
from xml.etree import ElementTree as ET

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

from .conftest import PBX_ID
from .reference_pbx import ReferencePbx, fixture_bytes

SENTENCES = Path(__file__).parent.parent / "custom_sentences"
# The reference-shaped PBX: 201 Mario Rossi forwards to a mobile and has
# 3 new voicemails, 202 Giulia Bianchi does not forward and has no mailbox,
# 203 Luca Verdi has 3 new voicemails. Its phonebook: Anna Esposito and the
# company Caffè Città.
EXPOSED = ["201", "202", "203"]


def placed_calls(pbx: ReferencePbx) -> list[tuple[str | None, str | None]]:
    """(exten, number) of every click2call request."""
    return [
        (body.findtext("click2call/exten"), body.findtext("click2call/number_to_call"))
        for body in (
            ET.fromstring(r.body)  # noqa: S314 - our own requests
            for r in pbx.seen("POST", "/click2call")
        )
    ]


@pytest.fixture(autouse=True)
async def assist(
    hass: HomeAssistant, reference_integration: Any, tmp_path: Path
) -> None:
    """The conversation agent with the shipped sentences, as a user installs them."""
    await install_assist(hass, tmp_path)


async def install_assist(hass: HomeAssistant, config_dir: Path) -> None:
    """The shipped sentences in `config_dir`, the agent, `EXPOSED` exposed to it."""
    shutil.copytree(SENTENCES, config_dir / "custom_sentences")
    hass.config.config_dir = str(config_dir)
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
    hass: HomeAssistant, reference_pbx: ReferencePbx, admin: Context
) -> None:
    """A contact's name or company is looked up in the PBX phonebook."""
    response = await say(hass, "call Anna Esposito from Giulia Bianchi", context=admin)
    assert speech(response).startswith("Calling Anna Esposito from Giulia Bianchi")
    await say(hass, "call Caffè Città from Giulia Bianchi", context=admin)
    assert placed_calls(reference_pbx) == [
        ("202", "+390212345678"),
        ("202", "0612345678"),
    ]


async def test_call_a_colleague_or_number(
    hass: HomeAssistant, reference_pbx: ReferencePbx, admin: Context
) -> None:
    """A colleague's name dials their extension; digits dial as they are."""
    await say(hass, "call Luca Verdi from 202")
    await say(hass, "call 02 1234567 from giulia bianchi", context=admin)
    await say(hass, "chiama Luca Verdi da Giulia Bianchi", language="it")
    assert placed_calls(reference_pbx) == [
        ("202", "203"),
        ("202", "021234567"),
        ("202", "203"),
    ]


async def test_call_errors_are_spoken(
    hass: HomeAssistant, reference_pbx: ReferencePbx, admin: Context
) -> None:
    """Unknown people and extensions get an answer, and no call."""
    response = await say(hass, "call Nobody Atall from Giulia Bianchi", context=admin)
    assert refused(response) == "I couldn't find Nobody Atall in the phonebook."
    response = await say(hass, "call Anna Esposito from Kitchen", context=admin)
    assert "extension called Kitchen" in refused(response)
    response = await intent.async_handle(
        hass, "test", "KalliopeCall", {"contact": {"value": "Anna Esposito"}}
    )
    assert refused(response) == "Which extension should ring first?"
    assert placed_calls(reference_pbx) == []


async def test_expected_failures_are_spoken_not_logged(
    hass: HomeAssistant, reference_pbx: ReferencePbx, caplog: pytest.LogCaptureFixture
) -> None:
    """No target, unknown extension, number not allowed, PBX refusal: our words.

    The conversation agent turns a raised error into "An unexpected error
    occurred" and logs a traceback; none of these may do that.
    """
    response = await say(
        hass, "turn on call forwarding for Giulia Bianchi", context=Context()
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
            ("turn on call forwarding for Giulia Bianchi", "en"),
            ("attiva l'inoltro di chiamata per Giulia Bianchi", "it"),
            ("call Anna Esposito from Kitchen", "en"),
            ("call 02 1234567 from Giulia Bianchi", "en"),
            ("chiama 02 1234567 da Giulia Bianchi", "it"),
        )
    ]
    assert answers == [
        "Set the forwarding target of extension 202 first.",
        "Imposta prima la destinazione dell'inoltro dell'interno 202.",
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
    assert placed_calls(reference_pbx) == []


@pytest.mark.parametrize("entry_options", [{CONF_ALLOWED_NUMBERS: r"0[1-9][0-9]{5,9}"}])
async def test_voice_satellites_dial_only_allowed_numbers(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """With no user, outside numbers must match Allowed numbers."""
    response = await say(hass, "call 0039 02 1234567 from Giulia Bianchi")
    assert "not allowed" in refused(response)
    await say(hass, "call 02 1234567 from Giulia Bianchi")
    assert placed_calls(reference_pbx) == [("202", "021234567")]


async def test_pbx_errors_are_spoken(
    hass: HomeAssistant, reference_pbx: ReferencePbx, admin: Context
) -> None:
    """A PBX refusal becomes Assist's answer, not a crash."""
    reference_pbx.pending = True
    response = await say(
        hass, "turn off call forwarding for Mario Rossi", context=admin
    )
    assert "not applied yet" in refused(response)
    reference_pbx.answer(
        "/click2call",
        fixture_bytes("click2call_ok.xml")
        .replace(b"<code>0</code>", b"<code>10</code>")
        .replace(b"Success", b"Error"),
    )
    response = await say(hass, "call Anna Esposito from Luca Verdi", context=admin)
    assert "error 10" in refused(response)


async def test_only_extensions_exposed_to_assist(
    hass: HomeAssistant, reference_pbx: ReferencePbx, admin: Context
) -> None:
    """An extension with no entity exposed to Assist is unknown to it."""
    async_expose_entity(
        hass, "conversation", "binary_sensor.luca_verdi_registered", False
    )
    response = await say(hass, "call 202 from Luca Verdi", context=admin)
    assert "exposed to Assist" in refused(response)
    response = await say(hass, "does Luca Verdi have new voicemail")
    assert "exposed to Assist" in refused(response)
    # Nor is it found by name as someone to call; its digits still dial.
    response = await say(hass, "call Luca Verdi from Giulia Bianchi", context=admin)
    assert refused(response) == "I couldn't find Luca Verdi in the phonebook."
    assert placed_calls(reference_pbx) == []
    await say(hass, "call 203 from Giulia Bianchi")
    assert placed_calls(reference_pbx) == [("202", "203")]


async def test_call_forwarding_on_and_off(
    hass: HomeAssistant, reference_pbx: ReferencePbx, admin: Context
) -> None:
    """On forwards to the target; off restores the failover from before."""
    before = reference_pbx.failover("202")
    await hass.services.async_call(
        "text",
        "set_value",
        {"entity_id": "text.giulia_bianchi_forwarding_target", "value": "203"},
        blocking=True,
    )
    response = await say(
        hass, "turn on call forwarding for Giulia Bianchi", context=admin
    )
    forwarded = reference_pbx.failover("202")
    assert (forwarded["type"], forwarded["value"]) == ("FORWARD_TO_EXTEN", "203")
    assert speech(response) == "Calls to Giulia Bianchi are now forwarded to 203."

    response = await say(
        hass, "disattiva l'inoltro di chiamata per 202", "it", context=admin
    )
    assert reference_pbx.failover("202") == before
    assert "disattivato" in speech(response)


async def test_call_forwarding_intent_is_admin_only(
    hass: HomeAssistant, reference_pbx: ReferencePbx, hass_read_only_user: User
) -> None:
    """Like the switch, only administrators may change forwarding by voice."""
    response = await say(
        hass,
        "turn off call forwarding for Mario Rossi",
        context=Context(user_id=hass_read_only_user.id),
    )
    assert refused(response) == "Only an administrator can change call forwarding."
    assert reference_pbx.writes() == []


async def test_call_forwarding_by_voice_satellite_needs_the_option(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """A satellite has no user: refused unless an administrator allowed it."""
    response = await say(hass, "turn off call forwarding for Mario Rossi")
    assert "without a signed-in user" in refused(response)
    assert reference_pbx.writes() == []

    hass.config_entries.async_update_entry(
        hass.config_entries.async_entries(DOMAIN)[0],
        options={CONF_VOICE_FORWARDING_WITHOUT_USER: True},
    )
    await hass.async_block_till_done()
    response = await say(hass, "turn off call forwarding for Mario Rossi")
    assert response.response_type is intent.IntentResponseType.ACTION_DONE
    assert reference_pbx.failover("201")["type"] == "FORWARD_TO_VOICEMAIL"


async def test_forwarding_switch_is_not_exposed_by_default(
    hass: HomeAssistant,
) -> None:
    """HassTurnOn from a satellite cannot reach forwarding unless exposed on purpose."""
    response = await say(hass, "turn off Mario Rossi call forwarding")
    assert response.response_type is intent.IntentResponseType.ERROR
    state = hass.states.get("switch.mario_rossi_call_forwarding")
    assert state is not None
    assert state.state == "on"


async def test_voicemail(hass: HomeAssistant, reference_pbx: ReferencePbx) -> None:
    """The total, who it is for, and per extension."""
    response = await say(hass, "do I have new voicemail")
    assert speech(response) == (
        "There are 6 new voicemail messages: Mario Rossi (3), Luca Verdi (3)."
    )
    response = await say(hass, "does Mario Rossi have any new voicemails")
    assert speech(response) == "There are 3 new voicemail messages: Mario Rossi (3)."
    response = await say(hass, "does Giulia Bianchi have new voicemail")
    assert speech(response) == "There is no new voicemail."

    count = fixture_bytes("voicemail_count.xml")
    reference_pbx.answer("/voicemails/count/201", count.replace(b">3<", b">0<"))
    reference_pbx.answer("/voicemails/count/203", count.replace(b">3<", b">1<"))
    # The next voicemail poll (its timing is the polling tests' business).
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    await entry.runtime_data.voicemail.async_refresh()
    await hass.async_block_till_done()
    response = await say(hass, "ci sono nuovi messaggi in segreteria", "it")
    assert speech(response) == "C'è 1 nuovo messaggio in segreteria, per Luca Verdi."


async def test_no_pbx_loaded(hass: HomeAssistant) -> None:
    """With every PBX unloaded, Assist says so."""
    entry = hass.config_entries.async_entries("kalliopepbx")[0]
    await hass.config_entries.async_unload(entry.entry_id)
    response = await say(hass, "any new voicemails")
    assert refused(response) == "No KalliopePBX is available."


async def test_refusal_through_the_conversation_api(
    hass: HomeAssistant, hass_client: Any
) -> None:
    """`/api/conversation/process`, as the frontend sends a typed sentence."""
    client = await hass_client()
    answer = await client.post(
        "/api/conversation/process",
        json={"text": "turn on call forwarding for Giulia Bianchi", "language": "en"},
    )
    assert answer.status == 200
    response = (await answer.json())["response"]
    assert response["response_type"] == "error"
    assert (
        response["speech"]["plain"]["speech"]
        == "Set the forwarding target of extension 202 first."
    )
