"""What a configuration change was, as a translation key and its placeholders.

A change remembered until applied is shown in a repair issue long after it
was made, so it is kept as a key (a text under `exceptions` in strings.json)
and rendered in Home Assistant's language when the issue is raised.
A forwarding in a note is kept as its type, destination and line, worded
only when shown. Texts saved by earlier versions are plain strings and are
shown as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.translation import (
    async_get_cached_translations,
    async_get_translations,
)

from .const import DOMAIN

_CATEGORY = "exceptions"
# Forwarding types are worded as the forwarding sensor's states.
_TYPE_CATEGORY = "entity"
_TYPE_TEXTS = f"component.{DOMAIN}.{_TYPE_CATEGORY}.sensor.forwarding.state."
_FALLBACK_LANGUAGE = "en"

# A note as saved: {"translation_key": ..., "placeholders": {...}}, or the
# finished text an earlier version saved. A placeholder is saved as text, as
# a note of its own, or as {"forwarding_type": ...}.
type StoredNote = dict[str, Any] | str

# What a placeholder holds: text as it is, or words rendered in the language.
type NoteValue = str | ChangeNote | ForwardingType


@dataclass(frozen=True, slots=True)
class ForwardingType:
    """A forwarding type token (lower case), worded as the forwarding sensor's state."""

    token: str

    def as_stored(self) -> dict[str, str]:
        """What the storage file keeps (JSON)."""
        return {"forwarding_type": self.token}


@dataclass(frozen=True, slots=True)
class ChangeNote:
    """One change in words: a translation key under `exceptions` and its values."""

    key: str
    placeholders: Mapping[str, NoteValue] = field(default_factory=dict)

    def as_stored(self) -> dict[str, Any]:
        """What the storage file keeps (JSON)."""
        return {
            "translation_key": self.key,
            "placeholders": {
                name: value if isinstance(value, str) else value.as_stored()
                for name, value in self.placeholders.items()
            },
        }


def is_stored_note(value: object) -> bool:
    """A note saved by this version (not an older form)."""
    return isinstance(value, dict) and isinstance(value.get("translation_key"), str)


def note_from_stored(value: StoredNote) -> ChangeNote | str:
    """Inverse of `ChangeNote.as_stored`; an earlier version's text stays text."""
    if isinstance(value, str):
        return value
    placeholders = value.get("placeholders")
    if not isinstance(placeholders, dict):
        placeholders = {}
    return ChangeNote(
        str(value.get("translation_key")),
        {str(name): _value_from_stored(text) for name, text in placeholders.items()},
    )


def _value_from_stored(value: object) -> NoteValue:
    if isinstance(value, dict):
        if isinstance(value.get("translation_key"), str):
            return note_from_stored(value)
        if isinstance(kind := value.get("forwarding_type"), str):
            return ForwardingType(kind)
    return str(value)


async def async_load_note_texts(hass: HomeAssistant) -> None:
    """Load the texts for `async_render_note`, which cannot wait for files."""
    for category in (_CATEGORY, _TYPE_CATEGORY):
        await async_get_translations(hass, hass.config.language, category, {DOMAIN})


@callback
def async_render_note(hass: HomeAssistant, note: NoteValue) -> str:
    """The note in Home Assistant's language, else English, else its key."""
    for language in dict.fromkeys((hass.config.language, _FALLBACK_LANGUAGE)):
        if (text := _render(hass, language, note)) is not None:
            return text
    if isinstance(note, ChangeNote):
        return note.key
    return note if isinstance(note, str) else note.token


def _render(hass: HomeAssistant, language: str, value: NoteValue) -> str | None:
    """`value` in `language`; None if that language has no text for it."""
    if isinstance(value, str):
        return value
    if isinstance(value, ForwardingType):
        texts = async_get_cached_translations(hass, language, _TYPE_CATEGORY, DOMAIN)
        if not texts:
            return None
        # A type newer than these texts (new firmware) is shown as the PBX names it.
        return texts.get(_TYPE_TEXTS + value.token, value.token)
    name = f"component.{DOMAIN}.{_CATEGORY}.{value.key}.message"
    texts = async_get_cached_translations(hass, language, _CATEGORY, DOMAIN)
    if (text := texts.get(name)) is None:
        return None
    placeholders: dict[str, str] = {}
    for placeholder, inner in value.placeholders.items():
        if (rendered := _render(hass, language, inner)) is None:
            return None
        placeholders[placeholder] = rendered
    try:
        return text.format_map(placeholders)
    except (KeyError, IndexError, ValueError):
        # A text whose placeholders do not match the note's (a newer
        # translation file with an older stored note): try the next.
        return None


@callback
def texts_loaded(hass: HomeAssistant) -> bool:
    """The texts of Home Assistant's current language are in the cache."""
    return all(
        async_get_cached_translations(hass, hass.config.language, category, DOMAIN)
        for category in (_CATEGORY, _TYPE_CATEGORY)
    )
