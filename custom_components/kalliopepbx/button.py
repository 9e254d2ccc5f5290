"""Buttons of a KalliopePBX: reload or restart the engine, apply or revert changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import (
    ButtonDeviceClass,
    ButtonEntity,
    ButtonEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .data import RegistrationsData
from .entity import KalliopeEntity, KalliopeEntityDescription
from .errors import async_call_pbx
from .permissions import async_require_admin
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData
from .sources import REGISTRATIONS, DataSource

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PbxButtonDescription(
    KalliopeEntityDescription[RegistrationsData], ButtonEntityDescription
):
    """A PBX command; `press_fn` answers whether the PBX did it.

    Available while the PBX answers the registrations poll.
    """

    source: DataSource[RegistrationsData] = REGISTRATIONS
    press_fn: Callable[[KalliopeRuntimeData], Awaitable[bool]]
    changes_configuration: bool = False


PBX_BUTTONS: tuple[PbxButtonDescription, ...] = (
    PbxButtonDescription(
        key="reload_pbx_engine",
        translation_key="reload_pbx_engine",
        press_fn=lambda runtime: runtime.client.reload_pbx_engine(),
    ),
    PbxButtonDescription(
        key="apply_changes",
        translation_key="apply_changes",
        press_fn=lambda runtime: runtime.client.apply(),
        changes_configuration=True,
    ),
    PbxButtonDescription(
        key="revert_changes",
        translation_key="revert_changes",
        press_fn=lambda runtime: runtime.client.revert(),
        changes_configuration=True,
    ),
    PbxButtonDescription(
        key="restart_pbx_engine",
        translation_key="restart_pbx_engine",
        device_class=ButtonDeviceClass.RESTART,
        # Drops every call in progress: opt-in.
        entity_registry_enabled_default=False,
        press_fn=lambda runtime: runtime.client.restart_pbx_engine(),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KalliopeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the PBX's buttons."""
    async_add_entities(
        PbxButton(entry.runtime_data, description) for description in PBX_BUTTONS
    )


class PbxButton(KalliopeEntity[RegistrationsData], ButtonEntity):
    """A command sent to the PBX; only administrators may press it."""

    entity_description: PbxButtonDescription

    async def async_press(self) -> None:
        """Send the command; refresh what it changed."""
        await async_require_admin(self.hass, self._context)
        description = self.entity_description
        if description.changes_configuration:
            await self.runtime.forwarding.async_pending_command(
                description.key, lambda: description.press_fn(self.runtime)
            )
            return
        entry = self.runtime.system.config_entry
        if not await async_call_pbx(
            self.hass, entry, description.press_fn(self.runtime)
        ):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="command_failed",
                translation_placeholders={"command": description.key},
            )
