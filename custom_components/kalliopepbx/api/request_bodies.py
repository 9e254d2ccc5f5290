"""Request builders: typed models to `<kpbx_request>` bodies.

Every string is checked for characters XML 1.0 cannot carry and escaped by
the XML writer, so no value can change a request's structure.
"""

from __future__ import annotations

from collections.abc import Mapping
import re
from typing import Any

import xmltodict

from .errors import KalliopeInputError
from .models import (
    Click2CallType,
    ContactInput,
    Failover,
    FailoverType,
    PhonebookFilter,
    UserUpdate,
)

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


def contact_node(contact: ContactInput) -> dict[str, Any]:
    """`<contact>` of `POST`/`PUT /phonebook/contacts`."""
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
