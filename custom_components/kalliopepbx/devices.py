"""The PBX's device, and extension devices kept in step with the PBX.

Entities create an extension's device; this removes the devices of
extensions the PBX (or the extension filter) dropped, renames those whose
name changed on the PBX and keeps the PBX's firmware version current,
visiting only the changed extensions when it can.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .api import FirmwareInfo
from .const import DOMAIN, MANUFACTURER, MODEL
from .entity import extension_name
from .runtime import KalliopeConfigEntry


@callback
def async_create_pbx_device(
    hass: HomeAssistant,
    entry: KalliopeConfigEntry,
    pbx_id: str,
    firmware: FirmwareInfo | None,
    configuration_url: str,
) -> dr.DeviceEntry:
    """The PBX's own device, created before the platforms link devices to it."""
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, pbx_id)},
        name=entry.title,
        manufacturer=MANUFACTURER,
        model=MODEL,
        sw_version=firmware.running_version if firmware else None,
        configuration_url=configuration_url,
    )


class ExtensionDevices:
    """Keeps extension devices in step with the PBX: removed, renamed."""

    def __init__(self, hass: HomeAssistant, entry: KalliopeConfigEntry) -> None:
        """Start with no device known: the first sync visits them all."""
        self._hass = hass
        self._entry = entry
        # Extension -> device id, from the last full pass.
        self._device_ids: dict[str, str] = {}
        # The extensions of the last sync: one not among them has no device yet.
        self._known: set[str] = set()

    @callback
    def sync(self) -> None:
        """Visit only the changed extensions when the system poll knows them."""
        runtime = self._entry.runtime_data
        system = runtime.system
        registry = dr.async_get(self._hass)
        firmware = system.latest.firmware if system.latest else None
        if firmware is not None:
            pbx_device = registry.async_get(runtime.pbx_device_id)
            if pbx_device and pbx_device.sw_version != firmware.running_version:
                registry.async_update_device(
                    pbx_device.id, sw_version=firmware.running_version
                )
        if not system.extensions_fetched:
            return
        changed = system.changed_keys
        extensions = runtime.extensions
        known, self._known = self._known, set(extensions)
        if changed is None or any(
            exten in extensions and exten in known and exten not in self._device_ids
            for exten in changed
        ):
            self._sync_all(registry)
            return
        for exten in changed:
            device_id = self._device_ids.get(exten)
            device = registry.async_get(device_id) if device_id else None
            if device is None:
                self._device_ids.pop(exten, None)
            else:
                self._sync_device(registry, device, exten)

    def _sync_all(self, registry: dr.DeviceRegistry) -> None:
        runtime = self._entry.runtime_data
        pbx_id = runtime.system.pbx_id
        wanted = {f"{pbx_id}_{exten}": exten for exten in runtime.extensions}
        self._device_ids.clear()
        for device in dr.async_entries_for_config_entry(registry, self._entry.entry_id):
            if device.id == runtime.pbx_device_id:
                continue
            exten = next(
                (
                    wanted[i]
                    for d, i in device.identifiers
                    if d == DOMAIN and i in wanted
                ),
                None,
            )
            if exten is None:
                registry.async_remove_device(device.id)
                continue
            self._sync_device(registry, device, exten)

    def _sync_device(
        self, registry: dr.DeviceRegistry, device: dr.DeviceEntry, exten: str
    ) -> None:
        runtime = self._entry.runtime_data
        if exten not in runtime.extensions:
            self._device_ids.pop(exten, None)
            registry.async_remove_device(device.id)
            return
        self._device_ids[exten] = device.id
        name = extension_name(runtime, exten)
        if device.name != name:
            registry.async_update_device(device.id, name=name)
