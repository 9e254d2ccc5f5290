"""Call forwarding set from Home Assistant, and the failover to restore after.

Before the first change to an extension's failover, the failover the PBX had
is saved in Home Assistant's storage; clearing the forwarding puts exactly
that back, also after a restart. Each change is applied on the PBX at once,
but never together with changes someone else left pending.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.storage import Store

from .api import Failover, FailoverType, GatewayType, KalliopeError, UserConfig
from .const import CONF_ALLOWED_NUMBERS, DOMAIN
from .exceptions import translate_error
from .numbers import AllowedNumbers, InvalidNumberError, normalize_number

if TYPE_CHECKING:
    from .coordinator import KalliopeConfigEntry

STORAGE_VERSION = 1


class ForwardingStoreData(TypedDict):
    """What is kept across restarts, per extension."""

    previous: dict[str, dict[str, Any]]
    targets: dict[str, str]


def storage_key(entry_id: str) -> str:
    """The storage file of one PBX's forwarding data."""
    return f"{DOMAIN}.{entry_id}.forwarding"


def default_failover(exten: str, vm_enabled: bool) -> Failover:
    """What a new extension gets on the PBX: its voicemail, or hang up."""
    if vm_enabled:
        return Failover(type=FailoverType.FORWARD_TO_VOICEMAIL, destination=exten)
    return Failover(type=FailoverType.HANGUP)


class ForwardingManager:
    """Set, clear and remember call forwarding for one PBX."""

    def __init__(self, hass: HomeAssistant, entry: KalliopeConfigEntry) -> None:
        """Storage is loaded by `async_load` before the platforms start."""
        self.hass = hass
        self.entry = entry
        self._store: Store[ForwardingStoreData] = Store(
            hass, STORAGE_VERSION, storage_key(entry.entry_id)
        )
        self._data: ForwardingStoreData = {"previous": {}, "targets": {}}
        # One configuration change at a time per PBX: set, apply, refresh.
        self._lock = asyncio.Lock()

    async def async_load(self) -> None:
        """Read what earlier runs saved."""
        stored = await self._store.async_load()
        if stored is not None:
            self._data = {
                "previous": dict(stored.get("previous", {})),
                "targets": dict(stored.get("targets", {})),
            }

    @property
    def allowed_numbers(self) -> AllowedNumbers:
        """The toll-fraud guard from the options."""
        return AllowedNumbers.from_option(self.entry.options.get(CONF_ALLOWED_NUMBERS))

    def saved_failover(self, exten: str) -> Failover | None:
        """The failover that clearing the forwarding will restore."""
        saved = self._data["previous"].get(exten)
        return Failover.from_dict(saved) if saved is not None else None

    def target(self, exten: str) -> str | None:
        """The number the switch forwards to.

        The text entity's value, else where the PBX forwards to now.
        """
        if exten in self._data["targets"]:
            return self._data["targets"][exten]
        config = self.entry.runtime_data.config(exten)
        failover = config.failover if config else None
        if failover is not None and failover.forwards_to_number:
            return failover.destination
        return None

    async def async_set_target(self, exten: str, raw: str) -> None:
        """Keep a new target; if the extension forwards now, forward there."""
        number = self.validate_number(raw) if raw.strip() else ""
        self._data["targets"][exten] = number
        await self._store.async_save(self._data)
        config = self.entry.runtime_data.config(exten)
        if (
            number
            and config is not None
            and config.failover is not None
            and config.failover.forwards_to_number
            and config.failover.destination != number
        ):
            await self.async_forward_to_target(exten)

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

    def failover_to_number(
        self,
        exten: str,
        number: str,
        *,
        gateway_id: str | None = None,
        gateway_type: GatewayType | None = None,
    ) -> Failover:
        """Forward to another extension, or out through a gateway."""
        if number == exten:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="forward_to_itself",
                translation_placeholders={"extension": exten},
            )
        if self.entry.runtime_data.is_pbx_extension(number):
            return Failover(type=FailoverType.FORWARD_TO_EXTEN, destination=number)
        if gateway_id is None:
            gateway_type, gateway_id = self.known_gateway(exten)
        return Failover(
            type=FailoverType.FORWARD_TO_EXTERNAL_NUMBER,
            destination=number,
            gateway_type=gateway_type or GatewayType.GATEWAY,
            gateway_id=gateway_id,
        )

    def known_gateway(self, exten: str) -> tuple[GatewayType | None, str]:
        """The outbound line this extension, or most of the PBX, forwards through."""
        candidates = [self.saved_failover(exten)]
        config = self.entry.runtime_data.config(exten)
        candidates.insert(0, config.failover if config else None)
        for failover in candidates:
            if failover is not None and failover.gateway_id:
                return failover.gateway_type, failover.gateway_id
        in_use = Counter(
            (config.failover.gateway_type, config.failover.gateway_id)
            for config in self.entry.runtime_data.extensions.values()
            if config.failover is not None and config.failover.gateway_id
        )
        if in_use:
            (gateway_type, gateway_id), _ = in_use.most_common(1)[0]
            assert gateway_id is not None  # noqa: S101 - filtered above
            return gateway_type, gateway_id
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="gateway_required",
            translation_placeholders={"extension": exten},
        )

    async def async_forward_to_target(self, exten: str) -> None:
        """What the switch does when turned on."""
        target = self.target(exten)
        if not target:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="no_forwarding_target",
                translation_placeholders={"extension": exten},
            )
        number = self.validate_number(target)
        await self.async_set(exten, self.failover_to_number(exten, number))

    async def async_set(self, exten: str, failover: Failover) -> None:
        """Set an extension's failover and apply it, saving the old one first."""
        client = self.entry.runtime_data.client
        async with self._lock:
            try:
                await self._refuse_foreign_pending()
                config = await self._config(exten)
                newly_saved = False
                if exten not in self._data["previous"]:
                    previous = config.failover or default_failover(
                        exten, config.vm_enabled
                    )
                    self._data["previous"][exten] = previous.as_dict()
                    await self._store.async_save(self._data)
                    newly_saved = True
                try:
                    await client.set_failover(exten, failover)
                except KalliopeError:
                    if newly_saved:
                        # Nothing changed on the PBX: nothing to restore later.
                        del self._data["previous"][exten]
                        await self._store.async_save(self._data)
                    raise
                await self._apply()
            except KalliopeError as err:
                raise translate_error(self.hass, self.entry, err) from err
            finally:
                await self._refresh()

    async def async_clear(self, exten: str) -> None:
        """Put back the failover saved before the first change."""
        client = self.entry.runtime_data.client
        async with self._lock:
            try:
                saved = self.saved_failover(exten)
                if saved is None:
                    config = await self._config(exten)
                    if (
                        config.failover is None
                        or not config.failover.forwards_to_number
                    ):
                        return
                    saved = default_failover(exten, config.vm_enabled)
                await self._refuse_foreign_pending()
                await client.set_failover(exten, saved)
                self._data["previous"].pop(exten, None)
                await self._store.async_save(self._data)
                await self._apply()
            except KalliopeError as err:
                raise translate_error(self.hass, self.entry, err) from err
            finally:
                await self._refresh()

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

    async def _refuse_foreign_pending(self) -> None:
        """Applying would also apply someone else's unfinished changes."""
        if await self.entry.runtime_data.client.pending():
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="changes_already_pending"
            )

    async def _apply(self) -> None:
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
                translation_domain=DOMAIN,
                translation_key="apply_failed",
                translation_placeholders={"error": "the PBX refused to apply"},
            )

    async def _refresh(self) -> None:
        runtime = self.entry.runtime_data
        await runtime.registrations.async_refresh()
        await runtime.system.async_refresh()

    async def async_remove(self) -> None:
        """The entry is deleted: its saved data goes too."""
        await self._store.async_remove()
