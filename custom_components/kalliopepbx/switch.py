"""Call forwarding of an extension as a switch."""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import KalliopeEntity, Source, async_add_extension_entities
from .permissions import async_require_admin
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData

PARALLEL_UPDATES = 1

CALL_FORWARDING = SwitchEntityDescription(
    key="call_forwarding",
    translation_key="call_forwarding",
    # A configuration entity is exposed neither to Assist nor to HomeKit by
    # default: both act with no user, and forwarding is for administrators.
    entity_category=EntityCategory.CONFIG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KalliopeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One forwarding switch per extension, now and when extensions appear."""
    runtime = entry.runtime_data
    async_add_extension_entities(
        entry,
        async_add_entities,
        Platform.SWITCH,
        (CALL_FORWARDING,),
        key_of=lambda description: description.key,
        exists=lambda description, runtime, exten: True,
        create=lambda description, exten: CallForwardingSwitch(runtime, exten),
    )


class CallForwardingSwitch(KalliopeEntity, SwitchEntity):
    """On: calls go on to the forwarding target. Off: the failover from before."""

    entity_description = CALL_FORWARDING

    def __init__(self, runtime: KalliopeRuntimeData, exten: str) -> None:
        """Reflect the failover the PBX has, also when changed elsewhere."""
        super().__init__(runtime, Source.SYSTEM, CALL_FORWARDING.key, exten)
        self._exten = exten

    def _data_available(self) -> bool:
        return self.runtime.config(self._exten) is not None

    @property
    def is_on(self) -> bool | None:
        """Whether the PBX forwards this extension's calls to a number."""
        config = self.runtime.config(self._exten)
        if config is None:
            return None
        return config.failover is not None and config.failover.forwards_to_number

    def _fingerprint(self) -> object:
        return self.is_on

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Forward to the target number; administrators only."""
        await async_require_admin(self.hass, self._context)
        await self.runtime.forwarding.async_forward_to_target(self._exten)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Restore the failover from before; administrators only."""
        await async_require_admin(self.hass, self._context)
        await self.runtime.forwarding.async_clear(self._exten)
