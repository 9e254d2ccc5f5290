"""Who may dial what: the toll-fraud guard of click-to-call, for actions and Assist."""

from __future__ import annotations

from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from .api import Click2CallType
from .const import DOMAIN
from .permissions import async_is_admin
from .phone_numbers import InvalidNumberError, normalize_number
from .runtime import KalliopeRuntimeData


def _refused(key: str, number: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"number": number},
    )


async def async_number_to_dial(
    hass: HomeAssistant,
    runtime: KalliopeRuntimeData,
    raw: str,
    call_type: Click2CallType,
    context: Context | None,
) -> str:
    """The normalized number click-to-call may dial, or a translated refusal.

    Extensions of the PBX may be called by anyone. An outside number must
    match Allowed numbers when an administrator set it; until then only a
    signed-in administrator may call one.
    """
    try:
        number = normalize_number(raw)
    except InvalidNumberError:
        raise _refused("invalid_number", raw) from None
    is_extension = runtime.is_pbx_extension(number)
    if call_type is Click2CallType.EXTEN:
        if not is_extension:
            raise _refused("not_an_extension", number)
        return number
    if call_type is Click2CallType.AUTO and is_extension:
        return number
    allowed = runtime.forwarding.allowed_numbers
    if allowed.configured:
        if not allowed.allows(number):
            raise _refused("number_not_allowed", number)
        return number
    if not await async_is_admin(hass, context):
        raise _refused("outside_number_admin_only", number)
    return number
