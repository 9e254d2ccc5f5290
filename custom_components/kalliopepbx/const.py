"""Constants of the KalliopePBX integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "kalliopepbx"
LOGGER = logging.getLogger(__package__)

MANUFACTURER: Final = "NetResults"
MODEL: Final = "KalliopePBX"

# Config entry data.
CONF_TENANT_DOMAIN: Final = "tenant_domain"
CONF_AUTH: Final = "auth"
CONF_PBX_ID: Final = "pbx_id"

# Options.
CONF_EXTENSIONS: Final = "extensions"
CONF_VOICEMAIL_SENSORS: Final = "voicemail_sensors"
CONF_ALLOWED_NUMBERS: Final = "allowed_numbers"
# Assist may change call forwarding for requests with no user (voice satellites).
CONF_VOICE_FORWARDING_WITHOUT_USER: Final = "voice_forwarding_without_user"
# The form field, and what is stored: the md5 the PBX expects, not the password.
CONF_CDR_PRIVACY_PASSWORD: Final = "cdr_privacy_password"  # noqa: S105 - a key
CONF_CDR_PRIVACY_MD5: Final = "cdr_privacy_password_md5"
# The PBX pushes call events to our webhook (set up on the PBX by the user).
CONF_LIVE_EVENTS: Final = "live_events"
# Options: how many configuration backups to keep per PBX.
CONF_BACKUPS_TO_KEEP: Final = "backups_to_keep"
DEFAULT_BACKUPS_TO_KEEP: Final = 7
MAX_BACKUPS_TO_KEEP: Final = 365
# Entry data: the Basic credentials the PBX's notification action sends.
CONF_WEBHOOK_USERNAME: Final = "webhook_username"
CONF_WEBHOOK_PASSWORD: Final = "webhook_password"  # noqa: S105 - a key

DEFAULT_USERNAME: Final = "admin"
DEFAULT_TENANT_DOMAIN: Final = "default"

REGISTRATIONS_INTERVAL: Final = timedelta(seconds=30)
VOICEMAIL_INTERVAL: Final = timedelta(seconds=60)
SYSTEM_INTERVAL: Final = timedelta(minutes=10)

# Mailboxes polled at once; the client caps all requests to the PBX as well.
VOICEMAIL_CONCURRENCY: Final = 8
REQUEST_TIMEOUT: Final = 10.0
# A backup is built whole on the PBX before its first byte is sent; with
# sounds that can take minutes. Between chunks REQUEST_TIMEOUT applies.
BACKUP_FIRST_BYTE_TIMEOUT: Final = 600.0

# The key in the unique ids of call group entities.
CALLGROUP_KEY: Final = "callgroup"
