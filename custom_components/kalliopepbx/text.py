"""The call forwarding target of an extension as a text entity."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.text import TextEntity, TextEntityDescription, TextMode
from homeassistant.const import Platform

from .api import UserConfig
from .entity import (
    KalliopeEntity,
    KalliopeEntityDescription,
    platform_setup,
)
from .permissions import async_require_admin
from .sources import EXTENSION_CONFIG

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class KalliopeTextDescription[ModelT](
    KalliopeEntityDescription[ModelT], TextEntityDescription
):
    """A text entity fed by its source's model."""


FORWARDING_TARGET: KalliopeTextDescription[UserConfig] = KalliopeTextDescription(
    key="forwarding_target",
    translation_key="forwarding_target",
    mode=TextMode.TEXT,
    native_min=0,
    native_max=40,
    # Empty, or what people type for a phone number; fully checked on set.
    pattern=r"^$|^\+?[0-9*#][0-9*# \-./()]*$",
    source=EXTENSION_CONFIG,
    # Without the PBX's configuration (licence refusal, bad answer) the
    # forwarding in place is unknown: an empty target would mislead.
    requires_model=True,
)


class ForwardingTargetText(KalliopeEntity[UserConfig], TextEntity):
    """Where the forwarding switch sends calls: an extension or a number."""

    entity_description: KalliopeTextDescription[UserConfig]

    @property
    def native_value(self) -> str | None:
        """The kept target, else the PBX's current forwarding destination."""
        return self.runtime.forwarding.target(self.extension) or ""

    def _fingerprint(self, model: UserConfig | None) -> object:
        # The value comes from the forwarding manager, not only the model.
        return self.native_value

    async def async_set_value(self, value: str) -> None:
        """Keep a validated target; re-forward if forwarding is on."""
        await async_require_admin(self.hass, self._context)
        await self.runtime.forwarding.async_set_target(self.extension, value)
        self.async_write_shown()


# One forwarding target per extension, now and when extensions appear.
async_setup_entry = platform_setup(
    Platform.TEXT, ForwardingTargetText, extensions=(FORWARDING_TARGET,)
)
