"""Actions that answer with PBX data: phonebook search and call records."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .action_targets import ENTRY_TARGET, bind, resolve_entry, validation_error
from .api import (
    CallDirection,
    CallRecord,
    CallStatus,
    CdrFilter,
    CdrQuery,
    Contact,
    KalliopeError,
    KalliopeUnsupportedFilterError,
    PhonebookFilter,
)
from .const import CONF_CDR_PRIVACY_MD5, DOMAIN
from .errors import async_call_pbx, translate_error
from .permissions import async_require_admin

ATTR_QUERY = "query"
ATTR_LIMIT = "limit"
ATTR_START = "start"
ATTR_END = "end"
ATTR_DIRECTION = "direction"
ATTR_STATUS = "status"
ATTR_CALLER = "caller"
ATTR_CALLED = "called"

DEFAULT_CDR_PERIOD = timedelta(days=7)

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

_TEXT = vol.All(cv.string, vol.Length(min=1, max=64))

_PHONEBOOK_TERMS: dict[vol.Marker, Any] = {
    vol.Optional(name): _TEXT for name in PHONEBOOK_FIELDS
}
SEARCH_PHONEBOOK_SCHEMA = vol.Schema(
    {
        **ENTRY_TARGET,
        vol.Optional(ATTR_QUERY): _TEXT,
        **_PHONEBOOK_TERMS,
        vol.Optional(ATTR_LIMIT, default=50): vol.All(
            vol.Coerce(int), vol.Range(min=1, max=500)
        ),
    }
)
GET_CALL_RECORDS_SCHEMA = vol.Schema(
    {
        **ENTRY_TARGET,
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
        raise validation_error("query_or_fields")
    if query is None and not terms:
        raise validation_error("search_terms_required")
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
        raise validation_error("end_before_start")
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
        raise validation_error(
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
def async_setup_lookup_services(hass: HomeAssistant) -> None:
    """Register the actions that return data."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_SEARCH_PHONEBOOK,
        bind(hass, _search_phonebook),
        SEARCH_PHONEBOOK_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    # Admin-only, but not through `async_register_admin_service`: that helper
    # registers no response, and this action answers with data.
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_CALL_RECORDS,
        bind(hass, _get_call_records),
        GET_CALL_RECORDS_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
