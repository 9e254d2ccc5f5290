"""Configuration changes written to the PBX but not applied, as a repair issue.

Each change (forwarding, call group members, voicemail, contacts) is
remembered before it is written and forgotten once applied.
One left over (a failed apply, a restart in between) is shown as a fixable
issue while the PBX has pending changes, and goes when they are applied or
reverted, here or on the PBX.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.const import EVENT_CORE_CONFIG_UPDATE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .change_notes import (
    ChangeNote,
    async_load_note_texts,
    async_render_note,
    note_from_stored,
    texts_loaded,
)
from .const import DOMAIN
from .forwarding_store import ForwardingStorage
from .health import async_show_issue

if TYPE_CHECKING:
    from .runtime import KalliopeConfigEntry


@callback
def _changes_language(data: dict[str, Any]) -> bool:
    return "language" in data


def unapplied_issue_id(entry_id: str) -> str:
    """The repair issue of one PBX's unapplied change (forwarding the first)."""
    return f"unapplied_forwarding_{entry_id}"


class UnappliedChanges:
    """Watches the PBX's pending flag for our own unapplied changes."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: KalliopeConfigEntry,
        storage: ForwardingStorage,
    ) -> None:
        """Nothing is watched before `async_start`."""
        self._hass = hass
        self._entry = entry
        self._storage = storage
        # Between our write and our apply the PBX is pending by our own doing.
        self.changing = False
        self._loading_texts = False

    @property
    def issue_id(self) -> str:
        """The repair issue naming an unapplied change of ours."""
        return unapplied_issue_id(self._entry.entry_id)

    async def async_load(self) -> None:
        """Load the texts the issue is written in: its callback cannot wait."""
        await async_load_note_texts(self._hass)

    @callback
    def async_start(self) -> None:
        """Watch the pending flag; an earlier run's change shows up now."""
        runtime = self._entry.runtime_data
        self._entry.async_on_unload(
            runtime.registrations.async_add_listener(self.pending_changed)
        )
        self._entry.async_on_unload(
            self._hass.bus.async_listen(
                EVENT_CORE_CONFIG_UPDATE,
                self._language_changed,
                event_filter=_changes_language,
            )
        )
        self._entry.async_on_unload(self.delete_issue)
        self.pending_changed()

    @callback
    def _language_changed(self, _: Event[dict[str, Any]]) -> None:
        """Write the issue again in the new language."""
        self.pending_changed()

    async def async_remember(self, key: str, note: ChangeNote) -> None:
        """About to write a change: saved before the PBX sees it."""
        self._storage.unapplied[key] = note.as_stored()
        await self._storage.async_save()

    async def async_forget(self, key: str) -> None:
        """Applied, or refused before anything was written."""
        # Gone already if the PBX was seen with nothing pending since.
        self._storage.unapplied.pop(key, None)
        await self._storage.async_save()

    @callback
    def delete_issue(self) -> None:
        """Withdraw the repair issue."""
        ir.async_delete_issue(self._hass, DOMAIN, self.issue_id)

    @callback
    def pending_changed(self) -> None:
        """Raise, update or withdraw the issue from the PBX's pending flag."""
        unapplied = self._storage.unapplied
        if self.changing or not unapplied:
            return
        data = self._entry.runtime_data.registrations.latest
        if data is None or data.pending is None:
            return
        if not data.pending:
            # Applied or reverted (here or on the PBX), or lost in a PBX reboot.
            unapplied.clear()
            self._storage.save_soon()
            self.delete_issue()
            return
        if not texts_loaded(self._hass):
            # The language changed since setup, or the texts were dropped.
            self._reload_texts()
        changes = "; ".join(
            async_render_note(self._hass, note_from_stored(stored))
            for _, stored in sorted(unapplied.items())
        )
        async_show_issue(
            self._hass,
            self.issue_id,
            "unapplied_forwarding",
            {
                "title": self._entry.title,
                "changes": changes,
            },
            severity=ir.IssueSeverity.WARNING,
            fix_data={"entry_id": self._entry.entry_id},
        )

    @callback
    def _reload_texts(self) -> None:
        """Load the current language's texts, then write the issue again."""
        if self._loading_texts:
            return
        self._loading_texts = True

        async def reload() -> None:
            try:
                await async_load_note_texts(self._hass)
            finally:
                self._loading_texts = False
            if texts_loaded(self._hass):
                self.pending_changed()

        self._entry.async_create_background_task(
            self._hass, reload(), "kalliopepbx change texts"
        )
