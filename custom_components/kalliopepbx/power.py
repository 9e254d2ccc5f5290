"""Restarting and shutting down the whole PBX.

Under the configuration lock, so a reboot never lands between a change's
write and its apply (a reboot drops changes not yet applied); a backup
holding that lock is stopped instead of waited for. The PBX must
answer first; once the command is sent, a dropped connection is the PBX
going down, not an error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .api import KalliopeClient, KalliopeConnectionError, printable
from .const import DOMAIN, LOGGER
from .runtime import KalliopeConfigEntry


async def async_power_command(
    hass: HomeAssistant,
    entry: KalliopeConfigEntry,
    key: str,
    request: Callable[[KalliopeClient], Awaitable[bool]],
) -> None:
    """Send a restart or shutdown; raise `command_failed` if the PBX says no."""
    client = entry.runtime_data.client
    title = printable(entry.title)

    async def send() -> bool:
        # Reachable, and whether anything would be lost: errors here are real.
        if await client.pending():
            LOGGER.warning(
                "%s: %s drops the changes not applied on the PBX", title, key
            )
        try:
            return await request(client)
        except KalliopeConnectionError as err:
            # The PBX may go down before its answer leaves.
            LOGGER.info(
                "%s: no answer to %s, taken as going down: %s",
                title,
                key,
                printable(str(err)),
            )
            return True

    # A backup may stream for minutes: stopped, not waited for.
    async with entry.runtime_data.backups.stopped_for(key):
        sent = await entry.runtime_data.changes.async_run_locked(send)
    if not sent:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_failed",
            translation_placeholders={"command": key},
        )
    LOGGER.info("%s: %s sent", title, key)
