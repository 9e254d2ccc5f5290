"""XML request building and response parsing for the KalliopePBX REST API.

Parsing is tolerant of what real answers look like (one-element and empty
lists, empty elements, `12 ms` numbers, unknown elements, BOM and CRLF,
latin-1 bodies) and strict about what could hurt: a document type
declaration (entity expansion) is refused before the parser sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
import json
import math
import re
from typing import Any
from xml.parsers import expat
from xml.parsers.expat import ExpatError

import xmltodict

from .errors import (
    KalliopeApiError,
    KalliopeInputError,
    KalliopeLicenseError,
    KalliopeResponseError,
)
from .models import (
    CallGroup,
    CallGroupMember,
    CallGroupPriority,
    Click2CallType,
    Conference,
    Contact,
    ContactInput,
    ContactType,
    Failover,
    FailoverType,
    FirmwareInfo,
    FirmwareSlot,
    FirmwareUpdateState,
    FirmwareUpdateStatus,
    GatewayType,
    LicenseInfo,
    LicenseStatus,
    PhonebookFilter,
    Registration,
    RegistrationStatus,
    UserBrief,
    UserConfig,
    UserUpdate,
    VoicemailCount,
    parse_enum,
)

type Node = Mapping[str, Any]

ROOT = "kpbx_response"
_BOM = b"\xef\xbb\xbf"
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
# Characters XML 1.0 cannot carry at all, even escaped.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")

LICENSE_NOT_REQUIRED_CODE = 10
LICENSE_MISSING_CODE = 11

# ---------------------------------------------------------------- primitives


def as_list(node: Any) -> list[Any]:
    """A repeated element as a list, whether xmltodict saw zero, one or many."""
    if node is None or isinstance(node, str):
        return []
    if isinstance(node, list):
        return [item for item in node if item is not None]
    return [node]


def text(node: Any) -> str | None:
    """Stripped text of an element; None when empty or missing."""
    # A loop, not recursion: a JSON answer can nest lists thousands deep.
    while isinstance(node, list | Mapping):
        if isinstance(node, list):
            node = node[0] if node else None
        else:
            node = node.get("#text")
    if node is None:
        return None
    value = str(node).strip()
    return value or None


def flag(node: Any) -> bool | None:
    """`true`/`false` (and friends) as a bool; None when empty or unknown."""
    value = text(node)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    return None


def number(node: Any) -> float | None:
    """The first number in an element, e.g. `12 ms` → 12.0; None when none."""
    value = text(node)
    if value is None:
        return None
    match = _NUMBER.search(value)
    if match is None:
        return None
    result = float(match.group().replace(",", "."))
    # 400 nines are infinity, which no count or port can be.
    return result if math.isfinite(result) else None


def integer(node: Any) -> int | None:
    """An integer element; None when empty or not a number."""
    value = number(node)
    return int(value) if value is not None else None


def timestamp(node: Any) -> datetime | None:
    """A PBX `YYYY-MM-DD hh:mm:ss` time (naive, PBX local); None when empty."""
    value = text(node)
    if value is None:
        return None
    for time_format in _TIME_FORMATS:
        try:
            return datetime.strptime(value, time_format)  # noqa: DTZ007
        except ValueError:
            continue
    return None


def child(node: Any, name: str) -> Any:
    """A child element, or None when `node` is not an element with children."""
    if isinstance(node, Mapping):
        return node.get(name)
    return None


# ---------------------------------------------------------------- documents


def _refuse_dtd(*_: object) -> None:
    raise ExpatError("document type declarations refused")


# The reference's answers nest about 6 deep. A hostile document nested a
# million deep would otherwise cost hundreds of MB while xmltodict builds it.
MAX_XML_DEPTH = 64


class _DepthLimitedParser:
    """An expat parser whose element handlers refuse nesting past `MAX_XML_DEPTH`."""

    __slots__ = ("_depth", "_parser")

    def __init__(self, parser: expat.XMLParserType) -> None:
        object.__setattr__(self, "_parser", parser)
        object.__setattr__(self, "_depth", [0])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)

    def __setattr__(self, name: str, value: Any) -> None:
        depth: list[int] = self._depth
        if name == "StartElementHandler":
            start_inner = value

            def start(tag: str, attributes: Any) -> None:
                depth[0] += 1
                if depth[0] > MAX_XML_DEPTH:
                    raise ExpatError(f"elements nested deeper than {MAX_XML_DEPTH}")
                start_inner(tag, attributes)

            value = start
        elif name == "EndElementHandler":
            end_inner = value

            def end(tag: str) -> None:
                depth[0] -= 1
                end_inner(tag)

            value = end
        setattr(self._parser, name, value)


class _ExpatWithoutDtd:
    """`xml.parsers.expat` for xmltodict, with declarations refused by the parser.

    The byte check in `decode_document` cannot see a declaration in UTF-16;
    the parser sees it whatever the encoding.
    """

    @staticmethod
    def ParserCreate(  # noqa: N802 - the name xmltodict calls
        encoding: str | None = None, namespace_separator: str | None = None
    ) -> _DepthLimitedParser:
        parser = expat.ParserCreate(encoding, namespace_separator)
        parser.StartDoctypeDeclHandler = _refuse_dtd
        parser.EntityDeclHandler = _refuse_dtd
        return _DepthLimitedParser(parser)


def decode_document(body: bytes, endpoint: str) -> Any:
    """Parse an XML body into xmltodict's structure, refusing dangerous input."""
    data = body.lstrip()
    if data.startswith(_BOM):
        data = data[len(_BOM) :].lstrip()
    if not data:
        raise KalliopeResponseError(endpoint, "empty answer")
    if _DOCTYPE.search(data):
        raise KalliopeResponseError(endpoint, "document type declarations refused")
    if not data.startswith(b"<"):
        raise KalliopeResponseError(endpoint, "answer is not XML")
    try:
        return xmltodict.parse(data, disable_entities=True, expat=_ExpatWithoutDtd)
    except ExpatError as err:
        if "not well-formed" in str(err) or "encoding" in str(err):
            # Some firmwares send latin-1 without declaring it.
            try:
                return xmltodict.parse(
                    data.decode("latin-1"),
                    disable_entities=True,
                    expat=_ExpatWithoutDtd,
                )
            except (ExpatError, ValueError):
                pass
        if "no element found" in str(err) or "unclosed token" in str(err):
            raise KalliopeResponseError(endpoint, "answer is truncated") from err
        raise KalliopeResponseError(
            endpoint, f"answer is not well-formed XML ({err})"
        ) from err
    except (ValueError, LookupError) as err:
        # LookupError: an encoding declaration Python does not know.
        raise KalliopeResponseError(endpoint, f"answer is not XML ({err})") from err


def parse_response(body: bytes, endpoint: str) -> Node:
    """The `<kpbx_response>` content, with licence refusals raised."""
    return response_content(decode_document(body, endpoint), endpoint)


def response_content(document: Any, endpoint: str) -> Node:
    """`parse_response` for a document already decoded."""
    if not isinstance(document, Mapping) or ROOT not in document:
        root = next(iter(document), "?") if isinstance(document, Mapping) else "?"
        raise KalliopeResponseError(endpoint, f"unexpected root element <{root}>")
    content = document[ROOT]
    if content is None:
        return {}
    if not isinstance(content, Mapping):
        raise KalliopeResponseError(endpoint, "answer has no elements")
    refusal = content.get("request_not_allowed")
    if refusal is not None or "request_not_allowed" in content:
        error = child(refusal, "error")
        code = integer(child(error, "code"))
        raise KalliopeLicenseError(
            code if code is not None else 0,
            text(child(error, "message")) or "request not allowed",
            endpoint,
        )
    return content


def require(content: Node, name: str, endpoint: str) -> Any:
    """A mandatory element of an answer."""
    if name not in content:
        raise KalliopeResponseError(endpoint, f"answer lacks <{name}>")
    return content[name]


def check_error(node: Any, endpoint: str, *, key: str = "error") -> None:
    """Raise the PBX's error when `node` carries a non-zero code."""
    error = child(node, key)
    if error is None:
        return
    code = integer(child(error, "code"))
    if code is None:
        raise KalliopeResponseError(endpoint, "error element without a code")
    if code != 0:
        raise KalliopeApiError(code, text(child(error, "message")) or "", endpoint)


def parse_status_flag(content: Node, name: str, endpoint: str) -> bool:
    """A `<name>true|false</name>` answer (pending, applied, reloaded, ...)."""
    value = flag(require(content, name, endpoint))
    if value is None:
        raise KalliopeResponseError(endpoint, f"<{name}> is not true/false")
    return value


def parse_salt(body: bytes, endpoint: str) -> str | None:
    """The tenant salt from a JSON or XML answer; None when there is none."""
    stripped = body.strip().removeprefix(_BOM)
    if stripped.startswith(b"{"):
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError):
            return None
        salt = data.get("salt") if isinstance(data, dict) else None
        return str(salt).strip() or None if salt is not None else None
    try:
        document = decode_document(stripped, endpoint)
    except KalliopeResponseError:
        return None
    if not isinstance(document, Mapping):
        return None
    if ROOT in document:
        return text(child(document[ROOT], "salt"))
    return text(document.get("salt"))


def parse_json_value(body: bytes, keys: Iterable[str]) -> str | None:
    """A value from a small JSON (or plain text) answer of the 4.x dashboard."""
    stripped = body.strip()
    if not stripped:
        return None
    try:
        data = json.loads(stripped)
    except (ValueError, RecursionError):
        value = stripped.decode("utf-8", "replace").strip()
        return value if value and not value.startswith("<") else None
    if isinstance(data, str):
        return data.strip() or None
    if isinstance(data, dict):
        lowered = {str(k).lower(): v for k, v in data.items()}
        for key in keys:
            found = lowered.get(key.lower())
            if isinstance(found, str | int) and str(found).strip():
                return str(found).strip()
    return None


# ---------------------------------------------------------------- models


def _registration(node: Any) -> Registration | None:
    exten = text(child(node, "exten"))
    if exten is None:
        return None
    raw_status = text(child(node, "status"))
    port = integer(child(node, "port"))
    return Registration(
        exten=exten,
        status=parse_enum(
            RegistrationStatus, raw_status or "", RegistrationStatus.UNKNOWN
        ),
        status_raw=raw_status,
        rtt_ms=number(child(node, "rtt")),
        contact=text(child(node, "contact")),
        ip=text(child(node, "ip")),
        port=port,
        user_agent=text(child(node, "useragent")),
    )


def parse_registrations(body: bytes, endpoint: str) -> list[Registration]:
    """`GET /users/registrations/[<exten>]`."""
    content = parse_response(body, endpoint)
    items = as_list(child(require(content, "registrations", endpoint), "registration"))
    return [r for r in map(_registration, items) if r is not None]


def _user_brief(node: Any) -> UserBrief | None:
    exten = text(child(node, "exten"))
    if exten is None:
        return None
    enabled = flag(child(node, "enabled"))
    return UserBrief(
        exten=exten,
        enabled=enabled if enabled is not None else True,
        first_name=text(child(node, "first_name")),
        last_name=text(child(node, "last_name")),
    )


def parse_users_brief(body: bytes, endpoint: str) -> list[UserBrief]:
    """`GET /users/brief/[<exten>]`."""
    content = parse_response(body, endpoint)
    items = as_list(child(require(content, "users", endpoint), "user"))
    return [u for u in map(_user_brief, items) if u is not None]


def parse_failover(node: Any) -> Failover | None:
    """A `<failover>` element; None when absent or empty."""
    if not isinstance(node, Mapping):
        return None
    raw_type = text(node.get("type"))
    if raw_type is None:
        return None
    destination = node.get("destination")
    gateway_type = text(child(destination, "gateway_type"))
    return Failover(
        type=parse_enum(FailoverType, raw_type, FailoverType.UNKNOWN),
        destination=text(child(destination, "value")),
        destination_name=text(child(destination, "name")),
        gateway_type=(
            parse_enum(GatewayType, gateway_type, None) if gateway_type else None
        ),
        gateway_id=text(child(destination, "gateway_id")),
        gateway_name=text(child(destination, "gateway_name")),
        intro=text(node.get("intro")),
        type_raw=raw_type,
    )


def _user_config(node: Any) -> UserConfig | None:
    exten = text(child(node, "exten"))
    if exten is None:
        return None
    enabled = flag(child(node, "enabled"))
    return UserConfig(
        exten=exten,
        enabled=enabled if enabled is not None else True,
        first_name=text(child(node, "first_name")),
        last_name=text(child(node, "last_name")),
        phonebook_manager=bool(flag(child(node, "phonebook_manager"))),
        vm_enabled=bool(flag(child(node, "vm_enabled"))),
        vm_email=text(child(node, "vm_email")),
        vm_attach_enabled=bool(flag(child(node, "vm_attach_enabled"))),
        vm_message_delete=bool(flag(child(node, "vm_message_delete"))),
        failover=parse_failover(child(node, "failover")),
    )


def parse_users_configs(body: bytes, endpoint: str) -> list[UserConfig]:
    """`GET /users/configs/[<exten>]`; secrets are dropped here."""
    content = parse_response(body, endpoint)
    items = as_list(child(require(content, "configs", endpoint), "config"))
    return [c for c in map(_user_config, items) if c is not None]


def parse_voicemail_count(body: bytes, endpoint: str, mailbox: str) -> VoicemailCount:
    """`GET /voicemails/count/<mailbox>`."""
    content = parse_response(body, endpoint)
    items = as_list(child(require(content, "voicemails", endpoint), "voicemail"))
    if not items:
        # An empty <voicemails/> is a mailbox holding no message at all.
        return VoicemailCount(mailbox=mailbox, new=0, urgent=0, old=0)
    node = items[0]
    return VoicemailCount(
        mailbox=mailbox,
        new=integer(child(node, "new_messages")) or 0,
        urgent=integer(child(node, "urg_messages")) or 0,
        old=integer(child(node, "old_messages")) or 0,
    )


def parse_firmware(body: bytes, endpoint: str) -> FirmwareInfo:
    """`GET /system/firmware`."""
    node = require(parse_response(body, endpoint), "firmware", endpoint)
    running = text(child(node, "running"))
    return FirmwareInfo(
        primary=text(child(node, "primary")),
        secondary=text(child(node, "secondary")),
        running=parse_enum(FirmwareSlot, running, None) if running else None,
    )


def parse_firmware_update_status(body: bytes, endpoint: str) -> FirmwareUpdateState:
    """`GET /system/firmware/updatestatus`: codes 25-31 are states, not errors."""
    node = require(parse_response(body, endpoint), "update_status", endpoint)
    error = child(node, "error")
    code = integer(child(error, "code"))
    if code is None:
        raise KalliopeResponseError(endpoint, "update status without a code")
    try:
        status: FirmwareUpdateStatus | None = FirmwareUpdateStatus(code)
    except ValueError:
        status = None
    return FirmwareUpdateState(status, code, text(child(error, "message")))


def parse_license(body: bytes, endpoint: str) -> LicenseInfo:
    """`GET /license/pxbinstance`; error 10 means this model needs no licence."""
    node = require(parse_response(body, endpoint), "pbx_instance_license", endpoint)
    error = child(node, "error")
    if error is not None:
        code = integer(child(error, "code"))
        if code == LICENSE_NOT_REQUIRED_CODE:
            return LicenseInfo(LicenseStatus.NOT_REQUIRED)
        if code == LICENSE_MISSING_CODE:
            return LicenseInfo(LicenseStatus.MISSING)
        check_error(node, endpoint)
    raw_status = text(child(node, "license_status"))
    return LicenseInfo(
        status=parse_enum(LicenseStatus, raw_status or "", LicenseStatus.UNKNOWN),
        licensed_extensions=integer(child(node, "licensed_exten")),
        status_raw=raw_status,
    )


def _contact(node: Any) -> Contact | None:
    contact_id = text(child(node, "id"))
    if contact_id is None:
        return None
    contact_type = text(child(node, "type"))
    return Contact(
        id=contact_id,
        first_name=text(child(node, "first_name")),
        last_name=text(child(node, "last_name")),
        organization=text(child(node, "organization")),
        organizational_unit=text(child(node, "organizational_unit")),
        type=parse_enum(ContactType, contact_type, None) if contact_type else None,
        phone=text(child(node, "phone")),
        mail=text(child(node, "mail")),
        speed_dial=text(child(node, "speed_dial")),
    )


def parse_contacts(body: bytes, endpoint: str) -> list[Contact]:
    """`GET /phonebook/contacts[/<id>]`."""
    content = parse_response(body, endpoint)
    contacts = require(content, "contacts", endpoint)
    check_error(contacts, endpoint)
    return [c for c in map(_contact, as_list(child(contacts, "contact"))) if c]


def parse_contact_search(body: bytes, endpoint: str) -> list[Contact]:
    """`POST /phonebook/search`, whose answer the reference does not show.

    Accepted: `<contact>` elements inside any wrapper (`<contacts>` as in the
    contact list, or another name) or straight under the root, one or many;
    an answer without contacts is no match. An `<error>` with a non-zero
    code, on the root or a wrapper, is raised.
    """
    content = parse_response(body, endpoint)
    check_error(content, endpoint)
    nodes = as_list(content.get("contact"))
    for name, wrapper in content.items():
        for element in as_list(wrapper):
            if name != "contact":
                check_error(element, endpoint)
                nodes.extend(as_list(child(element, "contact")))
    for node in nodes:
        check_error(node, endpoint)
    return [c for c in map(_contact, nodes) if c]


def parse_result(
    body: bytes, endpoint: str, element: str, *, key: str = "error"
) -> None:
    """An answer that is only `<element><error><code>0</code>…`."""
    node = require(parse_response(body, endpoint), element, endpoint)
    if child(node, key) is None:
        raise KalliopeResponseError(endpoint, f"<{element}> carries no result code")
    check_error(node, endpoint, key=key)


def _callgroup(node: Any) -> CallGroup | None:
    group_id = text(child(node, "id"))
    if group_id is None:
        return None
    priorities = tuple(
        CallGroupPriority(
            id=text(child(priority, "id")) or str(index),
            members=tuple(
                CallGroupMember(exten, text(child(member, "display_name")))
                for member in as_list(child(child(priority, "members"), "member"))
                if (exten := text(child(member, "exten"))) is not None
            ),
        )
        for index, priority in enumerate(
            as_list(child(child(node, "priorities"), "priority")), start=1
        )
    )
    enabled = flag(child(node, "enabled"))
    return CallGroup(
        id=group_id,
        name=text(child(node, "name")),
        selection=text(child(node, "selection")),
        enabled=enabled if enabled is not None else True,
        timeout=integer(child(node, "timeout")),
        failover=parse_failover(child(node, "failover")),
        priorities=priorities,
    )


def parse_callgroups(body: bytes, endpoint: str) -> list[CallGroup]:
    """`GET /pbx/callgroups[/<id>]`."""
    content = parse_response(body, endpoint)
    items = as_list(child(require(content, "callgroups", endpoint), "callgroup"))
    return [g for g in map(_callgroup, items) if g is not None]


def parse_conferences(body: bytes, endpoint: str) -> list[Conference]:
    """`GET /pbx/conferences`; PINs are dropped here."""
    content = parse_response(body, endpoint)
    items = as_list(child(require(content, "conferences", endpoint), "conference"))
    conferences = []
    for node in items:
        name = text(child(node, "name"))
        if name is None:
            continue
        selection = child(node, "selection")
        conferences.append(
            Conference(
                name=name,
                enabled=bool(flag(child(node, "enabled"))),
                internal_selection=text(child(selection, "internal")),
                external_selection=text(child(selection, "external")),
            )
        )
    return conferences


# ---------------------------------------------------------------- requests


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


type Parser[T] = Callable[[bytes, str], T]
