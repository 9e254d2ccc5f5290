"""An extension's voicemail turned on and off on the PBX (the switch's write).

The voicemail sensors and event follow at once: they are created and
removed per extension by the system data, which the change refreshes.
"""

from __future__ import annotations

from homeassistant.exceptions import HomeAssistantError

from .api import UserUpdate
from .change_notes import ChangeNote
from .const import DOMAIN
from .runtime import KalliopeRuntimeData


def voicemail_setting_known(runtime: KalliopeRuntimeData, exten: str | None) -> bool:
    """Whether the PBX reports extensions' voicemail settings at all.

    A firmware without `/users/configs/` gives only names (`/users/brief/`),
    where "voicemail off" would be a guess.
    """
    data = runtime.system.latest
    return (
        exten is not None
        and data is not None
        and "users_configs" not in data.unsupported
    )


async def async_set_voicemail(
    runtime: KalliopeRuntimeData, exten: str, enabled: bool
) -> None:
    """Turn an extension's voicemail on or off on the PBX, applied and read back."""
    known = runtime.config(exten)
    if known is not None and known.vm_enabled is enabled and not runtime.changes.busy:
        # Nothing to send; while a change is under way the last poll may be
        # stale (an opposite press waiting for the lock), so it goes through.
        return
    client = runtime.client

    async def write() -> None:
        # Only <vm_enabled>: every other setting of the user stays as it is.
        await client.update_user_config(exten, UserUpdate(vm_enabled=enabled))

    async def check(_: None) -> None:
        config = await client.user_config(exten)
        if config is not None and config.vm_enabled is enabled:
            return
        placeholders = {"extension": exten}
        if enabled:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="voicemail_on_not_applied",
                translation_placeholders=placeholders,
            )
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="voicemail_off_not_applied",
            translation_placeholders=placeholders,
        )

    await runtime.changes.async_change(
        key=f"voicemail:{exten}",
        note=(
            ChangeNote("change_voicemail_on", {"extension": exten})
            if enabled
            else ChangeNote("change_voicemail_off", {"extension": exten})
        ),
        write=write,
        check=check,
    )
    if enabled:
        # The new sensors show their counts now, not at the next cycle.
        await runtime.voicemail.async_refresh_mailboxes([exten])
