"""Answer parsers: PBX answer bytes to typed models.

Each `parse_*` takes the body and the endpoint, which every error names.
Entries without their identifying element are skipped, secrets dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypedDict

from .decode import (
    BOM,
    as_list,
    child,
    decode_document,
    decode_json,
    flag,
    integer,
    number,
    text,
)
from .envelope import ROOT, check_error, parse_response, require
from .errors import KalliopeResponseError
from .models import (
    CallGroup,
    CallGroupMember,
    CallGroupPriority,
    Conference,
    Contact,
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
    Registration,
    RegistrationStatus,
    UserBrief,
    UserConfig,
    VoicemailCount,
    parse_enum,
)

LICENSE_NOT_REQUIRED_CODE = 10
LICENSE_MISSING_CODE = 11

# ---------------------------------------------------------------- salt and dashboard


def parse_salt(body: bytes, endpoint: str) -> str | None:
    """The tenant salt from a JSON or XML answer; None when there is none."""
    stripped = body.strip().removeprefix(BOM)
    if stripped.startswith(b"{"):
        try:
            data = decode_json(stripped)
        except ValueError:
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
        data = decode_json(stripped)
    except ValueError:
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


def _parse_list[T](
    body: bytes,
    endpoint: str,
    container: str,
    element: str,
    parse_one: Callable[[Any], T | None],
) -> list[T]:
    """`<container><element>...` answers; elements without their id are skipped."""
    content = parse_response(body, endpoint)
    items = as_list(child(require(content, container, endpoint), element))
    return [model for model in map(parse_one, items) if model is not None]


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
    return _parse_list(body, endpoint, "registrations", "registration", _registration)


class _UserFields(TypedDict):
    exten: str
    enabled: bool
    first_name: str | None
    last_name: str | None


def _user_fields(node: Any) -> _UserFields | None:
    """What the brief and the full configuration of a user both carry."""
    exten = text(child(node, "exten"))
    if exten is None:
        return None
    enabled = flag(child(node, "enabled"))
    return _UserFields(
        exten=exten,
        enabled=enabled if enabled is not None else True,
        first_name=text(child(node, "first_name")),
        last_name=text(child(node, "last_name")),
    )


def _user_brief(node: Any) -> UserBrief | None:
    fields = _user_fields(node)
    return UserBrief(**fields) if fields is not None else None


def parse_users_brief(body: bytes, endpoint: str) -> list[UserBrief]:
    """`GET /users/brief/[<exten>]`."""
    return _parse_list(body, endpoint, "users", "user", _user_brief)


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
    fields = _user_fields(node)
    if fields is None:
        return None
    return UserConfig(
        **fields,
        phonebook_manager=bool(flag(child(node, "phonebook_manager"))),
        vm_enabled=bool(flag(child(node, "vm_enabled"))),
        vm_email=text(child(node, "vm_email")),
        vm_attach_enabled=bool(flag(child(node, "vm_attach_enabled"))),
        vm_message_delete=bool(flag(child(node, "vm_message_delete"))),
        failover=parse_failover(child(node, "failover")),
    )


def parse_users_configs(body: bytes, endpoint: str) -> list[UserConfig]:
    """`GET /users/configs/[<exten>]`; secrets are dropped here."""
    return _parse_list(body, endpoint, "configs", "config", _user_config)


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
    return _parse_list(body, endpoint, "callgroups", "callgroup", _callgroup)


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
