"""Diagnostics of a KalliopePBX entry, with every secret and address book detail redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_PASSWORD, CONF_USERNAME
from homeassistant.core import HomeAssistant

from .const import CONF_AUTH, CONF_CDR_PRIVACY_MD5, CONF_PBX_ID
from .coordinator import KalliopeConfigEntry

TO_REDACT = {
    CONF_AUTH,
    CONF_CDR_PRIVACY_MD5,
    CONF_PASSWORD,
    CONF_PBX_ID,  # the serial number on 4.x
    CONF_USERNAME,
    "password_md5",
    "password_digest",
    "salt",
    "serial_number",
    "vm_email",
    "sip_secret",
    "vm_secret",
    "gui_secret_md5",
    "privacy_password",
}


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
                "last_exception": repr(coordinator.last_exception)
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
        "unsupported_endpoints": sorted(unsupported),
        "license": asdict(system.license) if system and system.license else None,
        "firmware": asdict(system.firmware) if system and system.firmware else None,
        "firmware_update": asdict(system.update_state)
        if system and system.update_state
        else None,
        "pending_changes": registrations.pending if registrations else None,
        "extensions": async_redact_data(
            {exten: asdict(config) for exten, config in runtime.extensions.items()},
            TO_REDACT,
        ),
        "registrations": {
            exten: asdict(registration)
            for exten, registration in (
                registrations.registrations.items() if registrations else ()
            )
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
