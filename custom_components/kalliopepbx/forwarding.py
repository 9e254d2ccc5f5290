"""Call forwarding set from Home Assistant, and the failover to restore after.

Before the first change to an extension's failover, the failover the PBX had
is saved in Home Assistant's storage; clearing the forwarding puts exactly
that back, also after a restart. Each change is applied on the PBX at once,
but never together with changes someone else left pending, and is read back
afterwards (`config_changes.py`, which every configuration change shares).

The pure failover logic is in `failover.py`, storage in
`forwarding_store.py`, the repair issue of an unapplied change in
`unapplied.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .api import Failover, FailoverType, KalliopeApiError, KalliopeError, UserConfig
from .change_notes import async_load_note_texts, async_render_note
from .config_changes import ConfigChanges
from .const import CONF_ALLOWED_NUMBERS, DOMAIN
from .errors import translate_error
from .failover import (
    OutboundLine,
    default_failover,
    forwarding_part,
    forwarding_words,
    known_gateway,
    whole_failover,
)
from .forwarding_store import (
    ForwardingStorage,
    forwarding_change_key,
    forwarding_note,
)
from .phone_numbers import AllowedNumbers, InvalidNumberError, normalize_number
from .unapplied import UnappliedChanges

if TYPE_CHECKING:
    from .runtime import KalliopeConfigEntry


class ForwardingManager:
    """Set, clear and remember call forwarding for one PBX."""

    def __init__(self, hass: HomeAssistant, entry: KalliopeConfigEntry) -> None:
        """Storage is loaded by `async_load` before the platforms start."""
        self.hass = hass
        self.entry = entry
        self._storage = ForwardingStorage(hass, entry.entry_id)
        self._unapplied = UnappliedChanges(hass, entry, self._storage)
        # Every configuration change of this PBX, forwarding among them.
        self.changes = ConfigChanges(hass, entry, self._unapplied)

    @property
    def lock(self) -> asyncio.Lock:
        """One configuration change at a time per PBX."""
        return self.changes.lock

    async def async_load(self) -> None:
        """Read what earlier runs saved; load the texts of the repair issue."""
        await self._storage.async_load()
        await self._unapplied.async_load()

    @property
    def issue_id(self) -> str:
        """The repair issue naming an unapplied change of ours."""
        return self._unapplied.issue_id

    @callback
    def async_start(self) -> None:
        """Watch the PBX's pending flag: our unapplied change shows as an issue."""
        self._unapplied.async_start()

    @property
    def allowed_numbers(self) -> AllowedNumbers:
        """The toll-fraud guard from the options."""
        return AllowedNumbers.from_option(self.entry.options.get(CONF_ALLOWED_NUMBERS))

    def saved_failover(self, exten: str) -> Failover | None:
        """The failover that clearing the forwarding will restore."""
        saved = self._storage.previous.get(exten)
        return Failover.from_dict(saved) if saved is not None else None

    def target(self, exten: str) -> str | None:
        """The number the switch forwards to.

        The text entity's value, else where the PBX forwards to now.
        """
        targets = self._storage.targets
        if exten in targets:
            return targets[exten]
        config = self.entry.runtime_data.config(exten)
        failover = config.failover if config else None
        if failover is not None and failover.forwards_to_number:
            return failover.destination
        return None

    async def async_set_target(self, exten: str, raw: str) -> None:
        """Keep a new target; if the extension forwards now, forward there.

        Under the lock, so that a switch turned on at the same moment
        forwards to the new target, never to the one before.
        """
        number = self.validate_number(raw) if raw.strip() else ""
        async with self.lock:
            targets = self._storage.targets
            before = targets.get(exten)
            targets[exten] = number
            await self._storage.async_save()
            if not number:
                return
            try:
                try:
                    config = await self._config(exten)
                except KalliopeError as err:
                    raise translate_error(self.hass, self.entry, err) from err
                failover = config.failover
                if (
                    failover is not None
                    and failover.forwards_to_number
                    and failover.destination != number
                ):
                    await self._async_set_locked(
                        exten, self.failover_to_number(exten, number)
                    )
            except HomeAssistantError:
                known = self.entry.runtime_data.config(exten)
                shown = known.failover if known else None
                if shown is None or shown.destination != number:
                    # The PBX does not forward there: the old target stays.
                    if before is None:
                        targets.pop(exten, None)
                    else:
                        targets[exten] = before
                    await self._storage.async_save()
                raise

    def validate_number(self, raw: str, *, external: bool = True) -> str:
        """A normalized number, refused when invalid or not allowed."""
        try:
            number = normalize_number(raw)
        except InvalidNumberError:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_number",
                translation_placeholders={"number": raw},
            ) from None
        if (
            external
            and not self.entry.runtime_data.is_pbx_extension(number)
            and not self.allowed_numbers.allows(number)
        ):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="number_not_allowed",
                translation_placeholders={"number": number},
            )
        return number

    def failover_to_number(self, exten: str, number: str) -> Failover:
        """Forward to another extension, or to an outside number.

        The outbound line of an outside number is chosen when the change is
        made, from the extension's failover as the PBX has it then.
        """
        if number == exten:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="forward_to_itself",
                translation_placeholders={"extension": exten},
            )
        if self.entry.runtime_data.is_pbx_extension(number):
            return Failover(type=FailoverType.FORWARD_TO_EXTEN, destination=number)
        return Failover(
            type=FailoverType.FORWARD_TO_EXTERNAL_NUMBER, destination=number
        )

    def known_gateway(
        self, exten: str, current: Failover | None = None
    ) -> OutboundLine:
        """The outbound line this extension, or most of the PBX, forwards through."""
        runtime = self.entry.runtime_data
        config = runtime.config(exten)
        return known_gateway(
            exten,
            (current, config.failover if config else None, self.saved_failover(exten)),
            (other.failover for other in runtime.extensions.values()),
        )

    async def async_forward_to_target(self, exten: str) -> None:
        """What the switch does when turned on."""
        async with self.lock:
            # The target is read under the lock: a new one typed at the same
            # moment is either already in, or re-forwards after us.
            target = self.target(exten)
            if not target:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="no_forwarding_target",
                    translation_placeholders={"extension": exten},
                )
            number = self.validate_number(target)
            await self._async_set_locked(exten, self.failover_to_number(exten, number))

    async def async_set(self, exten: str, failover: Failover) -> None:
        """Set an extension's failover and apply it, saving the old one first."""
        async with self.lock:
            await self._async_set_locked(exten, failover)

    async def _async_set_locked(self, exten: str, failover: Failover) -> None:
        try:
            await self.changes.refuse_foreign_pending()
            config = await self._config(exten)
            failover = self._whole_failover(exten, failover, config)
            newly_saved = False
            if exten not in self._storage.previous:
                previous = config.failover or default_failover(exten, config.vm_enabled)
                self._storage.previous[exten] = previous.as_dict()
                await self._storage.async_save()
                newly_saved = True
            try:
                await self._write_and_apply(exten, failover)
            except KalliopeApiError:
                if newly_saved:
                    # The PBX refused: nothing to restore later.
                    del self._storage.previous[exten]
                    await self._storage.async_save()
                raise
        except KalliopeError as err:
            raise translate_error(self.hass, self.entry, err) from err
        finally:
            await self.async_refresh()

    async def async_clear(self, exten: str) -> None:
        """Put back the failover saved before the first change."""
        async with self.lock:
            try:
                config = await self._config(exten)
                saved = self.saved_failover(exten)
                if saved is None:
                    if (
                        config.failover is None
                        or not config.failover.forwards_to_number
                    ):
                        return
                    saved = default_failover(exten, config.vm_enabled)
                await self.changes.refuse_foreign_pending()
                await self._write_and_apply(
                    exten, self._whole_failover(exten, saved, config)
                )
                self._storage.previous.pop(exten, None)
                await self._storage.async_save()
            except KalliopeError as err:
                raise translate_error(self.hass, self.entry, err) from err
            finally:
                await self.async_refresh()

    def _whole_failover(
        self, exten: str, failover: Failover, config: UserConfig
    ) -> Failover:
        """`failover`'s forwarding with the rest of the failover the PBX has."""
        current = config.failover
        return whole_failover(
            failover,
            current,
            gateway=lambda: self.known_gateway(exten, current),
            config_of=self.entry.runtime_data.config,
        )

    async def _write_and_apply(self, exten: str, failover: Failover) -> None:
        """Write, apply, read back; until applied the change is remembered."""
        client = self.entry.runtime_data.client
        await self.changes.write_and_apply(
            forwarding_change_key(exten),
            forwarding_note(exten, failover),
            lambda: client.set_failover(exten, failover),
        )
        await self._check_applied(exten, failover)

    async def _check_applied(self, exten: str, expected: Failover) -> None:
        """The PBX must now show the change, or the caller hears it does not."""
        config = await self.entry.runtime_data.client.user_config(exten)
        actual = config.failover if config is not None else None
        if forwarding_part(actual) != forwarding_part(expected):
            # Placeholders are plain text: worded now, in Home Assistant's language.
            await async_load_note_texts(self.hass)
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="forwarding_not_applied",
                translation_placeholders={
                    "extension": exten,
                    "expected": async_render_note(
                        self.hass, forwarding_words(expected)
                    ),
                    "actual": async_render_note(self.hass, forwarding_words(actual)),
                },
            )

    async def _config(self, exten: str) -> UserConfig:
        """The extension's configuration as the PBX has it right now."""
        config = await self.entry.runtime_data.client.user_config(exten)
        if config is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_extension",
                translation_placeholders={"extension": exten},
            )
        return config

    async def async_pending_command(
        self, command: str, request: Callable[[], Awaitable[bool]]
    ) -> None:
        """Apply or revert pending changes, never in the middle of a forwarding change."""
        async with self.lock:
            try:
                done = await request()
            except KalliopeError as err:
                raise translate_error(self.hass, self.entry, err) from err
            finally:
                await self.async_refresh()
        # `false` may only mean there was nothing to apply or revert.
        data = self.entry.runtime_data.registrations.latest
        if not done and (data is None or data.pending is not False):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="command_failed",
                translation_placeholders={"command": command},
            )

    async def async_refresh(self) -> None:
        """Fetch what a configuration change touched; hold the lock."""
        await self.changes.async_refresh()

    async def async_remove(self) -> None:
        """The entry is deleted: its saved data goes too."""
        await self._storage.async_remove()
        self._unapplied.delete_issue()
