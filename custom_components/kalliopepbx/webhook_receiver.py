"""The webhook the PBX's notification actions call.

Each entry has its own webhook id and Basic credentials, generated once and
kept in the entry. A request is checked in constant time, capped in size,
decoded by the client library and handed on; refusals are counted and
logged at most once per ten minutes, so a flood cannot fill the log.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
import hmac
import secrets
import time

from aiohttp import hdrs, web
from homeassistant.components import webhook
from homeassistant.const import CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant, callback

from .api import (
    MAX_NOTIFICATION_BYTES,
    KalliopeNotificationError,
    PbxEvent,
    parse_notification,
    printable,
)
from .const import CONF_WEBHOOK_PASSWORD, CONF_WEBHOOK_USERNAME, DOMAIN, LOGGER
from .runtime import KalliopeConfigEntry

REJECTION_LOG_INTERVAL = 600.0
_CREDENTIAL_KEYS = (CONF_WEBHOOK_ID, CONF_WEBHOOK_USERNAME, CONF_WEBHOOK_PASSWORD)


@dataclass(frozen=True, slots=True)
class WebhookCredentials:
    """Where the PBX sends its events and how it proves it is the PBX."""

    webhook_id: str
    username: str
    password: str

    @classmethod
    def generate(cls) -> WebhookCredentials:
        """New, unguessable ones."""
        return cls(
            webhook_id=webhook.async_generate_id(),
            username=f"kalliope-{secrets.token_hex(3)}",
            password=secrets.token_urlsafe(24),
        )


@callback
def async_ensure_credentials(
    hass: HomeAssistant, entry: KalliopeConfigEntry
) -> WebhookCredentials:
    """The entry's webhook credentials, generated and stored the first time."""
    data = entry.data
    if all(data.get(key) for key in _CREDENTIAL_KEYS):
        return WebhookCredentials(
            data[CONF_WEBHOOK_ID],
            data[CONF_WEBHOOK_USERNAME],
            data[CONF_WEBHOOK_PASSWORD],
        )
    credentials = WebhookCredentials.generate()
    hass.config_entries.async_update_entry(
        entry,
        data={
            **data,
            CONF_WEBHOOK_ID: credentials.webhook_id,
            CONF_WEBHOOK_USERNAME: credentials.username,
            CONF_WEBHOOK_PASSWORD: credentials.password,
        },
    )
    return credentials


@dataclass(slots=True)
class RefusalCounts:
    """Requests the webhook refused since setup, for diagnostics."""

    unauthorised: int = 0
    malformed: int = 0
    too_large: int = 0


class NotificationReceiver:
    """Registers the webhook and hands each valid event to `on_event`."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: KalliopeConfigEntry,
        credentials: WebhookCredentials,
        on_event: Callable[[PbxEvent], None],
    ) -> None:
        """Nothing is registered until `async_register`."""
        self._hass = hass
        self._entry = entry
        self.credentials = credentials
        self._on_event = on_event
        self.refused = RefusalCounts()
        self._last_rejection_log = -REJECTION_LOG_INTERVAL
        self._rejections_unlogged = 0

    @callback
    def async_register(self) -> Callable[[], None]:
        """Register the webhook (local network only); returns its removal."""
        webhook_id = self.credentials.webhook_id
        webhook.async_register(
            self._hass,
            DOMAIN,
            f"KalliopePBX {self._entry.title}",
            webhook_id,
            self._handle_webhook,
            local_only=True,
            allowed_methods=(hdrs.METH_POST, hdrs.METH_GET),
        )
        return lambda: webhook.async_unregister(self._hass, webhook_id)

    async def _handle_webhook(
        self, hass: HomeAssistant, webhook_id: str, request: web.Request
    ) -> web.Response:
        if not self._authorised(request.headers.get(hdrs.AUTHORIZATION)):
            self.refused.unauthorised += 1
            self._log_rejection("wrong or missing credentials", request)
            return web.Response(
                status=401,
                headers={hdrs.WWW_AUTHENTICATE: 'Basic realm="KalliopePBX"'},
            )
        length = request.content_length
        if length is not None and length > MAX_NOTIFICATION_BYTES:
            return self._too_large(request)
        body = await request.content.read(MAX_NOTIFICATION_BYTES + 1)
        if len(body) > MAX_NOTIFICATION_BYTES:
            return self._too_large(request)
        try:
            event = parse_notification(body, request.query.items())
        except KalliopeNotificationError as err:
            self.refused.malformed += 1
            self._log_rejection(err.reason, request)
            return web.Response(status=400, text="malformed notification")
        self._on_event(event)
        return web.Response(status=200)

    def _authorised(self, header: str | None) -> bool:
        scheme, _, encoded = (header or "").strip().partition(" ")
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            decoded = b""
        username, _, password = decoded.partition(b":")
        # Both compared every time: the answer takes as long either way.
        user_ok = hmac.compare_digest(username, self.credentials.username.encode())
        password_ok = hmac.compare_digest(password, self.credentials.password.encode())
        return scheme.lower() == "basic" and user_ok and password_ok

    def _too_large(self, request: web.Request) -> web.Response:
        self.refused.too_large += 1
        self._log_rejection(f"larger than {MAX_NOTIFICATION_BYTES} bytes", request)
        return web.Response(status=413, text="notification too large")

    def _log_rejection(self, reason: str, request: web.Request) -> None:
        """One line per ten minutes at most: a flood must not fill the log."""
        now = time.monotonic()
        if now - self._last_rejection_log < REJECTION_LOG_INTERVAL:
            self._rejections_unlogged += 1
            return
        also = (
            f" ({self._rejections_unlogged} more refused since the last report)"
            if self._rejections_unlogged
            else ""
        )
        LOGGER.warning(
            "%s: refused an event notification from %s: %s%s",
            self._entry.title,
            printable(str(request.remote)),
            printable(reason),
            also,
        )
        self._last_rejection_log = now
        self._rejections_unlogged = 0
