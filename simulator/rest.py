"""The `/rest/` handlers, one per route of the reference (plus the 4.x ones).

Every handler answers HTTP 200 with `<kpbx_response>`; API-level errors are
`<error><code>` values. Authentication, licence gating, latency and faults
are handled before a handler runs (see `app.py`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
import json
import re
from typing import Any
from xml.etree.ElementTree import Element

from aiohttp import web

from . import cdr as cdrmod
from .backup import backup_chunks
from .state import (
    BACKUP_ERRORS,
    EXTEN_RE,
    FAILOVER_TYPES,
    UPDATE_IN_PROGRESS,
    UPDATE_STATUS_MESSAGES,
    Callgroup,
    Contact,
    Extension,
    Failover,
    PbxState,
    Priority,
    default_failover,
)
from .xml_in import parse_xml, request_parts, text
from .xml_out import (
    CONTENT_TYPE,
    cached_document,
    callgroup_xml,
    conference_xml,
    contact_xml,
    document,
    el,
    error,
    esc,
    single_extension,
    wrap_list,
)

STATE_KEY = web.AppKey("state", PbxState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

USER_MESSAGES = {
    0: "Success",
    10: "Invalid user request",
    11: "User already exists",
    12: "One or more required field missing",
    13: "Licensed extensions number reached",
    14: "User not saved",
    15: "User does not exist",
    16: "Empty request",
}
CALLGROUP_MESSAGES = {
    0: "Success",
    10: "Invalid callgroup request",
    12: "One or more required field missing",
    13: "Licensed callgroup number reached",
    14: "Callgroup not saved",
    15: "Callgroup not exists",
    16: "Empty request",
    17: "Callgroup not deleted",
}
CONTACT_MESSAGES = {
    0: "Success",
    10: "Invalid contact request",
    11: "Invalid owner for user",
    12: "One or more required field missing",
    13: "Contact not saved",
    14: "Invalid contact ID",
    15: "Contact not found",
    17: "Admin can not handle private contact",
    18: "Contact not deleted",
    19: "Invalid filter request",
}
CLICK2CALL_MESSAGES = {
    0: "Success",
    10: "Error",
    11: "Missing extension tag",
    12: "Missing number to call tag",
}
UPDATE_MESSAGES = {
    0: "Success",
    12: "One or more required field missing",
    18: "Invalid firmware update request",
    19: "Invalid version format",
    20: "Firmware update already in progress",
}
LICENSE_MESSAGES = {
    0: "Success",
    10: "Invalid part number for request",
    11: "No license present",
    12: "Invalid PBX instance license request",
    13: "Activation key field missing",
    17: "License activation failed",
}
FIRMWARE_MESSAGES = {
    0: "Success",
    13: "System running from primary firmware",
    14: "System running from secondary firmware",
}
CONTACT_FIELDS = (
    "first_name",
    "last_name",
    "organization",
    "organizational_unit",
    "phone",
    "mail",
    "speed_dial",
)
SEARCH_FIELDS = (
    "first_name",
    "last_name",
    "organization",
    "organizational_unit",
    "phone",
    "mail",
)
USER_TEXT_FIELDS = ("sip_secret", "first_name", "last_name", "vm_secret", "vm_email")
USER_REQUIRED_TEXT = frozenset({"sip_secret", "first_name", "last_name"})
USER_BOOL_FIELDS = (
    "enabled",
    "phonebook_manager",
    "vm_enabled",
    "vm_attach_enabled",
    "vm_message_delete",
)
_VERSION = re.compile(r"^\d+\.\d+\.\d+-\d{4}$")
_PHONE = re.compile(r"^\+?[0-9]{2,20}$")
_ACTIVATION_KEY = re.compile(r"^[A-Za-z0-9-]{8,64}$")

NETWORK_INTERFACES = (
    (0, True, "eth0", "192.168.1.10", "255.255.255.0"),
    (1, False, "eth1", "0.0.0.0", "0.0.0.0"),  # noqa: S104 - reported data, not a bind
)


# ---------------------------------------------------------------- helpers


def state_of(request: web.Request) -> PbxState:
    return request.app[STATE_KEY]


def query_rid(request: web.Request) -> str | None:
    return request.query.get("request_id") or None


def xml_reply(body: bytes, status: int = 200) -> web.Response:
    return web.Response(
        body=body, status=status, headers={"Content-Type": CONTENT_TYPE}
    )


def reply(inner: str, request_id: str | None) -> web.Response:
    return xml_reply(document(inner, request_id))


def wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def wants_csv(request: web.Request) -> bool:
    return "text/csv" in request.headers.get("Accept", "")


async def read_request(
    request: web.Request, tag: str
) -> tuple[Element | None, str | None]:
    """(`<kpbx_request>`'s `<tag>` child, request_id); (None, …) when the body
    is missing, malformed or has no such child."""
    root = parse_xml(await request.read())
    elem, request_id = request_parts(root, tag)
    return elem, request_id or query_rid(request)


def coded(
    wrapper: str, messages: dict[int, str], tag: str = "error"
) -> Callable[[int, str | None], web.Response]:
    def answer(code: int, request_id: str | None) -> web.Response:
        return reply(error(wrapper, code, messages[code], tag), request_id)

    return answer


user_answer = coded("user", USER_MESSAGES)
callgroup_answer = coded("callgroup", CALLGROUP_MESSAGES)
contact_answer = coded("contact", CONTACT_MESSAGES)
click2call_answer = coded("click2call", CLICK2CALL_MESSAGES, tag="error_code")
update_answer = coded("update", UPDATE_MESSAGES)
license_answer = coded("pbx_instance_license", LICENSE_MESSAGES)


def parse_bool(value: str) -> bool | None:
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def parse_failover(
    state: PbxState,
    elem: Element,
    current: Failover,
    *,
    owner: Extension | None = None,
    group_id: str | None = None,
) -> Failover | None:
    """A validated failover from a request's `<failover>`; None when the PBX
    would refuse it. `<name>` and `<gateway_name>` are ignored: the PBX
    derives them."""
    kind = text(elem, "type")
    if not kind or kind not in FAILOVER_TYPES:
        return None
    intro = text(elem, "intro")
    if intro is None:
        intro = current.intro
    dest = elem.find("destination")
    value = text(dest, "value") or ""
    if kind == "HANGUP":
        return Failover(intro=intro)
    if kind == "FORWARD_TO_EXTERNAL_NUMBER":
        gateway_id = text(dest, "gateway_id") or ""
        gateway_type = text(dest, "gateway_type") or ""
        gateway = state.gateways.get(int(gateway_id)) if gateway_id.isdigit() else None
        if gateway is None or not _PHONE.match(value):
            return None
        if gateway_type and gateway_type != gateway.type:
            return None
        return Failover(kind, value, intro, gateway.type, str(gateway.id))
    valid = False
    if kind == "FORWARD_TO_EXTEN":
        valid = value in state.extensions and (owner is None or value != owner.exten)
    elif kind == "FORWARD_TO_VOICEMAIL":
        target = (
            owner
            if owner is not None and value == owner.exten
            else state.extensions.get(value)
        )
        valid = target is not None and target.vm_enabled
    elif kind.startswith("FORWARD_TO_CALLGROUP"):
        valid = value in state.callgroups and value != group_id
    elif kind.startswith("FORWARD_TO_QUEUE"):
        valid = value in state.queues
    elif kind == "FORWARD_TO_IVR":
        valid = value in state.ivrs
    elif kind == "FORWARD_TO_CHECKTIME":
        valid = value in state.checktimes
    return Failover(kind, value, intro) if valid else None


def user_changes(state: PbxState, base: Extension, elem: Element) -> Extension | None:
    """`base` with the `<user>` element's tags applied; None if one is invalid."""
    changes: dict[str, Any] = {}
    for tag in USER_TEXT_FIELDS:
        value = text(elem, tag)
        if value is not None:
            if tag in USER_REQUIRED_TEXT and not value:
                return None
            changes[tag] = value
    for tag in USER_BOOL_FIELDS:
        value = text(elem, tag)
        if value is not None:
            flag = parse_bool(value)
            if flag is None:
                return None
            changes[tag] = flag
    candidate = replace(base, **changes)
    failover_elem = elem.find("failover")
    if failover_elem is not None:
        failover = parse_failover(
            state, failover_elem, candidate.failover, owner=candidate
        )
        if failover is None:
            return None
        candidate = replace(candidate, failover=failover)
    return candidate


# ---------------------------------------------------------------- /system


async def firmware(request: web.Request) -> web.Response:
    state = state_of(request)
    return reply(
        f"<firmware>{el('primary', state.firmware_primary)}"
        f"{el('secondary', state.firmware_secondary)}"
        f"<running>{state.firmware_running}</running></firmware>",
        query_rid(request),
    )


async def firmware_update_status(request: web.Request) -> web.Response:
    state = state_of(request)
    code = state.update_status
    return reply(
        error("update_status", code, UPDATE_STATUS_MESSAGES[code]), query_rid(request)
    )


async def firmware_update(request: web.Request) -> web.Response:
    state = state_of(request)
    elem, rid = await read_request(request, "update")
    if elem is None:
        return update_answer(18, rid)
    version = text(elem, "firmware_version")
    if not version:
        return update_answer(12, rid)
    if not _VERSION.match(version):
        return update_answer(19, rid)
    if state.update_status in UPDATE_IN_PROGRESS:
        return update_answer(20, rid)
    state.update_status = 26
    return update_answer(0, rid)


async def reboot_secondary(request: web.Request) -> web.Response:
    state = state_of(request)
    _, rid = await read_request(request, "reboot_secondary")
    code = 14 if state.firmware_running == "secondary" else 0
    if code == 0:
        state.firmware_running = "secondary"
    return reply(error("reboot_secondary", code, FIRMWARE_MESSAGES[code]), rid)


async def promote_secondary(request: web.Request) -> web.Response:
    state = state_of(request)
    _, rid = await read_request(request, "promote_secondary")
    code = 13 if state.firmware_running == "primary" else 0
    if code == 0:
        state.firmware_primary, state.firmware_secondary = (
            state.firmware_secondary,
            state.firmware_primary,
        )
        state.firmware_running = "primary"
    return reply(error("promote_secondary", code, FIRMWARE_MESSAGES[code]), rid)


async def restore_primary(request: web.Request) -> web.Response:
    state = state_of(request)
    _, rid = await read_request(request, "restore_primary")
    code = 13 if state.firmware_running == "primary" else 0
    if code == 0:
        state.firmware_running = "primary"
    return reply(error("restore_primary", code, FIRMWARE_MESSAGES[code]), rid)


def _flag(element: str, action: Callable[[PbxState], None] | None = None) -> Handler:
    """A PUT that answers `<element>true</element>`."""

    async def handler(request: web.Request) -> web.Response:
        state = state_of(request)
        _, rid = await read_request(request, element)
        if action is not None:
            action(state)
        return reply(f"<{element}>true</{element}>", rid)

    return handler


def _count_reload(state: PbxState) -> None:
    state.reload_count += 1


def _count_restart(state: PbxState) -> None:
    state.restart_count += 1


pbxengine_reload = _flag("pbxengine_reloaded", _count_reload)
pbxengine_restart = _flag("pbxengine_restarted", _count_restart)


def _power_off(state: PbxState, reason: str) -> None:
    if reason == "restarting":
        state.system_restarts += 1
        state.power_off(reason, state.restart_down_s)
    else:
        state.system_halts += 1
        state.power_off(reason, state.halt_down_s)


def _power(element: str, reason: str) -> Handler:
    """Answer true, then go unreachable: the answer leaves before the reboot."""

    async def handler(request: web.Request) -> web.Response:
        state = state_of(request)
        _, rid = await read_request(request, element)
        response = reply(f"<{element}>true</{element}>", rid)
        # Later requests, on this connection or another, meet a PBX that is down.
        _power_off(state, reason)
        response.force_close()
        return response

    return handler


system_restart = _power("system_restarted", "restarting")
system_halt = _power("system_halted", "halted")


async def _still_connected_after(request: web.Request, seconds: float) -> bool:
    """Wait `seconds`; False as soon as the client has hung up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        if request.transport is None or request.transport.is_closing():
            return False
        await asyncio.sleep(min(left, 0.05))
    return True


async def backup_create(request: web.Request) -> web.StreamResponse:
    """The backup file as `application/octet-stream`, streamed; or an XML error."""
    state = state_of(request)
    elem, rid = await read_request(request, "backup")
    if elem is None:
        code: int | None = 10
    elif not text(elem, "name"):
        code = 12
    else:
        # Built whole (or failing to be) before the first byte is sent.
        if not await _still_connected_after(request, state.backup_delay_s):
            # The client gave up waiting: no one to answer (aiohttp drops it).
            return web.Response(status=503)
        code = state.backup_error
    if code is not None:
        answer = reply(error("backup", code, BACKUP_ERRORS[code]), rid)
        answer.headers["Content-Type"] = state.backup_error_content_type
        return answer
    state.backups_created += 1
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    if state.backup_disposition is not None:
        response.headers["Content-Disposition"] = state.backup_disposition
    response.content_length = state.backup_size
    await response.prepare(request)
    for index, chunk in enumerate(backup_chunks(state.backup_size)):
        if index and not await _still_connected_after(
            request, state.backup_chunk_delay_s
        ):
            # Stopped by the client: the rest would go nowhere.
            return response
        await response.write(chunk)
    await response.write_eof()
    return response


pbx_apply = _flag("pbx_applied", PbxState.apply)
pbx_revert = _flag("pbx_reverted", PbxState.revert)


async def network_interfaces(request: web.Request) -> web.Response:
    rid = query_rid(request)
    if request.method == "POST":
        _, rid = await read_request(request, "interfaces")
    items = "".join(
        f"<interface><id>{i}</id><enabled>{'true' if on else 'false'}</enabled>"
        f"<name>{name}</name><ip_address>{ip}</ip_address><netmask>{mask}</netmask>"
        "</interface>"
        for i, on, name, ip, mask in NETWORK_INTERFACES
    )
    return reply(f"<interfaces>{items}</interfaces>", rid)


async def network_dns(request: web.Request) -> web.Response:
    return reply("<dns><ip_address>192.168.1.1</ip_address></dns>", query_rid(request))


async def network_routes(request: web.Request) -> web.Response:
    return reply(
        "<routes><route><id>1</id><enabled>true</enabled>"
        "<destination>0.0.0.0/0</destination><gateway>192.168.1.1</gateway>"
        "</route></routes>",
        query_rid(request),
    )


# ---------------------------------------------------------------- /license


async def license_get(request: web.Request) -> web.Response:
    state = state_of(request)
    rid = query_rid(request)
    if state.license_status == "NOT_REQUIRED":
        return license_answer(10, rid)
    if state.license_status == "MISSING":
        return license_answer(11, rid)
    return reply(
        f"<pbx_instance_license><license_status>{state.license_status}</license_status>"
        f"<licensed_exten>{state.licensed_exten}</licensed_exten></pbx_instance_license>",
        rid,
    )


async def license_post(request: web.Request) -> web.Response:
    state = state_of(request)
    elem, rid = await read_request(request, "pbx_instance_license")
    if state.license_status == "NOT_REQUIRED":
        return license_answer(10, rid)
    if elem is None:
        return license_answer(12, rid)
    key = text(elem, "activation_key")
    if not key:
        return license_answer(13, rid)
    if not _ACTIVATION_KEY.match(key):
        return license_answer(17, rid)
    state.set_license("ACTIVE")
    return license_answer(0, rid)


# ---------------------------------------------------------------- /users


def _cached(kind: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return xml_reply(cached_document(state_of(request), kind, query_rid(request)))

    return handler


def _single(kind: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        inner = single_extension(state_of(request), kind, request.match_info["exten"])
        return reply(inner, query_rid(request))

    return handler


registrations_all = _cached("registrations")
registration_one = _single("registrations")
brief_all = _cached("brief")
brief_one = _single("brief")
configs_all = _cached("configs")
config_one = _single("configs")


async def config_add(request: web.Request) -> web.Response:
    state = state_of(request)
    elem, rid = await read_request(request, "user")
    if elem is None:
        return user_answer(10, rid)
    required = {
        tag: text(elem, tag)
        for tag in ("exten", "sip_secret", "first_name", "last_name")
    }
    if not all(required.values()):
        return user_answer(12, rid)
    exten = required["exten"] or ""
    if exten in state.extensions:
        return user_answer(11, rid)
    if (
        state.license_status == "ACTIVE"
        and len(state.extensions) >= state.licensed_exten
    ):
        return user_answer(13, rid)
    if not EXTEN_RE.match(exten):
        return user_answer(14, rid)
    base = Extension(exten=exten, first_name="", last_name="", sip_secret="")
    candidate = user_changes(state, base, elem)
    if candidate is None:
        return user_answer(14, rid)
    if elem.find("failover") is None:
        candidate = replace(
            candidate, failover=default_failover(exten, candidate.vm_enabled)
        )
    state.save_extension(candidate)
    return user_answer(0, rid)


async def config_update(request: web.Request) -> web.Response:
    state = state_of(request)
    exten = request.match_info["exten"]
    elem, rid = await read_request(request, "user")
    if elem is None:
        return user_answer(10, rid)
    current = state.extensions.get(exten)
    if current is None:
        return user_answer(15, rid)
    if len(elem) == 0:
        return user_answer(16, rid)
    named = text(elem, "exten")
    if named is not None and named != exten:
        return user_answer(14, rid)  # renumbering is not offered
    candidate = user_changes(state, current, elem)
    if candidate is None:
        return user_answer(14, rid)
    state.save_extension(candidate)
    return user_answer(0, rid)


async def config_delete(request: web.Request) -> web.Response:
    state = state_of(request)
    exten = request.match_info["exten"]
    rid = query_rid(request)
    if exten not in state.extensions:
        return user_answer(15, rid)
    state.delete_extension(exten)
    return user_answer(0, rid)


# ---------------------------------------------------------------- /voicemails


async def voicemail_count(request: web.Request) -> web.Response:
    state = state_of(request)
    mailbox = request.match_info["mailbox"]
    ext = state.extensions.get(mailbox)
    counts = state.voicemails.get(mailbox)
    if ext is None or not ext.vm_enabled or counts is None:
        return reply("<voicemails/>", query_rid(request))
    return reply(
        f"<voicemails><voicemail><urg_messages>{counts.urgent}</urg_messages>"
        f"<new_messages>{counts.new}</new_messages>"
        f"<old_messages>{counts.old}</old_messages></voicemail></voicemails>",
        query_rid(request),
    )


# ---------------------------------------------------------------- /pbx


async def pbx_pending(request: web.Request) -> web.Response:
    state = state_of(request)
    flag = "true" if state.pending else "false"
    return reply(f"<pbx_pending>{flag}</pbx_pending>", query_rid(request))


callgroups_all = _cached("callgroups")


async def callgroup_one(request: web.Request) -> web.Response:
    state = state_of(request)
    group = state.callgroups.get(request.match_info["callgroup_id"])
    inner = (
        "<callgroups/>"
        if group is None
        else f"<callgroups>{callgroup_xml(state, group)}</callgroups>"
    )
    return reply(inner, query_rid(request))


def callgroup_changes(
    state: PbxState, base: Callgroup, elem: Element
) -> Callgroup | None:
    """`base` with the request's tags applied. Members are always replaced by
    the request's (the reference: they MUST always be specified)."""
    changes: dict[str, Any] = {}
    name = text(elem, "name")
    if name is not None:
        if not name:
            return None
        changes["name"] = name
    timeout = text(elem, "timeout")
    if timeout is not None:
        if not timeout.isdigit() or not 1 <= int(timeout) <= 600:
            return None
        changes["timeout"] = int(timeout)
    selection = text(elem, "selection")
    if selection is not None:
        taken = selection in state.extensions or any(
            g.selection == selection
            for g in state.callgroups.values()
            if g.id != base.id
        )
        if selection and (not selection.isdigit() or taken):
            return None
        changes["selection"] = selection
    enabled = text(elem, "enabled")
    if enabled is not None:
        flag = parse_bool(enabled)
        if flag is None:
            return None
        changes["enabled"] = flag
    priorities: list[Priority] = []
    priorities_elem = elem.find("priorities")
    for index, priority in enumerate(
        priorities_elem.findall("priority") if priorities_elem is not None else [], 1
    ):
        priority_id = text(priority, "id") or str(index)
        if not priority_id.isdigit() or any(
            p.id == int(priority_id) for p in priorities
        ):
            return None
        members_elem = priority.find("members")
        members = [
            (text(member, "exten") or "")
            for member in (
                members_elem.findall("member") if members_elem is not None else []
            )
        ]
        if any(m not in state.extensions for m in members):
            return None
        priorities.append(Priority(int(priority_id), tuple(dict.fromkeys(members))))
    changes["priorities"] = tuple(priorities)
    failover_elem = elem.find("failover")
    if failover_elem is not None:
        failover = parse_failover(state, failover_elem, base.failover, group_id=base.id)
        if failover is None:
            return None
        changes["failover"] = failover
    return replace(base, **changes)


async def callgroup_add(request: web.Request) -> web.Response:
    state = state_of(request)
    elem, rid = await read_request(request, "callgroup")
    if elem is None:
        return callgroup_answer(10, rid)
    if not text(elem, "name"):
        return callgroup_answer(12, rid)
    if len(state.callgroups) >= state.licensed_callgroups:
        return callgroup_answer(13, rid)
    group = callgroup_changes(
        state, Callgroup(id=state.next_callgroup_id(), name=""), elem
    )
    if group is None:
        return callgroup_answer(14, rid)
    state.save_callgroup(group)
    return callgroup_answer(0, rid)


async def callgroup_update(request: web.Request) -> web.Response:
    state = state_of(request)
    elem, rid = await read_request(request, "callgroup")
    if elem is None:
        return callgroup_answer(10, rid)
    current = state.callgroups.get(request.match_info["callgroup_id"])
    if current is None:
        return callgroup_answer(15, rid)
    if len(elem) == 0:
        return callgroup_answer(16, rid)
    group = callgroup_changes(state, current, elem)
    if group is None:
        return callgroup_answer(14, rid)
    state.save_callgroup(group)
    return callgroup_answer(0, rid)


async def callgroup_delete(request: web.Request) -> web.Response:
    state = state_of(request)
    group_id = request.match_info["callgroup_id"]
    rid = query_rid(request)
    if group_id not in state.callgroups:
        return callgroup_answer(15, rid)
    if group_id == "incoming":
        return callgroup_answer(17, rid)
    state.delete_callgroup(group_id)
    return callgroup_answer(0, rid)


async def conferences(request: web.Request) -> web.Response:
    state = state_of(request)
    inner = wrap_list("conferences", [conference_xml(c) for c in state.conferences])
    return reply(inner, query_rid(request))


# ---------------------------------------------------------------- /phonebook


def _contacts_xml(contacts: list[Contact]) -> str:
    return wrap_list("contacts", [contact_xml(c) for c in contacts])


async def contacts_all(request: web.Request) -> web.Response:
    state = state_of(request)
    return reply(_contacts_xml(list(state.contacts.values())), query_rid(request))


async def contact_one(request: web.Request) -> web.Response:
    state = state_of(request)
    raw_id = request.match_info["contact_id"]
    contact = state.contacts.get(int(raw_id)) if raw_id.isdigit() else None
    return reply(_contacts_xml([contact] if contact else []), query_rid(request))


async def contact_add(request: web.Request) -> web.Response:
    state = state_of(request)
    elem, rid = await read_request(request, "contact")
    if elem is None:
        return contact_answer(10, rid)
    owner = text(elem, "owner") or "-1"
    if owner != "-1" and owner not in state.extensions:
        return contact_answer(11, rid)
    values = {tag: text(elem, tag) or "" for tag in CONTACT_FIELDS}
    if not (values["first_name"] and values["last_name"] and values["phone"]):
        return contact_answer(12, rid)
    new_id = max(state.contacts, default=0) + 1
    state.contacts[new_id] = Contact(id=new_id, owner=owner, **values)
    return contact_answer(0, rid)


async def contact_update(request: web.Request) -> web.Response:
    state = state_of(request)
    elem, rid = await read_request(request, "contact")
    if elem is None:
        return contact_answer(10, rid)
    raw_id = text(elem, "id")
    if not raw_id:
        return contact_answer(12, rid)
    contact = state.contacts.get(int(raw_id)) if raw_id.isdigit() else None
    if contact is None:
        return contact_answer(15, rid)
    if contact.type == "private":
        return contact_answer(17, rid)
    changes = {
        tag: value for tag in CONTACT_FIELDS if (value := text(elem, tag)) is not None
    }
    if any(not changes.get(tag, "x") for tag in ("first_name", "last_name", "phone")):
        return contact_answer(12, rid)
    for tag, value in changes.items():
        setattr(contact, tag, value)
    return contact_answer(0, rid)


async def contact_delete(request: web.Request) -> web.Response:
    state = state_of(request)
    rid = query_rid(request)
    raw_id = request.match_info["contact_id"]
    if not raw_id.isdigit():
        return contact_answer(14, rid)
    contact = state.contacts.get(int(raw_id))
    if contact is None:
        return contact_answer(15, rid)
    if contact.type == "private":
        return contact_answer(17, rid)
    del state.contacts[contact.id]
    return contact_answer(0, rid)


async def phonebook_search(request: web.Request) -> web.Response:
    state = state_of(request)
    elem, rid = await read_request(request, "filter")
    if elem is None:
        return reply(error("contacts", 19, CONTACT_MESSAGES[19]), rid)
    any_value = text(elem, "any")
    contacts = list(state.contacts.values())
    if any_value:
        match = cdrmod.like(any_value)
        found = [
            c for c in contacts if any(match(getattr(c, f)) for f in SEARCH_FIELDS)
        ]
    else:
        matchers = [(f, cdrmod.like(v)) for f in SEARCH_FIELDS if (v := text(elem, f))]
        found = [c for c in contacts if all(m(getattr(c, f)) for f, m in matchers)]
    return reply(_contacts_xml(found), rid)


# ---------------------------------------------------------------- /click2call


async def click2call(request: web.Request) -> web.Response:
    state = state_of(request)
    elem, rid = await read_request(request, "click2call")
    exten = text(elem, "exten")
    if not exten:
        return click2call_answer(11, rid)
    number = text(elem, "number_to_call")
    if not number:
        return click2call_answer(12, rid)
    call_type = text(elem, "type") or "auto"
    ext = state.extensions.get(exten)
    if (
        call_type not in ("auto", "exten", "out")
        or ext is None
        or not ext.enabled
        or state.registration(exten).status != "OK"
    ):
        return click2call_answer(10, rid)
    state.record_click2call(exten, number, call_type)
    return click2call_answer(0, rid)


# ---------------------------------------------------------------- /cdr (3.x)


async def cdr_v3(request: web.Request) -> web.Response:
    state = state_of(request)
    elem, rid = await read_request(request, "cdr")
    if elem is None:
        return reply(cdrmod.v3_error_xml(12), rid)
    try:
        rows = cdrmod.v3_query(state, elem)
    except cdrmod.CdrError as err:
        return reply(cdrmod.v3_error_xml(err.code), rid)
    if wants_csv(request):
        return web.Response(
            text=cdrmod.to_csv(cdrmod.V3_FIELDS, rows),
            content_type="text/csv",
            charset="utf-8",
        )
    return reply(cdrmod.v3_xml(rows), rid)


async def cdr_callcenter(request: web.Request) -> web.Response:
    _, rid = await read_request(request, "cdrcallercenter")
    return reply(
        "<cdrcallercenter><error_code><code>10</code>"
        "<message>Call center license not found</message></error_code></cdrcallercenter>",
        rid,
    )


# ---------------------------------------------------------------- 4.x


def json_reply(payload: Any, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(payload, ensure_ascii=False),
        status=status,
        content_type="application/json",
    )


def v4_error(request: web.Request, status: int, message: str) -> web.Response:
    if wants_json(request):
        return json_reply({"error": {"code": status, "message": message}}, status)
    inner = f"<error><code>{status}</code><message>{esc(message)}</message></error>"
    return xml_reply(document(inner), status)


async def salt(request: web.Request) -> web.Response:
    state = state_of(request)
    if request.match_info["domain"] != state.domain:
        return v4_error(request, 404, "Tenant not found")
    if wants_json(request):
        return json_reply({"salt": state.salt})
    return reply(f"<salt>{state.salt}</salt>", None)


def _dashboard(name: str, value: Callable[[PbxState], str]) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        found = value(state_of(request))
        if wants_json(request):
            return json_reply({name: found})
        return reply(el(name, found), query_rid(request))

    return handler


def _serial(state: PbxState) -> str:
    return state.serial


def _running_firmware(state: PbxState) -> str:
    return (
        state.firmware_primary
        if state.firmware_running == "primary"
        else state.firmware_secondary
    )


dashboard_serial = _dashboard("serialNumber", _serial)
dashboard_firmware = _dashboard("firmwareVersion", _running_firmware)


def _cdr_v4_answer(request: web.Request, fmt: str, records: list[Any]) -> web.Response:
    state = state_of(request)
    if fmt == "blues_out":
        return web.Response(
            text=cdrmod.blues_out(records), content_type="text/plain", charset="utf-8"
        )
    if fmt == "v3_compat":
        rows = [cdrmod.v3_row(state, rec, reveal=True) for rec in records]
        if wants_json(request):
            return json_reply({"cdr": rows})
        if wants_csv(request):
            return web.Response(
                text=cdrmod.to_csv(cdrmod.V3_FIELDS, rows),
                content_type="text/csv",
                charset="utf-8",
            )
        return reply(cdrmod.v3_xml(rows), None)
    # `summary` and `detailed` carry the same fields: one row per call here.
    if wants_json(request):
        return json_reply([cdrmod.v4_row(rec) for rec in records])
    if wants_csv(request):
        return web.Response(
            text=cdrmod.v4_csv(records), content_type="text/csv", charset="utf-8"
        )
    return xml_reply(cdrmod.v4_xml(records).encode())


async def cdr_v4_get(request: web.Request) -> web.Response:
    state = state_of(request)
    info = request.match_info
    fmt = info["format"]
    if fmt not in cdrmod.V4_FORMATS:
        return v4_error(request, 404, f"Unknown CDR format {fmt}")
    try:
        begin, end = cdrmod.v4_period(
            state.local_now(), info.get("years"), info.get("months"), info.get("days")
        )
    except ValueError as err:
        return v4_error(request, 400, str(err))
    return _cdr_v4_answer(request, fmt, cdrmod.v4_select(state, begin, end))


async def cdr_v4_post(request: web.Request) -> web.Response:
    state = state_of(request)
    fmt = request.match_info["format"]
    if fmt not in cdrmod.V4_FORMATS:
        return v4_error(request, 404, f"Unknown CDR format {fmt}")
    raw = await request.read()
    query: dict[str, str] = {}
    if request.content_type == "application/json":
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            payload = None
        body = payload.get("cdr", {}) if isinstance(payload, dict) else None
        if not isinstance(body, dict):
            return v4_error(request, 400, "Invalid JSON request")
        query = {k: str(v) for k, v in body.items() if v is not None}
    elif raw.strip():
        elem, _ = request_parts(parse_xml(raw), "cdr")
        if elem is None:
            return v4_error(request, 400, "Invalid XML request")
        query = {child.tag: (child.text or "").strip() for child in elem}
    now = state.local_now()
    try:
        begin_text, end_text = query.get("begin"), query.get("end")
        begin = (
            cdrmod.parse_local(begin_text, state.tz)
            if begin_text
            else cdrmod.month_start(now)
        )
        end = cdrmod.parse_local(end_text, state.tz) if end_text else now
    except ValueError:
        return v4_error(request, 400, "Invalid date, expected YYYY-MM-DD hh:mm:ss")
    if end < begin:
        return v4_error(request, 400, "Invalid date time interval")
    records = cdrmod.v4_select(state, begin, end, query.get("unique_id") or None)
    return _cdr_v4_answer(request, fmt, records)


# ---------------------------------------------------------------- route table

# (method, template without /rest, handler); `V4_ROUTES` exist only in 4.x mode.
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("PUT", "/system/restart", system_restart),
    ("PUT", "/system/halt", system_halt),
    ("POST", "/system/backup/create", backup_create),
    ("GET", "/system/firmware", firmware),
    ("PUT", "/system/firmware/rebootsecondary", reboot_secondary),
    ("PUT", "/system/firmware/promotesecondary", promote_secondary),
    ("PUT", "/system/firmware/restoreprimary", restore_primary),
    ("PUT", "/system/firmware/update", firmware_update),
    ("GET", "/system/firmware/updatestatus", firmware_update_status),
    ("PUT", "/system/pbxengine/reload", pbxengine_reload),
    ("PUT", "/system/pbxengine/restart", pbxengine_restart),
    ("GET", "/system/network/interfaces", network_interfaces),
    ("POST", "/system/network/interfaces", network_interfaces),
    ("GET", "/system/network/dns", network_dns),
    ("GET", "/system/network/routes", network_routes),
    ("GET", "/license/pxbinstance", license_get),
    ("POST", "/license/pxbinstance", license_post),
    ("GET", "/users/registrations/", registrations_all),
    ("GET", "/users/registrations/{exten}", registration_one),
    ("GET", "/users/brief/", brief_all),
    ("GET", "/users/brief/{exten}", brief_one),
    ("GET", "/users/configs/", configs_all),
    ("POST", "/users/configs/", config_add),
    ("GET", "/users/configs/{exten}", config_one),
    ("PUT", "/users/configs/{exten}", config_update),
    ("DELETE", "/users/configs/{exten}", config_delete),
    ("GET", "/pbx/pending", pbx_pending),
    ("PUT", "/pbx/apply", pbx_apply),
    ("PUT", "/pbx/revert", pbx_revert),
    ("GET", "/pbx/callgroups", callgroups_all),
    ("POST", "/pbx/callgroups", callgroup_add),
    ("GET", "/pbx/callgroups/{callgroup_id}", callgroup_one),
    ("PUT", "/pbx/callgroups/{callgroup_id}", callgroup_update),
    ("DELETE", "/pbx/callgroups/{callgroup_id}", callgroup_delete),
    ("GET", "/pbx/conferences", conferences),
    ("GET", "/phonebook/contacts", contacts_all),
    ("POST", "/phonebook/contacts", contact_add),
    ("PUT", "/phonebook/contacts", contact_update),
    ("GET", "/phonebook/contacts/{contact_id}", contact_one),
    ("DELETE", "/phonebook/contacts/{contact_id}", contact_delete),
    ("POST", "/phonebook/search", phonebook_search),
    ("GET", "/voicemails/count/{mailbox}", voicemail_count),
    ("POST", "/cdr", cdr_v3),
    ("POST", "/cdrcallcenter", cdr_callcenter),
    ("POST", "/click2call", click2call),
)

V4_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/salt/{domain}", salt),
    ("GET", "/dashboard/serialNumber", dashboard_serial),
    ("GET", "/dashboard/firmwareVersion", dashboard_firmware),
    ("GET", "/cdr/{format}", cdr_v4_get),
    ("GET", "/cdr/{format}/{years}", cdr_v4_get),
    ("GET", "/cdr/{format}/{years}/{months}", cdr_v4_get),
    ("GET", "/cdr/{format}/{years}/{months}/{days}", cdr_v4_get),
    ("POST", "/cdr/{format}", cdr_v4_post),
)
