"""One table from client error class to translation key, and its wrappers.

The coordinators, the actions and buttons, and the config flow read the
same rows, so a new client error is mapped once, in order, for all three.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Final

from homeassistant.const import CONF_PASSWORD, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .api import (
    KalliopeApiError,
    KalliopeAuthError,
    KalliopeCertificateError,
    KalliopeClockSkewError,
    KalliopeConnectionError,
    KalliopeError,
    KalliopeInputError,
    KalliopeLicenseError,
    KalliopeNotSupportedError,
    KalliopeResponseError,
    KalliopeResponseTooLargeError,
)
from .const import DOMAIN
from .runtime import KalliopeConfigEntry

# Form errors not tied to one field.
BASE: Final = "base"


@dataclass(frozen=True, slots=True)
class ErrorKeys:
    """Where one client error class goes, for each kind of caller."""

    error: type[KalliopeError]
    # `exceptions.*` key of a failed coordinator refresh.
    polling: str
    # `exceptions.*` key of a failed action or button press.
    action: str
    # `config.error.*` key of the config flow, and the field it is shown on.
    form: str
    form_field: str = BASE


# Most specific class first: the first row the error is an instance of wins.
ERROR_KEYS: Final[tuple[ErrorKeys, ...]] = (
    ErrorKeys(KalliopeInputError, "unknown_error", "invalid_input", "unknown"),
    ErrorKeys(KalliopeClockSkewError, "clock_skew", "clock_skew", "clock_skew"),
    ErrorKeys(
        KalliopeAuthError,
        "authentication_failed",
        "authentication_failed",
        "invalid_auth",
        CONF_PASSWORD,
    ),
    ErrorKeys(
        KalliopeCertificateError,
        "cannot_connect",
        "cannot_connect",
        "certificate_not_trusted",
        CONF_VERIFY_SSL,
    ),
    ErrorKeys(
        KalliopeConnectionError, "cannot_connect", "cannot_connect", "cannot_connect"
    ),
    ErrorKeys(
        KalliopeLicenseError, "license_refused", "license_refused", "license_not_active"
    ),
    ErrorKeys(
        KalliopeNotSupportedError, "not_supported", "not_supported", "not_kalliope"
    ),
    ErrorKeys(
        KalliopeResponseTooLargeError,
        "response_too_large",
        "response_too_large",
        "not_kalliope",
    ),
    ErrorKeys(
        KalliopeResponseError, "invalid_response", "invalid_response", "not_kalliope"
    ),
    ErrorKeys(KalliopeApiError, "invalid_response", "pbx_error", "unknown"),
    ErrorKeys(KalliopeError, "unknown_error", "invalid_response", "unknown"),
)


def error_keys(err: KalliopeError) -> ErrorKeys:
    """The first row of `ERROR_KEYS` that `err` belongs to."""
    return next(row for row in ERROR_KEYS if isinstance(err, row.error))


def error_placeholders(key: str, err: KalliopeError) -> dict[str, str]:
    """The placeholders the message under `key` needs."""
    if key == "clock_skew" and isinstance(err, KalliopeClockSkewError):
        return {"skew": f"{err.skew_seconds:+.0f}"}
    if key == "pbx_error" and isinstance(err, KalliopeApiError):
        return {"code": str(err.code), "message": err.message or "-"}
    return {"error": str(err)}


def translate_error(
    hass: HomeAssistant, entry: KalliopeConfigEntry, err: KalliopeError
) -> HomeAssistantError:
    """A translated error for the user; a refused login also starts reauth."""
    key = error_keys(err).action
    error_type = HomeAssistantError
    if key == "invalid_input":
        error_type = ServiceValidationError
    elif key == "authentication_failed":
        entry.async_start_reauth(hass)
    return error_type(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=error_placeholders(key, err),
    )


async def async_call_pbx[T](
    hass: HomeAssistant, entry: KalliopeConfigEntry, request: Awaitable[T]
) -> T:
    """Await a client call, raising only translated Home Assistant errors."""
    try:
        return await request
    except KalliopeError as err:
        raise translate_error(hass, entry, err) from err
