"""What an action is about: which PBX (config entry) and which extension."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
import voluptuous as vol

from .const import DOMAIN
from .runtime import KalliopeConfigEntry

ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_DEVICE_ID = "device_id"
ATTR_EXTENSION = "extension"

_EXTENSION = vol.All(cv.string, vol.Match(r"^[0-9*#]{1,16}$"))
EXTENSION_TARGET: dict[vol.Marker, Any] = {
    vol.Optional(ATTR_DEVICE_ID): cv.string,
    vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
    vol.Optional(ATTR_EXTENSION): _EXTENSION,
}
ENTRY_TARGET: dict[vol.Marker, Any] = {vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string}


def validation_error(key: str, **placeholders: str) -> ServiceValidationError:
    """A refused action, with its translated message."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=placeholders or None,
    )


def _loaded_entry(hass: HomeAssistant, entry_id: str) -> KalliopeConfigEntry:
    entry: KalliopeConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise validation_error("entry_not_found", entry_id=entry_id)
    if entry.state is not ConfigEntryState.LOADED:
        raise validation_error("entry_not_loaded", title=entry.title)
    return entry


def resolve_entry(hass: HomeAssistant, call: ServiceCall) -> KalliopeConfigEntry:
    """The PBX an action is for: named, or the only one there is."""
    if entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID):
        return _loaded_entry(hass, entry_id)
    entries = hass.config_entries.async_entries(DOMAIN)
    if len(entries) != 1:
        raise validation_error("entry_required")
    return _loaded_entry(hass, entries[0].entry_id)


def resolve_extension(
    hass: HomeAssistant, call: ServiceCall
) -> tuple[KalliopeConfigEntry, str]:
    """An extension device, or a PBX and an extension number."""
    if device_id := call.data.get(ATTR_DEVICE_ID):
        device = dr.async_get(hass).async_get(device_id)
        identifiers = device.identifiers if device is not None else set()
        # Our identifiers are `<pbx id>_<extension>`: they name the PBX too.
        for entry in hass.config_entries.async_entries(DOMAIN):
            if entry.state is not ConfigEntryState.LOADED:
                continue
            prefix = f"{entry.runtime_data.system.pbx_id}_"
            for domain, identifier in identifiers:
                if domain == DOMAIN and identifier.startswith(prefix):
                    return entry, identifier.removeprefix(prefix)
        raise validation_error("not_an_extension_device", device_id=device_id)
    exten = call.data.get(ATTR_EXTENSION)
    if exten is None:
        raise validation_error("extension_required")
    entry = resolve_entry(hass, call)
    if exten not in entry.runtime_data.extensions:
        raise validation_error("unknown_extension", extension=exten)
    return entry, exten


def bind[R](
    hass: HomeAssistant, handler: Callable[[HomeAssistant, ServiceCall], Awaitable[R]]
) -> Callable[[ServiceCall], Coroutine[Any, Any, R]]:
    """An action handler that also gets `hass`."""

    async def handle(call: ServiceCall) -> R:
        return await handler(hass, call)

    return handle
