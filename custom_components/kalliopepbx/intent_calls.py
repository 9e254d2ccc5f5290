"""Assist intent "who called?": the last missed calls, from live call events.

Like the other intents it speaks only of extensions with an entity exposed
to Assist, and answers expected failures (no PBX, an unknown extension, live
events off) with a spoken, translated message.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import config_validation as cv, intent
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .intents import (
    _base_language,
    _exposed_extensions,
    _KalliopeIntent,
    _loaded_entries,
    _RefusalError,
    _speech as _common_speech,
)
from .live_events import MissedCall
from .runtime import KalliopeConfigEntry

INTENT_MISSED_CALLS = "KalliopeMissedCalls"

# At most this many calls are read out, newest first.
SPOKEN_CALLS = 3

_SPEECH = {
    "en": {
        "no_missed_calls": "No missed calls.",
        "missed_call": "{caller} called {extension} {when}",
        "today": "at {time}",
        "yesterday": "yesterday at {time}",
        "earlier": "on {date} at {time}",
        "unknown_caller": "An unknown number",
        "separator": "; ",
        "live_events_off": "Live call events are not set up, so I can't tell who called. An administrator can set them up in the KalliopePBX options under Live call events.",
    },
    "it": {
        "no_missed_calls": "Nessuna chiamata persa.",
        "missed_call": "{caller} ha chiamato {extension} {when}",
        "today": "alle {time}",
        "yesterday": "ieri alle {time}",
        "earlier": "il {date} alle {time}",
        "unknown_caller": "Un numero sconosciuto",
        "separator": "; ",
        "live_events_off": "Gli eventi di chiamata in tempo reale non sono configurati, quindi non so dire chi ha chiamato. Un amministratore può configurarli nelle opzioni di KalliopePBX, alla voce Eventi di chiamata in tempo reale.",
    },
}


def _speech(language: str, key: str, **values: object) -> str:
    texts = _SPEECH.get(_base_language(language), _SPEECH["en"])
    return texts[key].format(**values)


class MissedCallsIntentHandler(_KalliopeIntent):
    """Who called and was not answered, newest first."""

    intent_type = INTENT_MISSED_CALLS
    description = "Tells who called an office extension without being answered"
    slot_schema = {vol.Optional("extension"): cv.string}  # noqa: RUF012

    async def _async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """The last missed calls of every PBX with live events, or of one extension."""
        slots = self.async_validate_slots(intent_obj.slots)
        language = intent_obj.language
        hass = intent_obj.hass
        entries = _loaded_entries(hass)
        if not entries:
            raise _RefusalError(_common_speech(language, "no_pbx"))
        only: str | None = None
        if "extension" in slots:
            entry, only, _ = self._extension(intent_obj, slots)
            entries = [entry]
        live = [entry for entry in entries if entry.runtime_data.live.enabled]
        if not live:
            raise _RefusalError(_speech(language, "live_events_off"))
        calls: list[tuple[KalliopeConfigEntry, MissedCall]] = []
        for entry in live:
            exposed = _exposed_extensions(hass, entry)
            calls.extend(
                (entry, missed)
                for missed in entry.runtime_data.live.recent_missed
                if missed.exten in exposed and only in (None, missed.exten)
            )
        calls.sort(key=lambda found: found[1].at, reverse=True)
        response = intent_obj.create_response()
        if not calls:
            response.async_set_speech(_speech(language, "no_missed_calls"))
            return response
        spoken = [
            _speech(
                language,
                "missed_call",
                caller=missed.caller_name
                or missed.caller_number
                or _speech(language, "unknown_caller"),
                extension=_extension_name(entry, missed.exten),
                when=_when(language, missed),
            )
            for entry, missed in calls[:SPOKEN_CALLS]
        ]
        response.async_set_speech(_speech(language, "separator").join(spoken) + ".")
        return response


def _when(language: str, missed: MissedCall) -> str:
    """`at 09:10` today, `yesterday at 09:10`, else `on 28/11 at 09:10`."""
    local = dt_util.as_local(missed.at)
    days = (dt_util.now().date() - local.date()).days
    key = "today" if days <= 0 else "yesterday" if days == 1 else "earlier"
    return _speech(
        language, key, time=local.strftime("%H:%M"), date=local.strftime("%d/%m")
    )


def _extension_name(entry: KalliopeConfigEntry, exten: str) -> str:
    config = entry.runtime_data.extensions.get(exten)
    return (config.name if config else None) or exten


@callback
def async_setup_call_intents(hass: HomeAssistant) -> None:
    """Register the intent (once, from `async_setup`)."""
    intent.async_register(hass, MissedCallsIntentHandler())
