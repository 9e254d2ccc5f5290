"""The call forwarding target of an extension as a text entity."""

from __future__ import annotations

from homeassistant.components.text import TextEntity, TextEntityDescription, TextMode
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import KalliopeEntity, Source, async_add_extension_entities
from .permissions import async_require_admin
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData

PARALLEL_UPDATES = 1

FORWARDING_TARGET = TextEntityDescription(
    key="forwarding_target",
    translation_key="forwarding_target",
    mode=TextMode.TEXT,
    native_min=0,
    native_max=40,
    # Empty, or what people type for a phone number; fully checked on set.
    pattern=r"^$|^\+?[0-9*#][0-9*# \-./()]*$",
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KalliopeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """One forwarding target per extension, now and when extensions appear."""
    runtime = entry.runtime_data
    async_add_extension_entities(
        entry,
        async_add_entities,
        Platform.TEXT,
        (FORWARDING_TARGET,),
        key_of=lambda description: description.key,
        exists=lambda description, runtime, exten: True,
        create=lambda description, exten: ForwardingTargetText(runtime, exten),
    )


class ForwardingTargetText(KalliopeEntity, TextEntity):
    """Where the forwarding switch sends calls: an extension or a number."""

    entity_description = FORWARDING_TARGET

    def __init__(self, runtime: KalliopeRuntimeData, exten: str) -> None:
        """Defaults to where the PBX forwards to now."""
        super().__init__(runtime, Source.SYSTEM, FORWARDING_TARGET.key, exten)
        self._exten = exten

    def _data_available(self) -> bool:
        # Without the PBX's configuration (licence refusal, bad answer) the
        # forwarding in place is unknown: an empty target would mislead.
        return self.runtime.config(self._exten) is not None

    @property
    def native_value(self) -> str | None:
        """The kept target, else the PBX's current forwarding destination."""
        return self.runtime.forwarding.target(self._exten) or ""

    def _fingerprint(self) -> object:
        return self.native_value

    async def async_set_value(self, value: str) -> None:
        """Keep a validated target; re-forward if forwarding is on."""
        await async_require_admin(self.hass, self._context)
        await self.runtime.forwarding.async_set_target(self._exten, value)
        self._written = (self.available, self._fingerprint())
        self.async_write_ha_state()
