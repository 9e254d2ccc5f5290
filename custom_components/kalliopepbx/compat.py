"""Differences between the Home Assistant versions this integration runs on.

Each flag is decided once, from what the running core has, so the rest of
the code asks a question instead of testing versions or attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant import config_entries
from homeassistant.config_entries import OptionsFlow
from homeassistant.helpers.device_registry import DeviceInfo

# 2025.8+ reloads the entry itself when options change; older cores need a
# listener, which newer cores refuse next to `async_update_reload_and_abort`.
AUTOMATIC_OPTIONS_RELOAD = hasattr(config_entries, "OptionsFlowWithReload")
if TYPE_CHECKING:
    OptionsFlowBase = OptionsFlow
else:
    OptionsFlowBase = getattr(config_entries, "OptionsFlowWithReload", OptionsFlow)


def _device_info_fields() -> frozenset[str]:
    """Keys `DeviceInfo` accepts on the running core (a TypedDict or a dataclass)."""
    fields = getattr(DeviceInfo, "__dataclass_fields__", None)
    if fields is not None:
        return frozenset(fields)
    return frozenset(getattr(DeviceInfo, "__optional_keys__", ())) | frozenset(
        getattr(DeviceInfo, "__required_keys__", ())
    )


# 2026.8 links child devices by device id; `via_device` is deprecated there.
VIA_DEVICE_ID_SUPPORTED = "via_device_id" in _device_info_fields()
