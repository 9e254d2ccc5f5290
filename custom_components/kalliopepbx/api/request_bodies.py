"""Request builders: typed models to `<kpbx_request>` bodies.

Every string is checked for characters XML 1.0 cannot carry and escaped by
the XML writer, so no value can change a request's structure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import re
from typing import Any

import xmltodict

from .errors import KalliopeInputError
from .models import (
    CallGroupPriority,
    Click2CallType,
    ContactInput,
    Failover,
    FailoverType,
    PhonebookFilter,
    UserUpdate,
)

# An extension as a call group member: digits, and the keypad's `*` and `#`.
_MEMBER_EXTEN = re.compile(r"[0-9*#]{1,32}")
# The reference's `-1`: a system contact; otherwise the owning extension.
_CONTACT_OWNER = re.compile(r"-1|[0-9*#]{1,32}")
# Characters XML 1.0 cannot carry at all, even escaped.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def check_xml_text(value: str, field_name: str) -> str:
    """Refuse characters XML cannot carry (escaping handles the rest)."""
    if _XML_INVALID.search(value):
        raise KalliopeInputError(f"{field_name} contains characters XML cannot carry")
    return value


def _clean(node: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    """Drop None values and check every string, keeping element order."""
    cleaned: dict[str, Any] = {}
    for key, value in node.items():
        if value is None:
            continue
        name = f"{path}/{key}"
        if isinstance(value, Mapping):
            cleaned[key] = _clean(value, name)
        elif isinstance(value, list):
            cleaned[key] = [
                _clean(item, name) if isinstance(item, Mapping) else item
                for item in value
            ]
        elif isinstance(value, bool):
            cleaned[key] = "true" if value else "false"
        else:
            cleaned[key] = check_xml_text(str(value), name)
    return cleaned


def build_request(content: Mapping[str, Any], request_id: str | None = None) -> bytes:
    """A `<kpbx_request>` body; every value is escaped by the XML writer."""
    body: dict[str, Any] = {}
    if request_id is not None:
        body["request_id"] = check_xml_text(request_id, "request_id")
    body.update(_clean(content))
    document: str = xmltodict.unparse(
        {"kpbx_request": body or None}, encoding="utf-8", full_document=True
    )
    # A parser reads a raw CR as a line feed: only a reference keeps it.
    return document.replace("\r", "&#13;").encode("utf-8")


def failover_node(failover: Failover) -> dict[str, Any]:
    """The `<failover>` element of a user or call group change."""
    return {
        "intro": failover.intro,
        "type": failover.type_raw
        if failover.type is FailoverType.UNKNOWN and failover.type_raw
        else failover.type.value,
        "destination": {
            "name": failover.destination_name,
            "value": failover.destination,
            "gateway_type": failover.gateway_type.value
            if failover.gateway_type
            else None,
            "gateway_id": failover.gateway_id,
            "gateway_name": failover.gateway_name,
        },
    }


def user_update_node(update: UserUpdate) -> dict[str, Any]:
    """`<user>` of `PUT /users/configs/<exten>`."""
    node = {
        "first_name": update.first_name,
        "last_name": update.last_name,
        "vm_enabled": update.vm_enabled,
        "vm_email": update.vm_email,
        "vm_attach_enabled": update.vm_attach_enabled,
        "vm_message_delete": update.vm_message_delete,
        "failover": failover_node(update.failover) if update.failover else None,
    }
    if all(value is None for value in node.values()):
        raise KalliopeInputError("a user update needs at least one field")
    return {"user": node}


def click2call_node(
    exten: str, number: str, call_type: Click2CallType
) -> dict[str, Any]:
    """`<click2call>`."""
    return {
        "click2call": {
            "exten": exten,
            "number_to_call": number,
            "type": call_type.value,
        }
    }


def _check_contact(contact: ContactInput, *, new: bool) -> None:
    """The reference's rules: first name, last name and phone are mandatory."""
    mandatory = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "phone": contact.phone,
    }
    for field_name, value in mandatory.items():
        # Missing on a new contact, or emptied on an existing one: error 12.
        if (value is None and new) or (value is not None and not value.strip()):
            raise KalliopeInputError(f"a contact needs a {field_name}")
    if contact.owner is not None:
        if not new:
            # The reference's PUT has no <owner>: a contact keeps its owner.
            raise KalliopeInputError("a contact's owner cannot be changed")
        if not _CONTACT_OWNER.fullmatch(contact.owner):
            raise KalliopeInputError(f"invalid contact owner: {contact.owner!r}")
    if not new and all(
        value is None
        for value in (
            contact.first_name,
            contact.last_name,
            contact.phone,
            contact.organization,
            contact.organizational_unit,
            contact.mail,
            contact.speed_dial,
        )
    ):
        raise KalliopeInputError("a contact update needs at least one field")


def contact_node(contact: ContactInput) -> dict[str, Any]:
    """`<contact>` of `POST`/`PUT /phonebook/contacts` (an id means PUT)."""
    _check_contact(contact, new=contact.id is None)
    return {
        "contact": {
            "id": contact.id,
            "owner": contact.owner,
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "organization": contact.organization,
            "organizational_unit": contact.organizational_unit,
            "phone": contact.phone,
            "mail": contact.mail,
            "speed_dial": contact.speed_dial,
        }
    }


def phonebook_filter_node(search: PhonebookFilter) -> dict[str, Any]:
    """`<filter>` of `POST /phonebook/search`."""
    if search.any is not None:
        return {"filter": {"any": search.any}}
    return {
        "filter": {
            "first_name": search.first_name,
            "last_name": search.last_name,
            "organization": search.organization,
            "organizational_unit": search.organizational_unit,
            "phone": search.phone,
            "mail": search.mail,
        }
    }


def _priorities_node(priorities: Sequence[CallGroupPriority]) -> dict[str, Any]:
    """`<priorities>`: every priority and member, in order; members by exten only."""
    seen_ids: set[str] = set()
    nodes: list[dict[str, Any]] = []
    for priority in priorities:
        if not priority.id.strip() or priority.id in seen_ids:
            raise KalliopeInputError(
                f"invalid or repeated priority id: {priority.id!r}"
            )
        seen_ids.add(priority.id)
        extens: list[str] = []
        for member in priority.members:
            if not _MEMBER_EXTEN.fullmatch(member.exten):
                raise KalliopeInputError(
                    f"invalid extension in priority {priority.id}: {member.exten!r}"
                )
            if member.exten in extens:
                raise KalliopeInputError(
                    f"extension {member.exten} twice in priority {priority.id}"
                )
            extens.append(member.exten)
        nodes.append(
            {
                "id": priority.id,
                # An empty <members/> still says "no members": never left out.
                "members": {"member": [{"exten": e} for e in extens]} if extens else "",
            }
        )
    return {"priority": nodes} if nodes else {}


def callgroup_node(
    *,
    name: str | None,
    timeout: int | None,
    selection: str | None,
    enabled: bool | None,
    priorities: Sequence[CallGroupPriority],
) -> dict[str, Any]:
    """`<callgroup>` of `POST /pbx/callgroups` and `PUT /pbx/callgroups/<id>`.

    The members are always sent in full: the PBX replaces them with the
    request's. The reference's request has no failover, so none is sent.
    """
    if name is not None and not name.strip():
        raise KalliopeInputError("a call group needs a name")
    if timeout is not None and (isinstance(timeout, bool) or timeout < 1):
        raise KalliopeInputError(f"invalid call group timeout: {timeout!r}")
    if selection and not _MEMBER_EXTEN.fullmatch(selection):
        raise KalliopeInputError(f"invalid call group selection: {selection!r}")
    return {
        "callgroup": {
            "name": name,
            "timeout": timeout,
            "selection": selection,
            "enabled": enabled,
            "priorities": _priorities_node(priorities),
        }
    }


def backup_node(
    name: str, description: str | None, *, phonebook: bool, sounds: bool
) -> dict[str, Any]:
    """`<backup>` of `POST /system/backup/create`; the name is mandatory."""
    if not name.strip():
        raise KalliopeInputError("a backup needs a name")
    return {
        "backup": {
            "name": name,
            "description": description,
            "includes": {"phonebook": phonebook, "sounds": sounds},
        }
    }
