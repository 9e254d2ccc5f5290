"""Actions of the KalliopePBX integration, registered once in `async_setup`.

Click-to-call, forwarding and PBX commands are here; the actions that
answer with data are in `lookups.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service
import voluptuous as vol

from .action_targets import (
    ENTRY_TARGET,
    EXTENSION_TARGET,
    bind,
    resolve_entry,
    resolve_extension,
    validation_error,
)
from .api import (
    Click2CallType,
    Failover,
    FailoverType,
    GatewayType,
    KalliopeApiError,
    KalliopeError,
)
from .backups import async_setup_backup_services
from .callgroup_services import async_setup_callgroup_services
from .commands import (
    APPLY_CHANGES,
    RELOAD_PBX_ENGINE,
    RESTART_PBX,
    REVERT_CHANGES,
    SHUTDOWN_PBX,
    PbxCommand,
    async_run_command,
)
from .const import DOMAIN
from .dialing import async_number_to_dial
from .errors import translate_error
from .lookups import async_setup_lookup_services
from .phonebook_actions import async_setup_phonebook_services
from .runtime import KalliopeConfigEntry

ATTR_NUMBER = "number"
ATTR_TYPE = "type"
ATTR_DESTINATION = "destination"
ATTR_GATEWAY_ID = "gateway_id"
ATTR_GATEWAY_TYPE = "gateway_type"
SERVICE_CLICK2CALL = "click2call"
SERVICE_SET_CALL_FORWARDING = "set_call_forwarding"
SERVICE_CLEAR_CALL_FORWARDING = "clear_call_forwarding"
SERVICE_RESET_MISSED_CALLS = "reset_missed_calls"

FORWARDING_TYPES = [
    t.value.lower() for t in FailoverType if t is not FailoverType.UNKNOWN
]
# Types whose destination is an id or number the PBX must know.
_DESTINATION_OPTIONAL = {FailoverType.HANGUP, FailoverType.FORWARD_TO_VOICEMAIL}


CLICK2CALL_SCHEMA = vol.Schema(
    {
        **EXTENSION_TARGET,
        vol.Required(ATTR_NUMBER): vol.All(cv.string, vol.Length(min=1, max=64)),
        vol.Optional(ATTR_TYPE, default=Click2CallType.AUTO.value): vol.In(
            [t.value for t in Click2CallType]
        ),
    }
)
SET_FORWARDING_SCHEMA = vol.Schema(
    {
        **EXTENSION_TARGET,
        vol.Optional(
            ATTR_TYPE, default=FailoverType.FORWARD_TO_EXTERNAL_NUMBER.value.lower()
        ): vol.In(FORWARDING_TYPES),
        vol.Optional(ATTR_DESTINATION): vol.All(cv.string, vol.Length(min=1, max=64)),
        vol.Optional(ATTR_GATEWAY_ID): vol.All(cv.string, vol.Match(r"^[0-9]{1,9}$")),
        vol.Optional(ATTR_GATEWAY_TYPE): vol.In([t.value.lower() for t in GatewayType]),
    }
)
CLEAR_FORWARDING_SCHEMA = vol.Schema(EXTENSION_TARGET)
RESET_MISSED_CALLS_SCHEMA = vol.Schema(EXTENSION_TARGET)
ENTRY_SCHEMA = vol.Schema(ENTRY_TARGET)


async def _click2call(hass: HomeAssistant, call: ServiceCall) -> None:
    entry, exten = resolve_extension(hass, call)
    runtime = entry.runtime_data
    call_type = Click2CallType(call.data[ATTR_TYPE])
    number = await async_number_to_dial(
        hass, runtime, call.data[ATTR_NUMBER], call_type, call.context
    )
    try:
        await runtime.client.click2call(exten, number, call_type)
    except KalliopeApiError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="click2call_failed",
            translation_placeholders={
                "extension": exten,
                "number": number,
                "code": str(err.code),
                "message": err.message or "-",
            },
        ) from err
    except KalliopeError as err:
        raise translate_error(hass, entry, err) from err


def _requested_failover(
    entry: KalliopeConfigEntry, exten: str, data: dict[str, Any]
) -> Failover:
    """The failover an action asks for, validated before anything is sent."""
    forwarding = entry.runtime_data.forwarding
    failover_type = FailoverType(str(data[ATTR_TYPE]).upper())
    destination: str | None = data.get(ATTR_DESTINATION)
    if destination is None:
        if failover_type not in _DESTINATION_OPTIONAL:
            raise validation_error(
                "destination_required", type=failover_type.value.lower()
            )
        if failover_type is FailoverType.HANGUP:
            return Failover(type=failover_type)
        destination = exten
    if failover_type is FailoverType.FORWARD_TO_EXTERNAL_NUMBER:
        number = forwarding.validate_number(destination)
        gateway_id = data.get(ATTR_GATEWAY_ID)
        gateway_type = data.get(ATTR_GATEWAY_TYPE)
        if gateway_id is None and gateway_type is None:
            # The extension's own outbound line, chosen when the change is made.
            return Failover(type=failover_type, destination=number)
        if gateway_id is None or gateway_type is None:
            # An id without its type (or the reverse) is half a line: no guess.
            raise validation_error("gateway_id_and_type")
        return Failover(
            type=failover_type,
            destination=number,
            gateway_type=GatewayType(str(gateway_type).upper()),
            gateway_id=gateway_id,
        )
    if failover_type is FailoverType.FORWARD_TO_EXTEN:
        destination = forwarding.validate_number(destination, external=False)
        if destination == exten:
            raise validation_error("forward_to_itself", extension=exten)
        if not entry.runtime_data.is_pbx_extension(destination):
            raise validation_error("unknown_extension", extension=destination)
    elif failover_type is FailoverType.FORWARD_TO_VOICEMAIL:
        destination = forwarding.validate_number(destination, external=False)
    elif not destination.isdigit():
        raise validation_error("invalid_destination", destination=destination)
    return Failover(type=failover_type, destination=destination)


async def _set_call_forwarding(hass: HomeAssistant, call: ServiceCall) -> None:
    entry, exten = resolve_extension(hass, call)
    failover = _requested_failover(entry, exten, dict(call.data))
    await entry.runtime_data.forwarding.async_set(exten, failover)


async def _clear_call_forwarding(hass: HomeAssistant, call: ServiceCall) -> None:
    entry, exten = resolve_extension(hass, call)
    await entry.runtime_data.forwarding.async_clear(exten)


async def _reset_missed_calls(hass: HomeAssistant, call: ServiceCall) -> None:
    entry, exten = resolve_extension(hass, call)
    live = entry.runtime_data.live
    if not live.enabled:
        raise validation_error("live_events_off", title=entry.title)
    live.reset_missed(exten)


def _pbx_command(
    command: PbxCommand,
) -> Callable[[HomeAssistant, ServiceCall], Awaitable[None]]:
    async def handle(hass: HomeAssistant, call: ServiceCall) -> None:
        await async_run_command(hass, resolve_entry(hass, call), command, call.context)

    return handle


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN, SERVICE_CLICK2CALL, bind(hass, _click2call), CLICK2CALL_SCHEMA
    )
    # Admin-only actions: refused to other users before anything is looked
    # up; with no user (automations, scripts) they run, as the buttons do.
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_SET_CALL_FORWARDING,
        bind(hass, _set_call_forwarding),
        SET_FORWARDING_SCHEMA,
    )
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_CLEAR_CALL_FORWARDING,
        bind(hass, _clear_call_forwarding),
        CLEAR_FORWARDING_SCHEMA,
    )
    # A counter on the user's own dashboard: anyone may set it back to 0.
    hass.services.async_register(
        DOMAIN,
        SERVICE_RESET_MISSED_CALLS,
        bind(hass, _reset_missed_calls),
        RESET_MISSED_CALLS_SCHEMA,
    )
    for command in (
        RELOAD_PBX_ENGINE,
        APPLY_CHANGES,
        REVERT_CHANGES,
        RESTART_PBX,
        SHUTDOWN_PBX,
    ):
        async_register_admin_service(
            hass, DOMAIN, command.key, bind(hass, _pbx_command(command)), ENTRY_SCHEMA
        )
    async_setup_lookup_services(hass)
    async_setup_callgroup_services(hass)
    async_setup_phonebook_services(hass)
    async_setup_backup_services(hass)
