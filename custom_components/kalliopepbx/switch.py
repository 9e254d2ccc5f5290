"""Switches of an extension: call forwarding, voicemail on the PBX, ringing in call groups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory, Platform

from .api import UserConfig
from .callgroup_entities import async_add_callgroup_switches
from .entity import (
    KalliopeEntity,
    KalliopeEntityDescription,
    platform_setup,
)
from .permissions import async_require_admin
from .runtime import KalliopeRuntimeData
from .sources import EXTENSION_CONFIG
from .voicemail_setting import async_set_voicemail, voicemail_setting_known

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class KalliopeSwitchDescription[ModelT](
    KalliopeEntityDescription[ModelT], SwitchEntityDescription
):
    """A switch whose state `value_fn` reads from its source's model.

    `set_fn(runtime, extension, on)` changes the setting on the PBX.
    """

    set_fn: Callable[[KalliopeRuntimeData, str, bool], Awaitable[None]]


async def _set_forwarding(runtime: KalliopeRuntimeData, exten: str, on: bool) -> None:
    """On: forward to the target. Off: the failover from before."""
    if on:
        await runtime.forwarding.async_forward_to_target(exten)
    else:
        await runtime.forwarding.async_clear(exten)


CALL_FORWARDING: KalliopeSwitchDescription[UserConfig] = KalliopeSwitchDescription(
    key="call_forwarding",
    translation_key="call_forwarding",
    # A configuration entity is exposed neither to Assist nor to HomeKit by
    # default: both act with no user, and forwarding is for administrators.
    entity_category=EntityCategory.CONFIG,
    source=EXTENSION_CONFIG,
    # Whether the PBX forwards this extension's calls to a number.
    value_fn=lambda config: (
        config.failover is not None and config.failover.forwards_to_number
    ),
    requires_model=True,
    set_fn=_set_forwarding,
)

VOICEMAIL: KalliopeSwitchDescription[UserConfig] = KalliopeSwitchDescription(
    # Not "voicemail" (the new-voicemail event) nor "voicemail_*" (the sensors).
    key="vm_enabled",
    translation_key="voicemail",
    # Neither Assist nor HomeKit by default: a PBX setting for administrators.
    entity_category=EntityCategory.CONFIG,
    source=EXTENSION_CONFIG,
    value_fn=lambda config: config.vm_enabled,
    requires_model=True,
    # Whatever the voicemail sensors option says: this is the PBX's setting.
    exists_fn=voicemail_setting_known,
    set_fn=async_set_voicemail,
)


class ExtensionSettingSwitch(KalliopeEntity[UserConfig], SwitchEntity):
    """A setting of the extension on the PBX, changed by administrators only."""

    entity_description: KalliopeSwitchDescription[UserConfig]

    @property
    def is_on(self) -> bool | None:
        """The setting as the PBX has it."""
        value: bool | None = self._value(self.model)
        return value

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Turn the setting on; administrators only."""
        await async_require_admin(self.hass, self._context)
        await self.entity_description.set_fn(self.runtime, self.extension, True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn the setting off; administrators only."""
        await async_require_admin(self.hass, self._context)
        await self.entity_description.set_fn(self.runtime, self.extension, False)


# Forwarding and voicemail switches per extension, now and when extensions
# appear; the call group switches follow the PBX's groups.
async_setup_entry = platform_setup(
    Platform.SWITCH,
    ExtensionSettingSwitch,
    extensions=(CALL_FORWARDING, VOICEMAIL),
    also=async_add_callgroup_switches,
)
