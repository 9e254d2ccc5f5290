"""Turning client errors into translated Home Assistant errors, and admin checks."""

from __future__ import annotations

from collections.abc import Awaitable

from homeassistant.auth.permissions.const import POLICY_CONTROL
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import (
    HomeAssistantError,
    ServiceValidationError,
    Unauthorized,
)

from .api import (
    KalliopeApiError,
    KalliopeAuthError,
    KalliopeClockSkewError,
    KalliopeConnectionError,
    KalliopeError,
    KalliopeInputError,
    KalliopeLicenseError,
    KalliopeNotSupportedError,
    KalliopeResponseTooLargeError,
)
from .const import DOMAIN
from .runtime import KalliopeConfigEntry


def translate_error(
    hass: HomeAssistant, entry: KalliopeConfigEntry, err: KalliopeError
) -> HomeAssistantError:
    """A translated error for the user; a refused login also starts reauth."""
    placeholders = {"error": str(err)}
    if isinstance(err, KalliopeInputError):
        return ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_input",
            translation_placeholders=placeholders,
        )
    if isinstance(err, KalliopeClockSkewError):
        key = "clock_skew"
        placeholders = {"skew": f"{err.skew_seconds:+.0f}"}
    elif isinstance(err, KalliopeAuthError):
        entry.async_start_reauth(hass)
        key = "authentication_failed"
    elif isinstance(err, KalliopeLicenseError):
        key = "license_refused"
    elif isinstance(err, KalliopeConnectionError):
        key = "cannot_connect"
    elif isinstance(err, KalliopeNotSupportedError):
        key = "not_supported"
    elif isinstance(err, KalliopeApiError):
        key = "pbx_error"
        placeholders = {"code": str(err.code), "message": err.message or "-"}
    elif isinstance(err, KalliopeResponseTooLargeError):
        key = "response_too_large"
    else:
        key = "invalid_response"
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders,
    )


async def async_call_pbx[T](
    hass: HomeAssistant, entry: KalliopeConfigEntry, request: Awaitable[T]
) -> T:
    """Await a client call, raising only translated Home Assistant errors."""
    try:
        return await request
    except KalliopeError as err:
        raise translate_error(hass, entry, err) from err


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
