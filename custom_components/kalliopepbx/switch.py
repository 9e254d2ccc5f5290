"""Switches of an extension: call forwarding, voicemail on the PBX, ringing in call groups."""

from __future__ import annotations

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
    """A switch whose state `value_fn` reads from its source's model."""


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
        await self._async_set(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Turn the setting off; administrators only."""
        await async_require_admin(self.hass, self._context)
        await self._async_set(False)

    async def _async_set(self, on: bool) -> None:
        raise NotImplementedError


class CallForwardingSwitch(ExtensionSettingSwitch):
    """On: calls go on to the forwarding target. Off: the failover from before."""

    async def _async_set(self, on: bool) -> None:
        forwarding = self.runtime.forwarding
        if on:
            await forwarding.async_forward_to_target(self.extension)
        else:
            await forwarding.async_clear(self.extension)


class VoicemailSwitch(ExtensionSettingSwitch):
    """On: the extension has a mailbox on the PBX."""

    async def _async_set(self, on: bool) -> None:
        await async_set_voicemail(self.runtime, self.extension, on)


def _switch(
    runtime: KalliopeRuntimeData,
    description: KalliopeSwitchDescription[UserConfig],
    exten: str | None = None,
) -> KalliopeEntity[UserConfig]:
    if description is VOICEMAIL:
        return VoicemailSwitch(runtime, description, exten)
    return CallForwardingSwitch(runtime, description, exten)


# Forwarding and voicemail switches per extension, now and when extensions
# appear; the call group switches follow the PBX's groups.
async_setup_entry = platform_setup(
    Platform.SWITCH,
    _switch,
    extensions=(CALL_FORWARDING, VOICEMAIL),
    also=async_add_callgroup_switches,
)
