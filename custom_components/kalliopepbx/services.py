"""Actions of the KalliopePBX integration, registered once in `async_setup`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import fields
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .api import (
    CallDirection,
    CallRecord,
    CallStatus,
    CdrFilter,
    CdrQuery,
    Click2CallType,
    Contact,
    Failover,
    FailoverType,
    GatewayType,
    KalliopeApiError,
    KalliopeError,
    KalliopeUnsupportedFilterError,
    PhonebookFilter,
)
from .const import CONF_CDR_PRIVACY_MD5, DOMAIN
from .dialing import async_number_to_dial
from .exceptions import async_call_pbx, async_require_admin, translate_error
from .runtime import KalliopeConfigEntry

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_DEVICE_ID = "device_id"
ATTR_EXTENSION = "extension"
ATTR_NUMBER = "number"
ATTR_TYPE = "type"
ATTR_DESTINATION = "destination"
ATTR_GATEWAY_ID = "gateway_id"
ATTR_GATEWAY_TYPE = "gateway_type"
ATTR_QUERY = "query"
ATTR_LIMIT = "limit"
ATTR_START = "start"
ATTR_END = "end"
ATTR_DIRECTION = "direction"
ATTR_STATUS = "status"
ATTR_CALLER = "caller"
ATTR_CALLED = "called"

DEFAULT_CDR_PERIOD = timedelta(days=7)

SERVICE_CLICK2CALL = "click2call"
SERVICE_SET_CALL_FORWARDING = "set_call_forwarding"
SERVICE_CLEAR_CALL_FORWARDING = "clear_call_forwarding"
SERVICE_RELOAD_PBX_ENGINE = "reload_pbx_engine"
SERVICE_APPLY_CHANGES = "apply_changes"
SERVICE_REVERT_CHANGES = "revert_changes"
SERVICE_SEARCH_PHONEBOOK = "search_phonebook"
SERVICE_GET_CALL_RECORDS = "get_call_records"

PHONEBOOK_FIELDS = (
    "first_name",
    "last_name",
    "organization",
    "organizational_unit",
    "phone",
    "mail",
)
FORWARDING_TYPES = [
    t.value.lower() for t in FailoverType if t is not FailoverType.UNKNOWN
]
# Types whose destination is an id or number the PBX must know.
_DESTINATION_OPTIONAL = {FailoverType.HANGUP, FailoverType.FORWARD_TO_VOICEMAIL}

_TEXT = vol.All(cv.string, vol.Length(min=1, max=64))
_EXTENSION = vol.All(cv.string, vol.Match(r"^[0-9*#]{1,16}$"))

_EXTENSION_TARGET: dict[vol.Marker, Any] = {
    vol.Optional(ATTR_DEVICE_ID): cv.string,
    vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
    vol.Optional(ATTR_EXTENSION): _EXTENSION,
}
_ENTRY_TARGET: dict[vol.Marker, Any] = {vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string}

CLICK2CALL_SCHEMA = vol.Schema(
    {
        **_EXTENSION_TARGET,
        vol.Required(ATTR_NUMBER): vol.All(cv.string, vol.Length(min=1, max=64)),
        vol.Optional(ATTR_TYPE, default=Click2CallType.AUTO.value): vol.In(
            [t.value for t in Click2CallType]
        ),
    }
)
SET_FORWARDING_SCHEMA = vol.Schema(
    {
        **_EXTENSION_TARGET,
        vol.Optional(
            ATTR_TYPE, default=FailoverType.FORWARD_TO_EXTERNAL_NUMBER.value.lower()
        ): vol.In(FORWARDING_TYPES),
        vol.Optional(ATTR_DESTINATION): vol.All(cv.string, vol.Length(min=1, max=64)),
        vol.Optional(ATTR_GATEWAY_ID): vol.All(cv.string, vol.Match(r"^[0-9]{1,9}$")),
        vol.Optional(ATTR_GATEWAY_TYPE): vol.In([t.value.lower() for t in GatewayType]),
    }
)
CLEAR_FORWARDING_SCHEMA = vol.Schema(_EXTENSION_TARGET)
ENTRY_SCHEMA = vol.Schema(_ENTRY_TARGET)
_PHONEBOOK_TERMS: dict[vol.Marker, Any] = {
    vol.Optional(name): _TEXT for name in PHONEBOOK_FIELDS
}
SEARCH_PHONEBOOK_SCHEMA = vol.Schema(
    {
        **_ENTRY_TARGET,
        vol.Optional(ATTR_QUERY): _TEXT,
        **_PHONEBOOK_TERMS,
        vol.Optional(ATTR_LIMIT, default=50): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=500)
        ),
    }
)
GET_CALL_RECORDS_SCHEMA = vol.Schema(
    {
        **_ENTRY_TARGET,
        vol.Optional(ATTR_START): cv.datetime,
        vol.Optional(ATTR_END): cv.datetime,
        vol.Optional(ATTR_DIRECTION): vol.In(
            [d.value for d in CallDirection if d is not CallDirection.UNKNOWN]
        ),
        vol.Optional(ATTR_STATUS): vol.In([s.value for s in CallStatus]),
        vol.Optional(ATTR_CALLER): _TEXT,
        vol.Optional(ATTR_CALLED): _TEXT,
        vol.Optional(ATTR_LIMIT, default=100): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=1000)
        ),
    }
)


def _validation_error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> KalliopeConfigEntry:
    entry: KalliopeConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise _validation_error("entry_not_found", entry_id=entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise _validation_error("entry_not_loaded", title=entry.title)
    return entry


def resolve_entry(hass: HomeAssistant, call: ServiceCall) -> KalliopeConfigEntry:
    """The PBX an action is for: named, or the only one there is."""
    if entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID):
        return _loaded_entry(hass, entry_id)
    entries = hass.config_entries.async_entries(DOMAIN)
    if len(entries) != 1:
        raise _validation_error("entry_required")
    return _loaded_entry(hass, entries[0].entry_id)


def resolve_extension(
    hass: HomeAssistant, call: ServiceCall
) -> tuple[KalliopeConfigEntry, str]:
    """An extension device, or a PBX and an extension number."""
    if device_id := call.data.get(ATTR_DEVICE_ID):
        device = dr.async_get(hass).async_get(device_id)
        identifiers = device.identifiers if device is not None else set()
        # Our identifiers are `<pbx id>_<extension>`: they name the PBX too.
        for entry in hass.config_entries.async_entries(DOMAIN):
            if entry.state is not ConfigEntryState.LOADED:
                continue
            prefix = f"{entry.runtime_data.system.pbx_id}_"
            for domain, identifier in identifiers:
                if domain == DOMAIN and identifier.startswith(prefix):
                    return entry, identifier.removeprefix(prefix)
        raise _validation_error("not_an_extension_device", device_id=device_id)
    exten = call.data.get(ATTR_EXTENSION)
    if exten is None:
        raise _validation_error("extension_required")
    entry = resolve_entry(hass, call)
    if exten not in entry.runtime_data.extensions:
        raise _validation_error("unknown_extension", extension=exten)
    return entry, exten


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
            raise _validation_error(
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
            raise _validation_error("gateway_id_and_type")
        return Failover(
            type=failover_type,
            destination=number,
            gateway_type=GatewayType(str(gateway_type).upper()),
            gateway_id=gateway_id,
        )
    if failover_type is FailoverType.FORWARD_TO_EXTEN:
        destination = forwarding.validate_number(destination, external=False)
        if destination == exten:
            raise _validation_error("forward_to_itself", extension=exten)
        if not entry.runtime_data.is_pbx_extension(destination):
            raise _validation_error("unknown_extension", extension=destination)
    elif failover_type is FailoverType.FORWARD_TO_VOICEMAIL:
        destination = forwarding.validate_number(destination, external=False)
    elif not destination.isdigit():
        raise _validation_error("invalid_destination", destination=destination)
    return Failover(type=failover_type, destination=destination)


async def _set_call_forwarding(hass: HomeAssistant, call: ServiceCall) -> None:
    await async_require_admin(hass, call.context)
    entry, exten = resolve_extension(hass, call)
    failover = _requested_failover(entry, exten, dict(call.data))
    await entry.runtime_data.forwarding.async_set(exten, failover)


async def _clear_call_forwarding(hass: HomeAssistant, call: ServiceCall) -> None:
    await async_require_admin(hass, call.context)
    entry, exten = resolve_extension(hass, call)
    await entry.runtime_data.forwarding.async_clear(exten)


def _pbx_command(
    command: str,
    request: Callable[[KalliopeConfigEntry], Awaitable[bool]],
    *,
    changes_configuration: bool,
) -> Callable[[HomeAssistant, ServiceCall], Awaitable[None]]:
    async def handle(hass: HomeAssistant, call: ServiceCall) -> None:
        await async_require_admin(hass, call.context)
        entry = resolve_entry(hass, call)
        if changes_configuration:
            await entry.runtime_data.forwarding.async_pending_command(
                command, lambda: request(entry)
            )
            return
        if not await async_call_pbx(hass, entry, request(entry)):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="command_failed",
                translation_placeholders={"command": command},
            )

    return handle


def _as_response(item: Contact | CallRecord) -> dict[str, Any]:
    """A JSON-safe dict without empty fields."""
    result: dict[str, Any] = {}
    for field in fields(item):
        value = getattr(item, field.name)
        if value is None or field.name == "status_raw":
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Enum):
            value = value.value
        result[field.name] = value
    if isinstance(item, Contact) and item.name:
        result["name"] = item.name
    return result


async def _search_phonebook(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    entry = resolve_entry(hass, call)
    terms = {name: call.data[name] for name in PHONEBOOK_FIELDS if name in call.data}
    query = call.data.get(ATTR_QUERY)
    if query is not None and terms:
        raise _validation_error("query_or_fields")
    if query is None and not terms:
        raise _validation_error("search_terms_required")
    search = (
        PhonebookFilter(any=_wildcard(query))
        if query
        else PhonebookFilter(
            **{name: _wildcard(value) for name, value in terms.items()}
        )
    )
    contacts = await async_call_pbx(
        hass, entry, entry.runtime_data.client.search_phonebook(search)
    )
    limit: int = call.data[ATTR_LIMIT]
    return {
        "contacts": [_as_response(contact) for contact in contacts[:limit]],
        "count": len(contacts),
        "truncated": len(contacts) > limit,
    }


def _wildcard(term: str) -> str:
    """Plain words match anywhere; explicit `%` wildcards are kept."""
    return term if "%" in term else f"%{term}%"


def _pbx_local(value: datetime | None) -> datetime | None:
    """The PBX reports and filters in its local time, given here as naive."""
    if value is None or value.tzinfo is None:
        return value
    return dt_util.as_local(value).replace(tzinfo=None)


_ACTION_FILTER_NAMES = {"caller_num": ATTR_CALLER, "called_num": ATTR_CALLED}


async def _get_call_records(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    await async_require_admin(hass, call.context)
    entry = resolve_entry(hass, call)
    begin = _pbx_local(call.data.get(ATTR_START))
    end = _pbx_local(call.data.get(ATTR_END))
    if begin is not None and end is not None and end < begin:
        raise _validation_error("end_before_start")
    if begin is None:
        # Not the PBX's own default (this month so far), empty on every 1st.
        until = end if end is not None else dt_util.now().replace(tzinfo=None)
        begin = until - DEFAULT_CDR_PERIOD
    direction = call.data.get(ATTR_DIRECTION)
    status = call.data.get(ATTR_STATUS)
    caller = call.data.get(ATTR_CALLER)
    called = call.data.get(ATTR_CALLED)
    query = CdrQuery(
        begin=begin,
        end=end,
        filter=CdrFilter(
            direction=CallDirection(direction) if direction else None,
            status=CallStatus(status) if status else None,
            caller_num=_wildcard(caller) if caller else None,
            called_num=_wildcard(called) if called else None,
        ),
        privacy_password_md5=entry.options.get(CONF_CDR_PRIVACY_MD5),
    )
    try:
        records = await entry.runtime_data.client.call_records(query)
    except KalliopeUnsupportedFilterError as err:
        name = _ACTION_FILTER_NAMES.get(err.filter, err.filter)
        raise _validation_error(
            "call_records_filter_unsupported",
            filter=name if err.value is None else f"{name}: {err.value}",
        ) from err
    except KalliopeError as err:
        raise translate_error(hass, entry, err) from err
    limit: int = call.data[ATTR_LIMIT]
    return {
        "records": [_as_response(record) for record in records[:limit]],
        "count": len(records),
        "truncated": len(records) > limit,
    }


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN, SERVICE_CLICK2CALL, _bind(hass, _click2call), CLICK2CALL_SCHEMA
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SET_CALL_FORWARDING,
        _bind(hass, _set_call_forwarding),
        SET_FORWARDING_SCHEMA,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_CLEAR_CALL_FORWARDING,
        _bind(hass, _clear_call_forwarding),
        CLEAR_FORWARDING_SCHEMA,
    )
    for service, request, changes in (
        (
            SERVICE_RELOAD_PBX_ENGINE,
            lambda entry: entry.runtime_data.client.reload_pbx_engine(),
            False,
        ),
        (SERVICE_APPLY_CHANGES, lambda entry: entry.runtime_data.client.apply(), True),
        (
            SERVICE_REVERT_CHANGES,
            lambda entry: entry.runtime_data.client.revert(),
            True,
        ),
    ):
        hass.services.async_register(
            DOMAIN,
            service,
            _bind(hass, _pbx_command(service, request, changes_configuration=changes)),
            ENTRY_SCHEMA,
        )
    hass.services.async_register(
        DOMAIN,
        SERVICE_SEARCH_PHONEBOOK,
        _bind(hass, _search_phonebook),
        SEARCH_PHONEBOOK_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_CALL_RECORDS,
        _bind(hass, _get_call_records),
        GET_CALL_RECORDS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )


def _bind[R](
    hass: HomeAssistant, handler: Callable[[HomeAssistant, ServiceCall], Awaitable[R]]
) -> Callable[[ServiceCall], Coroutine[Any, Any, R]]:
    async def handle(call: ServiceCall) -> R:
        return await handler(hass, call)

    return handle
