"""Buttons of a KalliopePBX: engine, pending changes, restart and shutdown."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.button import (
    ButtonDeviceClass,
    ButtonEntity,
    ButtonEntityDescription,
)
from homeassistant.const import EntityCategory, Platform

from .commands import (
    APPLY_CHANGES,
    RELOAD_PBX_ENGINE,
    RESTART_PBX,
    RESTART_PBX_ENGINE,
    REVERT_CHANGES,
    SHUTDOWN_PBX,
    PbxCommand,
    async_run_command,
)
from .data import RegistrationsData
from .entity import KalliopeEntity, KalliopeEntityDescription, platform_setup
from .sources import REGISTRATIONS, DataSource

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class PbxButtonDescription(
    KalliopeEntityDescription[RegistrationsData], ButtonEntityDescription
):
    """A button that sends `command`, like the action of the same name.

    Available while the PBX answers the registrations poll.
    """

    source: DataSource[RegistrationsData] = REGISTRATIONS
    command: PbxCommand


PBX_BUTTONS: tuple[PbxButtonDescription, ...] = (
    PbxButtonDescription(
        key="reload_pbx_engine",
        translation_key="reload_pbx_engine",
        command=RELOAD_PBX_ENGINE,
    ),
    PbxButtonDescription(
        key="apply_changes", translation_key="apply_changes", command=APPLY_CHANGES
    ),
    PbxButtonDescription(
        key="revert_changes", translation_key="revert_changes", command=REVERT_CHANGES
    ),
    PbxButtonDescription(
        key="restart_pbx_engine",
        translation_key="restart_pbx_engine",
        device_class=ButtonDeviceClass.RESTART,
        # Drops every call in progress: opt-in.
        entity_registry_enabled_default=False,
        command=RESTART_PBX_ENGINE,
    ),
    # The whole PBX: every call dropped, unreachable for a while (or until
    # powered on again). Opt-in.
    PbxButtonDescription(
        key="restart_pbx",
        translation_key="restart_pbx",
        device_class=ButtonDeviceClass.RESTART,
        entity_category=EntityCategory.CONFIG,
        entity_registry_enabled_default=False,
        command=RESTART_PBX,
    ),
    PbxButtonDescription(
        key="shutdown_pbx",
        translation_key="shutdown_pbx",
        entity_category=EntityCategory.CONFIG,
        entity_registry_enabled_default=False,
        command=SHUTDOWN_PBX,
    ),
)


class PbxButton(KalliopeEntity[RegistrationsData], ButtonEntity):
    """A command sent to the PBX; only administrators may press it."""

    entity_description: PbxButtonDescription

    async def async_press(self) -> None:
        """Send the command; refresh what it changed."""
        await async_run_command(
            self.hass,
            self.runtime.system.config_entry,
            self.entity_description.command,
            self._context,
        )


async_setup_entry = platform_setup(Platform.BUTTON, PbxButton, pbx=PBX_BUTTONS)
