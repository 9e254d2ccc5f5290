"""Assist's "who called?": missed calls pushed by the PBX, read back by voice.

The calls arrive through the webhook as the PBX sends them, and the question
goes through Home Assistant's conversation agent with the shipped sentences.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.auth.models import User
from homeassistant.components.homeassistant.exposed_entities import (
    async_expose_entity,
)
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import intent
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.const import (
    CONF_LIVE_EVENTS,
    DOMAIN,
)

from .live_helpers import Post, call, notification
from .test_intents import install_assist, refused, say, speech

# 09:00 in Rome (UTC+1 in December).
START = datetime.fromisoformat("2026-12-02T08:00:00+00:00")

Miss = Callable[..., Awaitable[None]]


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Live events on, as after the options step."""
    return {CONF_LIVE_EVENTS: True}


@pytest.fixture(autouse=True)
async def assist(
    hass: HomeAssistant,
    reference_integration: MockConfigEntry,
    tmp_path: Path,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The shipped sentences installed, three extensions exposed, Rome's clock."""
    freezer.move_to(START)
    await hass.config.async_set_time_zone("Europe/Rome")
    await install_assist(hass, tmp_path)


@pytest.fixture
async def miss(post: Post, freezer: FrozenDateTimeFactory) -> Miss:
    """Five minutes pass, then the PBX reports a missed call to an extension."""
    ids = iter(range(1, 1000))

    async def send(extension: str, **params: str) -> None:
        freezer.tick(timedelta(minutes=5))
        body = notification(
            "pbx.extension.missedcall",
            call(f"who-{next(ids)}", extension=extension, **params),
        )
        assert (await post(body)).status == 200

    return send


async def test_no_missed_calls(hass: HomeAssistant) -> None:
    for sentence, language in (
        ("who called", "en"),
        ("did anyone call", "en"),
        ("any missed calls", "en"),
        ("who called Mario Rossi", "en"),
    ):
        assert speech(await say(hass, sentence, language)) == "No missed calls."
    for sentence in ("chi ha chiamato", "ci sono chiamate perse"):
        assert speech(await say(hass, sentence, "it")) == "Nessuna chiamata persa."


async def test_the_last_three_newest_first(
    hass: HomeAssistant, miss: Miss, reference_integration: MockConfigEntry
) -> None:
    """Name from the phonebook, else the number, else "unknown"; local time."""
    await miss("202", caller_num="0398765432")  # 09:05, oldest: not read out
    await miss("201")  # 09:10, the phonebook's Caffè Città
    await miss("202", caller_num="0398765432")  # 09:15
    await miss("203", caller_num="")  # 09:20, no number
    expected = (
        "An unknown number called Luca Verdi at 09:20; "
        "0398765432 called Giulia Bianchi at 09:15; "
        "Caffè Città called Mario Rossi at 09:10."
    )
    assert speech(await say(hass, "who called")) == expected
    assert speech(await say(hass, "chi ha chiamato", "it")) == (
        "Un numero sconosciuto ha chiamato Luca Verdi alle 09:20; "
        "0398765432 ha chiamato Giulia Bianchi alle 09:15; "
        "Caffè Città ha chiamato Mario Rossi alle 09:10."
    )
    # A restart keeps them.
    await hass.config_entries.async_reload(reference_integration.entry_id)
    await hass.async_block_till_done()
    assert speech(await say(hass, "did anyone call me")) == expected


async def test_one_extension(hass: HomeAssistant, miss: Miss) -> None:
    """By name or number, in either language; others' calls are left out."""
    await miss("201", caller_name="Studio Bianchi")  # 09:05
    await miss("202")  # 09:10
    await miss("201")  # 09:15
    assert speech(await say(hass, "who called Mario Rossi")) == (
        "Caffè Città called Mario Rossi at 09:15; "
        "Studio Bianchi called Mario Rossi at 09:05."
    )
    assert speech(await say(hass, "any missed calls for 202")) == (
        "Caffè Città called Giulia Bianchi at 09:10."
    )
    assert speech(await say(hass, "chi ha chiamato Giulia Bianchi", "it")) == (
        "Caffè Città ha chiamato Giulia Bianchi alle 09:10."
    )
    assert speech(await say(hass, "does Luca Verdi have any missed calls")) == (
        "No missed calls."
    )
    response = await say(hass, "who called the kitchen")
    assert refused(response) == (
        "I don't know an extension called the kitchen that is exposed to Assist."
    )


async def test_only_extensions_exposed_to_assist(
    hass: HomeAssistant, miss: Miss
) -> None:
    """Calls to an extension hidden from Assist are not read out, even by name."""
    await miss("201")
    await miss("203", caller_num="0398765432")
    async_expose_entity(
        hass, "conversation", "binary_sensor.luca_verdi_registered", False
    )
    assert speech(await say(hass, "who called")) == (
        "Caffè Città called Mario Rossi at 09:05."
    )
    assert "exposed to Assist" in refused(await say(hass, "who called Luca Verdi"))
    assert "esposto ad Assist" in refused(
        await say(hass, "chi ha chiamato Luca Verdi", "it")
    )


async def test_users_and_voice_satellites_alike(
    hass: HomeAssistant, miss: Miss, hass_read_only_user: User
) -> None:
    """Like voicemail: reading exposed extensions needs no administrator."""
    await miss("201")
    answer = "Caffè Città called Mario Rossi at 09:05."
    assert speech(await say(hass, "who called")) == answer
    user = Context(user_id=hass_read_only_user.id)
    assert speech(await say(hass, "who called", context=user)) == answer


@pytest.mark.parametrize("entry_options", [{}])
async def test_live_events_off(hass: HomeAssistant) -> None:
    """Without live events nobody knows who called: Assist says why."""
    response = await say(hass, "who called")
    assert refused(response).startswith("Live call events are not set up")
    response = await say(hass, "who called Mario Rossi")
    assert refused(response).startswith("Live call events are not set up")
    response = await say(hass, "chi ha chiamato", "it")
    assert refused(response).startswith(
        "Gli eventi di chiamata in tempo reale non sono configurati"
    )


async def test_no_pbx_loaded(hass: HomeAssistant) -> None:
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    await hass.config_entries.async_unload(entry.entry_id)
    response = await say(hass, "any missed calls")
    assert refused(response) == "No KalliopePBX is available."


async def test_intent_without_the_sentences(hass: HomeAssistant, miss: Miss) -> None:
    """Any phrasing that reaches the intent gets the same answer."""
    await miss("201")
    response = await intent.async_handle(
        hass, "test", "KalliopeMissedCalls", {}, language="it"
    )
    assert speech(response) == "Caffè Città ha chiamato Mario Rossi alle 09:05."


async def test_calls_of_other_days_say_which(
    hass: HomeAssistant, miss: Miss, freezer: FrozenDateTimeFactory
) -> None:
    """A call from yesterday or earlier is not read out as if it were today's."""
    await miss("201")  # 09:05 today
    freezer.tick(timedelta(days=1))
    await miss("202")  # 09:10 the next day
    freezer.tick(timedelta(days=1))
    assert speech(await say(hass, "who called")) == (
        "Caffè Città called Giulia Bianchi yesterday at 09:10; "
        f"Caffè Città called Mario Rossi on {START.day:02d}/{START.month:02d} at 09:05."
    )
    assert speech(await say(hass, "chi ha chiamato", "it")).startswith(
        "Caffè Città ha chiamato Giulia Bianchi ieri alle 09:10; "
    )
