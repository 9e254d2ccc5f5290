"""Assist intents: call someone from an extension, forwarding on/off, voicemail.

The sentences that reach these intents ship as `custom_sentences` files (see
the README); the handlers work with any phrasing that fills the slots. They
act only on extensions with an entity exposed to Assist, and answer every
expected failure with a spoken, translated message rather than an error.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import unicodedata

from homeassistant.components.homeassistant.exposed_entities import (
    async_should_expose,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, Unauthorized
from homeassistant.helpers import (
    config_validation as cv,
    entity_registry as er,
    intent,
    translation,
)
import voluptuous as vol

from .api import Click2CallType, KalliopeError, PhonebookFilter
from .const import CONF_VOICE_FORWARDING_WITHOUT_USER, DOMAIN
from .dialing import async_number_to_dial
from .errors import translate_error
from .permissions import async_require_admin
from .phone_numbers import InvalidNumberError, normalize_number
from .runtime import KalliopeConfigEntry

INTENT_CALL = "KalliopeCall"
INTENT_CALL_FORWARDING = "KalliopeCallForwarding"
INTENT_VOICEMAIL = "KalliopeVoicemail"

# The assistant whose exposure settings apply: Assist (the conversation agent).
CONVERSATION_DOMAIN = "conversation"

_SPEECH = {
    "en": {
        "calling": "Calling {contact} from {extension}. Pick up the phone when it rings.",
        "forwarding_on": "Calls to {extension} are now forwarded to {target}.",
        "forwarding_off": "Call forwarding for {extension} is off.",
        "no_voicemail": "There is no new voicemail.",
        "voicemail": "There are {total} new voicemail messages: {details}.",
        "voicemail_one": "There is 1 new voicemail message, for {details}.",
        "unknown_extension": "I don't know an extension called {extension} that is exposed to Assist.",
        "extension_required": "Which extension should ring first?",
        "unknown_contact": "I couldn't find {contact} in the phonebook.",
        "no_pbx": "No KalliopePBX is available.",
        "admin_only": "Only an administrator can change call forwarding.",
        "forwarding_needs_user": "Call forwarding can't be changed by voice from a device without a signed-in user. An administrator can allow it in the KalliopePBX options.",
    },
    "it": {
        "calling": "Chiamo {contact} da {extension}. Rispondi quando squilla.",
        "forwarding_on": "Le chiamate per {extension} ora vanno a {target}.",
        "forwarding_off": "L'inoltro di chiamata per {extension} è disattivato.",
        "no_voicemail": "Non ci sono nuovi messaggi in segreteria.",
        "voicemail": "Ci sono {total} nuovi messaggi in segreteria: {details}.",
        "voicemail_one": "C'è 1 nuovo messaggio in segreteria, per {details}.",
        "unknown_extension": "Non conosco un interno chiamato {extension} esposto ad Assist.",
        "extension_required": "Da quale interno devo chiamare?",
        "unknown_contact": "Non ho trovato {contact} in rubrica.",
        "no_pbx": "Nessun KalliopePBX disponibile.",
        "admin_only": "Solo un amministratore può modificare l'inoltro di chiamata.",
        "forwarding_needs_user": "L'inoltro di chiamata non si può modificare a voce da un dispositivo senza un utente autenticato. Un amministratore può consentirlo nelle opzioni di KalliopePBX.",
    },
}


def _base_language(language: str) -> str:
    return language.split("-")[0].lower()


def _speech(language: str, key: str, **values: object) -> str:
    texts = _SPEECH.get(_base_language(language), _SPEECH["en"])
    return texts[key].format(**values)


class _RefusalError(Exception):
    """An expected failure, with what Assist should say."""

    def __init__(self, speech: str) -> None:
        super().__init__(speech)
        self.speech = speech


async def _error_speech(
    hass: HomeAssistant, language: str, err: HomeAssistantError
) -> str:
    """Our translated message for an error, in the conversation's language."""
    if err.translation_domain == DOMAIN and err.translation_key:
        strings = await translation.async_get_translations(
            hass, _base_language(language), "exceptions", {DOMAIN}
        )
        template = strings.get(
            f"component.{DOMAIN}.exceptions.{err.translation_key}.message"
        )
        if template:
            try:
                return template.format(**(err.translation_placeholders or {}))
            except (KeyError, IndexError, ValueError):
                pass
    return str(err)


def _folded(text: str) -> str:
    """Case- and accent-insensitive form, for matching spoken names."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join(
        "".join(c for c in decomposed if not unicodedata.combining(c)).split()
    )


def _loaded_entries(hass: HomeAssistant) -> list[KalliopeConfigEntry]:
    return [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    ]


def _exposed_extensions(hass: HomeAssistant, entry: KalliopeConfigEntry) -> set[str]:
    """Extensions of the PBX with at least one entity exposed to Assist."""
    # Extension entities' unique ids are `<pbx id>_<extension>_<key>`, and
    # extensions hold no `_`.
    prefix = f"{entry.runtime_data.system.pbx_id}_"
    exposed: set[str] = set()
    for entity in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id):
        exten, _, key = entity.unique_id.removeprefix(prefix).partition("_")
        if (
            key
            and exten not in exposed
            and async_should_expose(hass, CONVERSATION_DOMAIN, entity.entity_id)
        ):
            exposed.add(exten)
    return exposed


def _find_extension(
    hass: HomeAssistant, spoken: str
) -> tuple[KalliopeConfigEntry, str, str] | None:
    """An exposed extension by number or by name: (entry, extension, display name)."""
    wanted = _folded(spoken)
    for entry in _loaded_entries(hass):
        matches = [
            (exten, config.name or exten)
            for exten, config in entry.runtime_data.extensions.items()
            if wanted in (exten, _folded(config.name or exten))
        ]
        if not matches:
            continue
        exposed = _exposed_extensions(hass, entry)
        for exten, name in matches:
            if exten in exposed:
                return entry, exten, name
    return None


class _KalliopeIntent(intent.IntentHandler, ABC):
    platforms = None

    async def async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Speak expected failures as an error response, not an exception.

        The conversation agent replaces a raised error's message with a
        generic one and logs a traceback; a response keeps our words.
        """
        try:
            return await self._async_handle(intent_obj)
        except _RefusalError as err:
            speech = err.speech
        except Unauthorized:
            speech = _speech(intent_obj.language, "admin_only")
        except intent.IntentError:
            raise
        except HomeAssistantError as err:
            speech = await _error_speech(intent_obj.hass, intent_obj.language, err)
        response = intent_obj.create_response()
        response.async_set_error(
            intent.IntentResponseErrorCode.FAILED_TO_HANDLE, speech
        )
        return response

    @abstractmethod
    async def _async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Carry out the intent; expected failures raise _RefusalError."""

    def _extension(
        self, intent_obj: intent.Intent, slots: dict[str, dict[str, str]]
    ) -> tuple[KalliopeConfigEntry, str, str]:
        language = intent_obj.language
        if "extension" not in slots:
            raise _RefusalError(_speech(language, "extension_required"))
        spoken = slots["extension"]["value"]
        found = _find_extension(intent_obj.hass, spoken)
        if found is None:
            raise _RefusalError(
                _speech(language, "unknown_extension", extension=spoken)
            )
        return found


class CallIntentHandler(_KalliopeIntent):
    """Ring an extension's phone, then dial a contact, colleague or number."""

    intent_type = INTENT_CALL
    description = "Calls a contact, a colleague or a number from an office phone"
    slot_schema = {  # noqa: RUF012 - the base class declares it
        vol.Required("contact"): cv.string,
        vol.Optional("extension"): cv.string,
    }

    async def _async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Resolve both ends, check the number, place the call."""
        slots = self.async_validate_slots(intent_obj.slots)
        entry, exten, exten_name = self._extension(intent_obj, slots)
        runtime = entry.runtime_data
        spoken = slots["contact"]["value"]
        contact_name, number = await self._number_for(intent_obj, entry, spoken)
        number = await async_number_to_dial(
            intent_obj.hass, runtime, number, Click2CallType.AUTO, intent_obj.context
        )
        try:
            await runtime.client.click2call(exten, number, Click2CallType.AUTO)
        except KalliopeError as err:
            raise translate_error(intent_obj.hass, entry, err) from err
        response = intent_obj.create_response()
        response.async_set_speech(
            _speech(
                intent_obj.language,
                "calling",
                contact=contact_name,
                extension=exten_name,
            )
        )
        return response

    async def _number_for(
        self, intent_obj: intent.Intent, entry: KalliopeConfigEntry, spoken: str
    ) -> tuple[str, str]:
        """A spoken number, a colleague's name, or a phonebook contact."""
        try:
            return spoken, normalize_number(spoken)
        except InvalidNumberError:
            pass
        colleague = _find_extension(intent_obj.hass, spoken)
        if colleague is not None and colleague[0] is entry:
            return colleague[2], colleague[1]
        words = _folded(spoken).split()
        # The PBX matches one field at a time: fetch by the longest word,
        # then keep contacts whose name has every spoken word.
        try:
            contacts = await entry.runtime_data.client.search_phonebook(
                PhonebookFilter(any=f"%{max(words, key=len)}%")
            )
        except KalliopeError as err:
            raise translate_error(intent_obj.hass, entry, err) from err
        wanted = " ".join(words)
        with_phone = [
            contact
            for contact in contacts
            if contact.phone
            and all(
                word in _folded(f"{contact.name or ''} {contact.organization or ''}")
                for word in words
            )
        ]
        # Prefer the contact whose whole name was said.
        with_phone.sort(key=lambda c: _folded(c.name or "") != wanted)
        if not with_phone:
            raise _RefusalError(
                _speech(intent_obj.language, "unknown_contact", contact=spoken)
            )
        best = with_phone[0]
        assert best.phone is not None  # noqa: S101 - filtered above
        return best.name or spoken, best.phone


class CallForwardingIntentHandler(_KalliopeIntent):
    """Turn an extension's call forwarding on (to its target) or off."""

    intent_type = INTENT_CALL_FORWARDING
    description = "Turns call forwarding of an office extension on or off"
    slot_schema = {  # noqa: RUF012 - the base class declares it
        vol.Required("extension"): cv.string,
        vol.Required("state"): vol.In(["on", "off"]),
    }

    async def _async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Administrators only, like the switch; no user only if the options allow."""
        slots = self.async_validate_slots(intent_obj.slots)
        entry, exten, exten_name = self._extension(intent_obj, slots)
        context = intent_obj.context
        if context is None or context.user_id is None:
            # A voice satellite: anyone in the room may be speaking.
            if not entry.options.get(CONF_VOICE_FORWARDING_WITHOUT_USER, False):
                raise _RefusalError(
                    _speech(intent_obj.language, "forwarding_needs_user")
                )
        else:
            await async_require_admin(intent_obj.hass, context)
        forwarding = entry.runtime_data.forwarding
        response = intent_obj.create_response()
        if slots["state"]["value"] == "on":
            await forwarding.async_forward_to_target(exten)
            response.async_set_speech(
                _speech(
                    intent_obj.language,
                    "forwarding_on",
                    extension=exten_name,
                    target=forwarding.target(exten),
                )
            )
        else:
            await forwarding.async_clear(exten)
            response.async_set_speech(
                _speech(intent_obj.language, "forwarding_off", extension=exten_name)
            )
        return response


class VoicemailIntentHandler(_KalliopeIntent):
    """How many new voicemail messages wait, and for whom."""

    intent_type = INTENT_VOICEMAIL
    description = "Tells how many new voicemail messages are waiting, and for whom"
    slot_schema = {vol.Optional("extension"): cv.string}  # noqa: RUF012

    async def _async_handle(self, intent_obj: intent.Intent) -> intent.IntentResponse:
        """Counts from the last voicemail poll of every PBX, or of one extension."""
        slots = self.async_validate_slots(intent_obj.slots)
        language = intent_obj.language
        entries = _loaded_entries(intent_obj.hass)
        if not entries:
            raise _RefusalError(_speech(language, "no_pbx"))
        if "extension" in slots:
            entry, exten, _ = self._extension(intent_obj, slots)
            wanted: list[tuple[KalliopeConfigEntry, str]] = [(entry, exten)]
        else:
            wanted = [
                (entry, exten)
                for entry in entries
                for exten in entry.runtime_data.extensions
            ]
        exposed = {
            entry.entry_id: _exposed_extensions(intent_obj.hass, entry)
            for entry in entries
        }
        waiting: list[tuple[str, int]] = []
        for entry, exten in wanted:
            runtime = entry.runtime_data
            count = runtime.voicemail_count(exten)
            if count is not None and count.new > 0 and exten in exposed[entry.entry_id]:
                config = runtime.extensions.get(exten)
                waiting.append(((config.name if config else None) or exten, count.new))
        total = sum(new for _, new in waiting)
        details = ", ".join(f"{name} ({new})" for name, new in waiting)
        response = intent_obj.create_response()
        if total == 0:
            response.async_set_speech(_speech(language, "no_voicemail"))
        elif total == 1:
            response.async_set_speech(
                _speech(language, "voicemail_one", details=waiting[0][0])
            )
        else:
            response.async_set_speech(
                _speech(language, "voicemail", total=total, details=details)
            )
        return response


@callback
def async_setup_intents(hass: HomeAssistant) -> None:
    """Register the intents (once, from `async_setup`)."""
    for handler in (
        CallIntentHandler(),
        CallForwardingIntentHandler(),
        VoicemailIntentHandler(),
    ):
        intent.async_register(hass, handler)
