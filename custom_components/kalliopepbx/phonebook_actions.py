"""Actions that add, change and remove phonebook contacts (administrators).

Every change goes the way of all configuration changes (`config_changes.py`):
the per-PBX lock, refused over someone else's pending changes, then apply.
The reference keeps the phonebook outside pending/apply, so the apply
usually finds nothing pending. Afterwards the caller names of live call
events are looked up afresh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
import re
from typing import Any

from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service
import voluptuous as vol

from .action_targets import ENTRY_TARGET, bind, resolve_entry, validation_error
from .api import (
    Contact,
    ContactInput,
    ContactType,
    KalliopeApiError,
    KalliopeClient,
    KalliopeError,
    PhonebookFilter,
)
from .change_notes import ChangeNote
from .const import DOMAIN
from .permissions import async_require_admin
from .phone_numbers import InvalidNumberError, normalize_number
from .runtime import KalliopeConfigEntry

SERVICE_ADD_CONTACT = "add_contact"
SERVICE_UPDATE_CONTACT = "update_contact"
SERVICE_DELETE_CONTACT = "delete_contact"

ATTR_ID = "id"
ATTR_OWNER = "owner"
# The reference's mandatory fields: never missing on a new contact, never emptied.
MANDATORY_FIELDS = ("first_name", "last_name", "phone")
CONTACT_FIELDS = (
    *MANDATORY_FIELDS,
    "organization",
    "organizational_unit",
    "mail",
    "speed_dial",
)
# The reference's "-1" (a system contact), or the extension owning a private one.
SYSTEM_OWNER = "-1"
_OWNER = re.compile(r"-1|[0-9*#]{1,32}")
# Characters XML 1.0 cannot carry, which the client refuses to send.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# PBX errors meaning the id names no contact (14: invalid id, 15: not found).
_NO_SUCH_CONTACT = {14, 15}
# "Admin can not handle private contact", the reference's answer to a PUT or
# DELETE of a private contact.
_PRIVATE_CONTACT = 17
# "Invalid owner for user", the reference's answer to a POST's <owner>.
_INVALID_OWNER = 11

# PBX error codes, and the translated refusal each of them means.
type Refusals = Mapping[int, Callable[[], ServiceValidationError]]

_FIELD = vol.All(cv.string, vol.Length(max=255))
_CONTACT_ID = vol.All(cv.string, vol.Length(min=1, max=64))
_FIELDS: dict[vol.Marker, Any] = {vol.Optional(name): _FIELD for name in CONTACT_FIELDS}

ADD_CONTACT_SCHEMA = vol.Schema(
    {**ENTRY_TARGET, **_FIELDS, vol.Optional(ATTR_OWNER): _FIELD}
)
# The reference's PUT has no owner: a contact keeps its owner.
UPDATE_CONTACT_SCHEMA = vol.Schema(
    {**ENTRY_TARGET, vol.Required(ATTR_ID): _CONTACT_ID, **_FIELDS}
)
DELETE_CONTACT_SCHEMA = vol.Schema({**ENTRY_TARGET, vol.Required(ATTR_ID): _CONTACT_ID})


def _invalid(field: str) -> HomeAssistantError:
    return validation_error("invalid_contact", field=field)


def _requested_fields(data: dict[str, Any], *, new: bool) -> dict[str, str]:
    """The contact fields an action gives, checked as the client and PBX will.

    Refused here, with the field named, before anything is sent.
    """
    fields: dict[str, str] = {}
    for name in CONTACT_FIELDS:
        value = data.get(name)
        if value is None:
            if new and name in MANDATORY_FIELDS:
                raise _invalid(name)
            continue
        value = value.strip()
        if _XML_INVALID.search(value) or (name in MANDATORY_FIELDS and not value):
            raise _invalid(name)
        fields[name] = value
    if (phone := fields.get("phone")) is not None:
        try:
            normalize_number(phone)
        except InvalidNumberError:
            raise _invalid("phone") from None
    if not fields:
        raise validation_error("contact_fields_required")
    return fields


async def _changeable_contact(client: KalliopeClient, contact_id: str) -> Contact:
    """The contact as the PBX has it now, if the administrator may change it.

    An unknown id is refused, and so is a private contact: the PBX would
    answer its error 17 to the write.
    """
    found = await client.phonebook_contact(contact_id)
    if found is None:
        raise validation_error("unknown_contact", id=contact_id)
    if found.type is ContactType.PRIVATE:
        raise validation_error("private_contact", id=contact_id)
    return found


def _existing_contact_refusals(contact_id: str) -> Refusals:
    def unknown() -> ServiceValidationError:
        # Removed in between, on the PBX or by another action.
        return validation_error("unknown_contact", id=contact_id)

    def private() -> ServiceValidationError:
        # Made private in between, or read without a type.
        return validation_error("private_contact", id=contact_id)

    return {**dict.fromkeys(_NO_SUCH_CONTACT, unknown), _PRIVATE_CONTACT: private}


async def _async_change[T](
    entry: KalliopeConfigEntry,
    key: str,
    note: ChangeNote,
    write: Callable[[], Awaitable[T]],
    refusals: Refusals,
    check: Callable[[T], Awaitable[None]] | None = None,
) -> T:
    """A contact change through the configuration lock; names looked up afresh.

    The phonebook errors in `refusals` become their own translated messages
    instead of the generic PBX error.
    """
    runtime = entry.runtime_data
    try:
        return await runtime.changes.async_change(
            key=key, note=note, write=write, check=check
        )
    except HomeAssistantError as err:
        cause = err.__cause__
        if (
            isinstance(cause, KalliopeApiError)
            and cause.code in refusals
            # The phonebook's own codes: not those of pending or apply.
            and " /phonebook/" in cause.endpoint
        ):
            refused = refusals[cause.code]()
            raise refused from err
        raise
    finally:
        # A name cached before the change may be wrong now.
        runtime.live.names.clear()


async def _add_contact(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    await async_require_admin(hass, call.context)
    fields = _requested_fields(dict(call.data), new=True)
    owner: str | None = call.data.get(ATTR_OWNER)
    if owner is not None:
        owner = owner.strip()
        if not _OWNER.fullmatch(owner):
            raise _invalid(ATTR_OWNER)
    entry = resolve_entry(hass, call)
    runtime = entry.runtime_data
    if (
        owner is not None
        and owner != SYSTEM_OWNER
        and not runtime.is_pbx_extension(owner)
    ):
        # Refused before the lock and the write: the PBX's answer would be
        # its error 11.
        raise validation_error("unknown_contact_owner", owner=owner)
    client = runtime.client
    contact = ContactInput(owner=owner, **fields)

    def owner_refused() -> ServiceValidationError:
        # An extension removed since the last poll, or one the PBX will not
        # give private contacts.
        return validation_error("contact_owner_refused", owner=owner or SYSTEM_OWNER)

    # The PBX answers an added contact without its id: it is the one contact
    # matching these fields that was not there before (both searches under
    # the lock, so no other change of ours comes in between).
    same = PhonebookFilter(
        first_name=fields["first_name"],
        last_name=fields["last_name"],
        phone=fields["phone"],
    )
    before: set[str] = set()
    added: list[str] = []

    async def add() -> None:
        before.update(c.id for c in await client.search_phonebook(same))
        await client.add_contact(contact)

    async def find_new(_: None) -> None:
        try:
            found = await client.search_phonebook(same)
        except KalliopeError:
            # Added and applied: only its id is not known.
            return
        added.extend(c.id for c in found if c.id not in before)

    await _async_change(
        entry,
        "contact:new",
        # No names: the repair issue and storage need none.
        ChangeNote("change_contact_added"),
        add,
        {_INVALID_OWNER: owner_refused},
        check=find_new,
    )
    return {"id": added[0] if len(added) == 1 else None}


async def _update_contact(hass: HomeAssistant, call: ServiceCall) -> None:
    changes = _requested_fields(dict(call.data), new=False)
    entry = resolve_entry(hass, call)
    contact_id: str = call.data[ATTR_ID]
    client = entry.runtime_data.client

    async def update() -> None:
        # Read under the lock: the reference's PUT is a whole contact (a
        # mandatory field left out is its error 12), so what is not changed
        # is sent as the PBX has it at this moment.
        current = await _changeable_contact(client, contact_id)
        merged = {name: getattr(current, name) for name in CONTACT_FIELDS}
        merged.update(changes)
        await client.update_contact(
            ContactInput(
                id=contact_id,
                **{name: value for name, value in merged.items() if value is not None},
            )
        )

    await _async_change(
        entry,
        f"contact:{contact_id}",
        ChangeNote("change_contact_changed", {"id": contact_id}),
        update,
        _existing_contact_refusals(contact_id),
    )


async def _delete_contact(hass: HomeAssistant, call: ServiceCall) -> None:
    entry = resolve_entry(hass, call)
    contact_id: str = call.data[ATTR_ID]
    client = entry.runtime_data.client

    async def delete() -> None:
        await _changeable_contact(client, contact_id)
        await client.delete_contact(contact_id)

    await _async_change(
        entry,
        f"contact:{contact_id}",
        ChangeNote("change_contact_removed", {"id": contact_id}),
        delete,
        _existing_contact_refusals(contact_id),
    )


@callback
def async_setup_phonebook_services(hass: HomeAssistant) -> None:
    """Register the phonebook editing actions."""
    # Admin-only, but not through `async_register_admin_service`: that helper
    # registers no response, and this action answers with the new id.
    hass.services.async_register(
        DOMAIN,
        SERVICE_ADD_CONTACT,
        bind(hass, _add_contact),
        ADD_CONTACT_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_UPDATE_CONTACT,
        bind(hass, _update_contact),
        UPDATE_CONTACT_SCHEMA,
    )
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_DELETE_CONTACT,
        bind(hass, _delete_contact),
        DELETE_CONTACT_SCHEMA,
    )
