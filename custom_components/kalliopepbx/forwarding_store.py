"""What forwarding keeps across restarts, per PBX: one storage file."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .api import Failover
from .change_notes import ChangeNote, StoredNote, is_stored_note
from .const import DOMAIN
from .failover import forwarding_words

STORAGE_VERSION = 1


class ForwardingStoreData(TypedDict):
    """What is kept across restarts, per extension."""

    previous: dict[str, dict[str, Any]]
    targets: dict[str, str]
    # Changes written to the PBX, not yet known to be applied: what each was.
    unapplied: NotRequired[dict[str, StoredNote]]


def storage_key(entry_id: str) -> str:
    """The storage file of one PBX's forwarding data."""
    return f"{DOMAIN}.{entry_id}.forwarding"


class ForwardingStorage:
    """The failovers to restore, the forwarding targets, the unapplied changes."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Empty until `async_load`."""
        self._store: Store[ForwardingStoreData] = Store(
            hass, STORAGE_VERSION, storage_key(entry_id)
        )
        self._data: ForwardingStoreData = {
            "previous": {},
            "targets": {},
            "unapplied": {},
        }

    async def async_load(self) -> None:
        """Read what earlier runs saved."""
        stored = await self._store.async_load()
        if stored is not None:
            self._data = {
                "previous": dict(stored.get("previous", {})),
                "targets": dict(stored.get("targets", {})),
                "unapplied": _unapplied_notes(stored.get("unapplied", {})),
            }

    @property
    def previous(self) -> dict[str, dict[str, Any]]:
        """Extension -> the failover it had before our first change."""
        return self._data["previous"]

    @property
    def targets(self) -> dict[str, str]:
        """Extension -> the number its forwarding switch forwards to."""
        return self._data["targets"]

    @property
    def unapplied(self) -> dict[str, StoredNote]:
        """A change's key -> what was written to the PBX, not known to be applied."""
        return self._data.setdefault("unapplied", {})

    async def async_save(self) -> None:
        """Write now: the next step depends on it being on disk."""
        await self._store.async_save(self._data)

    @callback
    def save_soon(self) -> None:
        """Write on the next loop iteration."""
        self._store.async_delay_save(lambda: self._data, 0)

    async def async_remove(self) -> None:
        """Delete the file (the entry is deleted)."""
        await self._store.async_remove()


def forwarding_change_key(exten: str) -> str:
    """Which unapplied change an extension's forwarding change replaces."""
    return f"forwarding:{exten}"


def forwarding_note(exten: str, failover: Failover | None) -> ChangeNote:
    """An extension's forwarding change, for the repair issue if not applied."""
    return ChangeNote(
        "change_forwarding",
        {"extension": exten, "forwarding": forwarding_words(failover)},
    )


def _unapplied_notes(stored: dict[str, Any]) -> dict[str, StoredNote]:
    """Unapplied changes; earlier versions kept a text, or a failover per extension."""
    unapplied: dict[str, StoredNote] = {}
    for key, value in stored.items():
        if isinstance(value, str) or is_stored_note(value):
            unapplied[key] = value
        elif isinstance(value, dict):
            note = forwarding_note(key, Failover.from_dict(value))
            unapplied[forwarding_change_key(key)] = note.as_stored()
    return unapplied
