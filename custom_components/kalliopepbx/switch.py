"""Switches of an extension: call forwarding, and ringing in call groups."""

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
from .sources import EXTENSION_CONFIG

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


class CallForwardingSwitch(KalliopeEntity[UserConfig], SwitchEntity):
    """On: calls go on to the forwarding target. Off: the failover from before."""

    entity_description: KalliopeSwitchDescription[UserConfig]

    @property
    def is_on(self) -> bool | None:
        """Whether the PBX forwards this extension's calls to a number."""
        value: bool | None = self._value(self.model)
        return value

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Forward to the target number; administrators only."""
        await async_require_admin(self.hass, self._context)
        await self.runtime.forwarding.async_forward_to_target(self.extension)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Restore the failover from before; administrators only."""
        await async_require_admin(self.hass, self._context)
        await self.runtime.forwarding.async_clear(self.extension)


# One forwarding switch per extension, now and when extensions appear; the
# call group switches follow the PBX's groups.
async_setup_entry = platform_setup(
    Platform.SWITCH,
    CallForwardingSwitch,
    extensions=(CALL_FORWARDING,),
    also=async_add_callgroup_switches,
)
