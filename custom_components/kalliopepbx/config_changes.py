"""Configuration changes made from Home Assistant, one path for all of them.

Forwarding, call group members, voicemail on/off, phonebook contacts and the
power commands all go through here: one change at a time per PBX (the lock),
never written on top of changes someone else left pending, applied at once
(`PUT /pbx/apply`), and what they touched refreshed afterwards. A change
written but not applied is remembered and shown as a repair issue until it
is applied or reverted (`unapplied.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .api import KalliopeApiError, KalliopeError
from .const import DOMAIN
from .errors import translate_error

if TYPE_CHECKING:
    from .change_notes import ChangeNote
    from .runtime import KalliopeConfigEntry
    from .unapplied import UnappliedChanges


class ConfigChanges:
    """The per-PBX configuration lock and the write, apply, refresh sequence."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: KalliopeConfigEntry,
        unapplied: UnappliedChanges,
    ) -> None:
        """Nothing is sent before the first change."""
        self.hass = hass
        self.entry = entry
        self.unapplied = unapplied
        # One configuration change at a time per PBX, with the refresh after it.
        self.lock = asyncio.Lock()

    @property
    def busy(self) -> bool:
        """A change is under way: what the last poll showed may be changing."""
        return self.lock.locked()

    async def async_change[T](
        self,
        key: str,
        note: ChangeNote,
        write: Callable[[], Awaitable[T]],
        *,
        check: Callable[[T], Awaitable[None]] | None = None,
    ) -> T:
        """Write a change, apply it and refresh; errors come back translated.

        `key` names the change among those remembered until applied (a later
        change of the same key replaces it); `note` is what the repair issue
        shows, in the user's language, if it is not applied. `check` runs after the apply and
        before the refresh, to tell the caller the PBX does not show it.
        """
        async with self.lock:
            try:
                await self.refuse_foreign_pending()
                result = await self.write_and_apply(key, note, write)
                if check is not None:
                    await check(result)
            except KalliopeError as err:
                raise translate_error(self.hass, self.entry, err) from err
            finally:
                await self.async_refresh()
        return result

    async def async_run_locked[T](self, request: Callable[[], Awaitable[T]]) -> T:
        """A request that must not land in the middle of a change (a reboot)."""
        async with self.lock:
            try:
                return await request()
            except KalliopeError as err:
                raise translate_error(self.hass, self.entry, err) from err

    async def write_and_apply[T](
        self, key: str, note: ChangeNote, write: Callable[[], Awaitable[T]]
    ) -> T:
        """Write, then apply; hold the lock. Until applied the change is remembered."""
        unapplied = self.unapplied
        # Before the save's await: a poll ending during it must not take our
        # own change for one left behind.
        unapplied.changing = True
        try:
            await unapplied.async_remember(key, note)
            try:
                result = await write()
            except (KalliopeApiError, HomeAssistantError):
                # Refused by the PBX, or by `write` before it sent anything.
                await unapplied.async_forget(key)
                raise
            await self.apply()
            await unapplied.async_forget(key)
        finally:
            unapplied.changing = False
        return result

    async def refuse_foreign_pending(self) -> None:
        """Applying would also apply someone else's unfinished changes."""
        if await self.entry.runtime_data.client.pending():
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="changes_already_pending"
            )

    async def apply(self) -> None:
        """Apply; if that fails, the change stays pending and the caller is told."""
        client = self.entry.runtime_data.client
        try:
            applied = await client.apply()
            still_pending = not applied and await client.pending()
        except KalliopeError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="apply_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        if still_pending:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="apply_refused"
            )

    async def async_refresh(self) -> None:
        """Fetch what a configuration change touched; hold the lock."""
        runtime = self.entry.runtime_data
        await runtime.registrations.async_refresh()
        await runtime.system.async_refresh()
        self.unapplied.pending_changed()
