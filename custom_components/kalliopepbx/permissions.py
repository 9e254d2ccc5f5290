"""Admin checks for actions, buttons and entity writes."""

from __future__ import annotations

from homeassistant.auth.permissions.const import POLICY_CONTROL
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import Unauthorized


async def async_require_admin(hass: HomeAssistant, context: Context | None) -> None:
    """Refuse a non-admin user; automations and the system act without a user."""
    if context is None or context.user_id is None:
        return
    user = await hass.auth.async_get_user(context.user_id)
    if user is None or not user.is_admin:
        raise Unauthorized(context=context, permission=POLICY_CONTROL)


async def async_is_admin(hass: HomeAssistant, context: Context | None) -> bool:
    """Whether a signed-in administrator asked.

    A request with no user (a voice satellite, an LLM tool, HomeKit, an
    automation) is not one.
    """
    if context is None or context.user_id is None:
        return False
    user = await hass.auth.async_get_user(context.user_id)
    return user is not None and user.is_admin
