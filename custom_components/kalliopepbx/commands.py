"""PBX commands: one path for a button press and for its action.

Apply and revert run under the configuration lock (never in the middle of a
configuration change) and refresh what they touched. Restarting and shutting
down the PBX also wait for the lock (`power.py`); the engine commands go
straight to the PBX. Only administrators (or no user: automations) may send
any of them, and client errors come back translated.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .api import KalliopeClient
from .const import DOMAIN
from .errors import async_call_pbx
from .permissions import async_require_admin
from .power import async_power_command
from .runtime import KalliopeConfigEntry


@dataclass(frozen=True, slots=True)
class PbxCommand:
    """A PBX command; `request` answers whether the PBX did it."""

    key: str
    request: Callable[[KalliopeClient], Awaitable[bool]]
    changes_configuration: bool = False
    # Restarts or shuts down the whole PBX (`power.py`).
    powers_off: bool = False


RELOAD_PBX_ENGINE: Final = PbxCommand(
    "reload_pbx_engine", lambda client: client.reload_pbx_engine()
)
APPLY_CHANGES: Final = PbxCommand(
    "apply_changes", lambda client: client.apply(), changes_configuration=True
)
REVERT_CHANGES: Final = PbxCommand(
    "revert_changes", lambda client: client.revert(), changes_configuration=True
)
RESTART_PBX_ENGINE: Final = PbxCommand(
    "restart_pbx_engine", lambda client: client.restart_pbx_engine()
)
RESTART_PBX: Final = PbxCommand(
    "restart_pbx", lambda client: client.restart_system(), powers_off=True
)
SHUTDOWN_PBX: Final = PbxCommand(
    "shutdown_pbx", lambda client: client.halt_system(), powers_off=True
)


async def async_run_command(
    hass: HomeAssistant,
    entry: KalliopeConfigEntry,
    command: PbxCommand,
    context: Context | None,
) -> None:
    """Send the command for a button press or an action call."""
    await async_require_admin(hass, context)
    client = entry.runtime_data.client
    if command.changes_configuration:
        await entry.runtime_data.forwarding.async_pending_command(
            command.key, lambda: command.request(client)
        )
        return
    if command.powers_off:
        await async_power_command(hass, entry, command.key, command.request)
        return
    if not await async_call_pbx(hass, entry, command.request(client)):
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_failed",
            translation_placeholders={"command": command.key},
        )
