"""Diagnostics of a KalliopePBX entry, with secrets and personal data redacted.

What stays is what support needs: counts, states, flags, firmware versions,
which endpoints fail, and extension numbers (identifiers inside the PBX that
tie entities, registrations and mailboxes together; without names they say
nothing about a person). Names, phone numbers, addresses and phone models
are redacted wherever they appear.
"""

from __future__ import annotations

from dataclasses import asdict
import re
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import (
    CONF_HOST,
    CONF_PASSWORD,
    CONF_USERNAME,
    CONF_WEBHOOK_ID,
)
from homeassistant.core import HomeAssistant

from .api import FailoverType, UserConfig
from .callgroups import members_in_order
from .const import (
    CONF_ALLOWED_NUMBERS,
    CONF_AUTH,
    CONF_CDR_PRIVACY_MD5,
    CONF_PBX_ID,
    CONF_WEBHOOK_PASSWORD,
    CONF_WEBHOOK_USERNAME,
)
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData

TO_REDACT = {
    # Secrets.
    CONF_AUTH,
    CONF_CDR_PRIVACY_MD5,
    CONF_PASSWORD,
    CONF_PBX_ID,  # the serial number on 4.x
    CONF_USERNAME,
    "password_md5",
    "password_digest",
    "salt",
    "serial_number",
    "sip_secret",
    "vm_secret",
    "gui_secret_md5",
    "privacy_password",
    CONF_WEBHOOK_ID,
    CONF_WEBHOOK_USERNAME,
    CONF_WEBHOOK_PASSWORD,
    # Addresses: the PBX's, the phones', SIP contacts (URIs with an address).
    CONF_HOST,
    "ip",
    "contact",
    "user_agent",
    "vm_email",
    "mail",
    # Phone numbers: forwarding destinations, callers, called, contacts.
    CONF_ALLOWED_NUMBERS,
    "destination",
    "phone",
    "mobile",
    "caller",
    "caller_num",
    "called",
    "called_num",
    # Names.
    "first_name",
    "last_name",
    "name",
    "display_name",
    "destination_name",
    "caller_name",
    "called_name",
}

# An IPv4 address (connection errors name the PBX's) in free text.
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")


def _describe(err: Exception, host: str | None) -> str:
    """An error with its details, without the PBX's address or any other IPv4."""
    text = repr(err)
    # A translated error's repr shows only its key: the details are here.
    if placeholders := getattr(err, "translation_placeholders", None):
        text = f"{text} {placeholders}"
    if host:
        text = text.replace(host, REDACTED)
    return _IPV4.sub(REDACTED, text)


def _extension(runtime: KalliopeRuntimeData, config: UserConfig) -> dict[str, Any]:
    """An extension's configuration, redacted.

    A forwarding to another extension or a mailbox keeps its number (an
    identifier inside the PBX); an outside number is redacted.
    """
    redacted: dict[str, Any] = async_redact_data(asdict(config), TO_REDACT)
    failover = config.failover
    if (
        failover is not None
        and failover.destination
        and failover.type is not FailoverType.FORWARD_TO_EXTERNAL_NUMBER
        and runtime.is_pbx_extension(failover.destination)
    ):
        redacted["failover"]["destination"] = failover.destination
    return redacted


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: KalliopeConfigEntry
) -> dict[str, Any]:
    """What a bug report needs: entry, coordinator state, the PBX's data."""
    runtime = entry.runtime_data
    registrations = runtime.registrations.latest
    voicemail = runtime.voicemail.latest
    system = runtime.system.latest
    unsupported = set(system.unsupported) if system else set()
    if runtime.voicemail.unsupported:
        unsupported.add("voicemail_count")
    if (
        registrations is not None
        and registrations.pending is None
        and not registrations.pending_failed
    ):
        unsupported.add("pending")
    failed = set(system.failed) if system else set()
    if registrations is not None and registrations.pending_failed:
        failed.add("pending")
    host = entry.data.get(CONF_HOST)
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
            "auth_scheme": entry.data[CONF_AUTH].get("scheme"),
        },
        "coordinators": {
            coordinator.name: {
                "last_update_success": coordinator.last_update_success,
                "last_exception": _describe(coordinator.last_exception, host)
                if coordinator.last_exception
                else None,
                "update_interval": str(coordinator.update_interval),
            }
            for coordinator in (
                runtime.registrations,
                runtime.voicemail,
                runtime.system,
            )
        },
        "health": {
            "available": runtime.health.available,
            "license_refused_code": runtime.health.license_refused_code,
            "clock_skew_seconds": runtime.health.clock_skew,
        },
        "live_events": runtime.live.diagnostics(),
        "unsupported_endpoints": sorted(unsupported),
        # Endpoints whose last answer was unusable while the rest worked.
        "failed_endpoints": sorted(failed),
        "license": asdict(system.license) if system and system.license else None,
        "firmware": asdict(system.firmware) if system and system.firmware else None,
        "firmware_update": asdict(system.update_state)
        if system and system.update_state
        else None,
        "pending_changes": registrations.pending if registrations else None,
        "extensions": {
            exten: _extension(runtime, config)
            for exten, config in runtime.extensions.items()
        },
        "registrations": async_redact_data(
            {
                exten: asdict(registration)
                for exten, registration in (
                    registrations.registrations.items() if registrations else ()
                )
            },
            TO_REDACT,
        ),
        # Counts only: which extensions ring where says who works with whom.
        "callgroups": {
            "count": len(runtime.system.known_callgroups),
            "listed_this_cycle": system is not None and system.callgroups is not None,
            "members": {
                group_id: {
                    "members": len(members_in_order(group)),
                    "priorities": [len(p.members) for p in group.priorities],
                    "enabled": group.enabled,
                }
                for group_id, group in runtime.system.known_callgroups.items()
            },
        },
        "voicemail": {
            "polled_mailboxes": len(voicemail.counts) + len(voicemail.failed)
            if voicemail
            else 0,
            "failed_mailboxes": sorted(voicemail.failed) if voicemail else [],
            "counts": {m: asdict(c) for m, c in voicemail.counts.items()}
            if voicemail
            else {},
        },
    }
