"""What a user pastes into the PBX to send live call events here."""

from __future__ import annotations

from homeassistant.components import webhook
from homeassistant.core import HomeAssistant
from homeassistant.helpers.network import NoURLAvailableError, get_url

from .api import NOTIFICATION_TEMPLATE, EventName
from .runtime import KalliopeConfigEntry
from .webhook_receiver import async_ensure_credentials

# What to select in the PBX's notification list: calls first, then queues.
CALL_EVENTS = (
    EventName.EXTENSION_INCOMING,
    EventName.EXTENSION_ANSWERED,
    EventName.EXTENSION_MISSED,
    EventName.EXTENSION_FAILED,
    EventName.CALL_START,
    EventName.CALL_END,
)
QUEUE_EVENTS = (
    EventName.QUEUE_ENTER,
    EventName.QUEUE_SERVED,
    EventName.QUEUE_UNSERVED,
)
# Shown when Home Assistant knows no URL of its own.
URL_PLACEHOLDER = "http://<home-assistant-address>:8123"


def webhook_url(hass: HomeAssistant, webhook_id: str) -> str:
    """The address the PBX calls: Home Assistant's own, on the local network."""
    try:
        base = get_url(hass, allow_external=False, allow_cloud=False)
    except NoURLAvailableError:
        try:
            base = get_url(hass, allow_cloud=False)
        except NoURLAvailableError:
            base = URL_PLACEHOLDER
    return f"{base.rstrip('/')}{webhook.async_generate_path(webhook_id)}"


def live_events_instructions(
    hass: HomeAssistant, entry: KalliopeConfigEntry
) -> dict[str, str]:
    """The options step's placeholders: every value to paste, ready to copy."""
    credentials = async_ensure_credentials(hass, entry)
    return {
        "url": webhook_url(hass, credentials.webhook_id),
        "method": "POST",
        "username": credentials.username,
        "password": credentials.password,
        "content": NOTIFICATION_TEMPLATE,
        "call_events": ", ".join(f"`{name.value}`" for name in CALL_EVENTS),
        "queue_events": ", ".join(f"`{name.value}`" for name in QUEUE_EVENTS),
    }
