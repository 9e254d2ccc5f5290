"""What a configuration change was, as a translation key and its placeholders.

A change remembered until applied is shown in a repair issue long after it
was made, so it is kept as a key (a text under `exceptions` in strings.json)
and rendered in Home Assistant's language when the issue is raised.
Texts saved by earlier versions are plain strings and are shown as they are.
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
_FALLBACK_LANGUAGE = "en"

# A note as saved: {"translation_key": ..., "placeholders": {...}}, or the
# finished text an earlier version saved.
type StoredNote = dict[str, Any] | str


@dataclass(frozen=True, slots=True)
class ChangeNote:
    """One change in words: a translation key under `exceptions` and its values."""

    key: str
    placeholders: Mapping[str, str] = field(default_factory=dict)

    def as_stored(self) -> dict[str, Any]:
        """What the storage file keeps (JSON)."""
        return {"translation_key": self.key, "placeholders": dict(self.placeholders)}


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
        {str(name): str(text) for name, text in placeholders.items()},
    )


async def async_load_note_texts(hass: HomeAssistant) -> None:
    """Load the texts for `async_render_note`, which cannot wait for files."""
    await async_get_translations(hass, hass.config.language, _CATEGORY, {DOMAIN})


@callback
def async_render_note(hass: HomeAssistant, note: ChangeNote | str) -> str:
    """The note in Home Assistant's language, else English, else its key."""
    if isinstance(note, str):
        return note
    name = f"component.{DOMAIN}.{_CATEGORY}.{note.key}.message"
    for language in dict.fromkeys((hass.config.language, _FALLBACK_LANGUAGE)):
        texts = async_get_cached_translations(hass, language, _CATEGORY, DOMAIN)
        if (text := texts.get(name)) is None:
            continue
        try:
            return text.format_map(note.placeholders)
        except (KeyError, IndexError, ValueError):
            # A text whose placeholders do not match the note's (a newer
            # translation file with an older stored note): try the next.
            continue
    return note.key


@callback
def texts_loaded(hass: HomeAssistant) -> bool:
    """The texts of Home Assistant's current language are in the cache."""
    return bool(
        async_get_cached_translations(hass, hass.config.language, _CATEGORY, DOMAIN)
    )
