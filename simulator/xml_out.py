"""Answer building by plain string concatenation (fast at 5000 extensions).

The big lists (registrations, brief, configs, callgroups) are rendered once
per extension and kept in `PbxState.cache` until a mutation drops them.
"""

from __future__ import annotations

from collections.abc import Callable

from .state import (
    Callgroup,
    Conference,
    Contact,
    Extension,
    Failover,
    PbxState,
    Registration,
)

XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
CONTENT_TYPE = "text/xml; charset=UTF-8"


def esc(value: str) -> str:
    """Escape text content (the only place user data goes; no attributes are used)."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    return value


def el(tag: str, value: str | int) -> str:
    """`<tag>value</tag>`, or `<tag/>` when the value is empty."""
    text = value if isinstance(value, str) else str(value)
    if not text:
        return f"<{tag}/>"
    return f"<{tag}>{esc(text)}</{tag}>"


def tf(value: bool) -> str:
    return "true" if value else "false"


def document(inner: str, request_id: str | None = None) -> bytes:
    """A whole answer: declaration, `<kpbx_response>`, the request_id first."""
    rid = f"<request_id>{esc(request_id)}</request_id>" if request_id else ""
    return f"{XML_HEAD}<kpbx_response>{rid}{inner}</kpbx_response>".encode()


def error(wrapper: str, code: int, message: str, tag: str = "error") -> str:
    """`<wrapper><error><code/><message/></error></wrapper>`."""
    return (
        f"<{wrapper}><{tag}><code>{code}</code>"
        f"<message>{esc(message)}</message></{tag}></{wrapper}>"
    )


def failover_xml(state: PbxState, failover: Failover) -> str:
    name, gateway_name = state.failover_names(failover)
    return (
        f"<failover>{el('intro', failover.intro)}{el('type', failover.type)}"
        f"<destination>{el('name', name)}{el('value', failover.value)}"
        f"{el('gateway_type', failover.gateway_type)}"
        f"{el('gateway_id', failover.gateway_id)}"
        f"{el('gateway_name', gateway_name)}</destination></failover>"
    )


def registration_xml(exten: str, reg: Registration) -> str:
    rtt = f"<rtt>{reg.rtt_ms} ms</rtt>" if reg.rtt_ms is not None else "<rtt/>"
    return (
        f"<registration><exten>{esc(exten)}</exten>{el('status', reg.status)}{rtt}"
        f"{el('contact', reg.contact)}{el('ip', reg.ip)}{el('port', reg.port)}"
        f"{el('useragent', reg.useragent)}</registration>"
    )


def brief_xml(ext: Extension) -> str:
    return (
        f"<user><exten>{esc(ext.exten)}</exten><enabled>{tf(ext.enabled)}</enabled>"
        f"{el('first_name', ext.first_name)}{el('last_name', ext.last_name)}</user>"
    )


def config_xml(state: PbxState, ext: Extension) -> str:
    return (
        f"<config><exten>{esc(ext.exten)}</exten>{el('sip_secret', ext.sip_secret)}"
        f"<enabled>{tf(ext.enabled)}</enabled>"
        f"{el('first_name', ext.first_name)}{el('last_name', ext.last_name)}"
        f"{el('gui_secret_md5', ext.gui_secret_md5)}"
        f"<phonebook_manager>{tf(ext.phonebook_manager)}</phonebook_manager>"
        f"<vm_enabled>{tf(ext.vm_enabled)}</vm_enabled>"
        f"{el('vm_secret', ext.vm_secret)}{el('vm_email', ext.vm_email)}"
        f"<vm_attach_enabled>{tf(ext.vm_attach_enabled)}</vm_attach_enabled>"
        f"<vm_message_delete>{tf(ext.vm_message_delete)}</vm_message_delete>"
        f"{failover_xml(state, ext.failover)}</config>"
    )


def callgroup_xml(state: PbxState, group: Callgroup) -> str:
    priorities = []
    for priority in group.priorities:
        members = "".join(
            f"<member><exten>{esc(m)}</exten>"
            f"{el('display_name', ext.display_name if (ext := state.extensions.get(m)) else '')}"
            "</member>"
            for m in priority.members
        )
        members_xml = f"<members>{members}</members>" if members else "<members/>"
        priorities.append(f"<priority><id>{priority.id}</id>{members_xml}</priority>")
    priorities_xml = (
        f"<priorities>{''.join(priorities)}</priorities>"
        if priorities
        else "<priorities/>"
    )
    return (
        f"<callgroup>{el('id', group.id)}{el('name', group.name)}"
        f"{el('selection', group.selection)}<enabled>{tf(group.enabled)}</enabled>"
        f"<timeout>{group.timeout}</timeout>{failover_xml(state, group.failover)}"
        f"{priorities_xml}</callgroup>"
    )


def conference_xml(conf: Conference) -> str:
    return (
        f"<conference>{el('name', conf.name)}<enabled>{tf(conf.enabled)}</enabled>"
        f"<selection>{el('internal', conf.internal)}{el('external', conf.external)}"
        f"</selection>{el('admin_pin', conf.admin_pin)}{el('user_pin', conf.user_pin)}"
        "</conference>"
    )


def contact_xml(contact: Contact) -> str:
    return (
        f"<contact><id>{contact.id}</id>{el('first_name', contact.first_name)}"
        f"{el('last_name', contact.last_name)}{el('organization', contact.organization)}"
        f"{el('organizational_unit', contact.organizational_unit)}"
        f"<type>{contact.type}</type>{el('phone', contact.phone)}"
        f"{el('mail', contact.mail)}{el('speed_dial', contact.speed_dial)}</contact>"
    )


def wrap_list(wrapper: str, parts: list[str]) -> str:
    return f"<{wrapper}>{''.join(parts)}</{wrapper}>" if parts else f"<{wrapper}/>"


# ---------------------------------------------------------------- cached lists


def _registration_of(state: PbxState, exten: str) -> str:
    return registration_xml(exten, state.registration(exten))


def _brief_of(state: PbxState, exten: str) -> str:
    return brief_xml(state.extensions[exten])


def _config_of(state: PbxState, exten: str) -> str:
    return config_xml(state, state.extensions[exten])


_PER_EXTENSION: dict[str, tuple[str, Callable[[PbxState, str], str], bool]] = {
    # kind: (list element, renderer, only enabled extensions)
    "registrations": ("registrations", _registration_of, True),
    "brief": ("users", _brief_of, False),
    "configs": ("configs", _config_of, False),
}


def cached_inner(state: PbxState, kind: str) -> str:
    """The rendered list element of `kind`, from the cache when still valid."""
    cache = state.cache
    inner = cache.inner.get(kind)
    if inner is not None:
        return inner
    if kind == "callgroups":
        inner = wrap_list(
            "callgroups",
            [callgroup_xml(state, g) for g in sorted_callgroups(state)],
        )
    else:
        wrapper, render, only_enabled = _PER_EXTENSION[kind]
        fragments = cache.fragments.setdefault(kind, {})
        extensions = state.extensions
        parts = []
        for exten in state.sorted_extens():
            if only_enabled and not extensions[exten].enabled:
                continue
            fragment = fragments.get(exten)
            if fragment is None:
                fragment = fragments[exten] = render(state, exten)
            parts.append(fragment)
        inner = wrap_list(wrapper, parts)
    cache.inner[kind] = inner
    return inner


def cached_document(state: PbxState, kind: str, request_id: str | None) -> bytes:
    """The whole answer for a list; encoded once while nothing changes."""
    if request_id:
        return document(cached_inner(state, kind), request_id)
    body = state.cache.full.get(kind)
    if body is None:
        body = state.cache.full[kind] = document(cached_inner(state, kind))
    return body


def single_extension(state: PbxState, kind: str, exten: str) -> str:
    """One extension's element inside its list element (empty list if unknown)."""
    wrapper, render, only_enabled = _PER_EXTENSION[kind]
    ext = state.extensions.get(exten)
    if ext is None or (only_enabled and not ext.enabled):
        return f"<{wrapper}/>"
    return f"<{wrapper}>{render(state, exten)}</{wrapper}>"


def sorted_callgroups(state: PbxState) -> list[Callgroup]:
    """'incoming' first, then by numeric id."""

    def key(group: Callgroup) -> tuple[int, int, str]:
        if group.id == "incoming":
            return (0, 0, "")
        if group.id.isdigit():
            return (1, int(group.id), "")
        return (2, 0, group.id)

    return sorted(state.callgroups.values(), key=key)


# ---------------------------------------------------------------- HTML pages

NOT_FOUND_HTML = (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
    "<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n"
    "<p>The requested URL was not found on this server.</p>\n"
    "<hr>\n<address>Apache Server at 127.0.0.1 Port 80</address>\n</body></html>\n"
)

LOGIN_HTML = (
    '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
    "<title>Proxy authentication required</title></head><body>"
    '<h1>Sign in to continue</h1><form method="post" action="/login">'
    '<input name="username"><input name="password" type="password">'
    "<button>Sign in</button></form></body></html>\n"
)
