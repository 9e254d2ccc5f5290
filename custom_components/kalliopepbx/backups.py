"""Configuration backups of the PBX, saved under Home Assistant's config directory.

`create_backup` streams the PBX's backup into
`<config>/kalliopepbx/backups/<pbx>/<timestamp>.<ext>` (never held in memory
whole), keeps the newest N, and answers where it went; the "Last backup"
sensor shows the newest file on disk (read at setup, so it stays true when
files are deleted by hand) and every backup made since.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, BinaryIO

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .action_targets import ENTRY_TARGET, bind, resolve_entry
from .api import BackupInfo, KalliopeApiError, printable
from .backup_files import (
    STAMP_FORMAT,
    BackupFile,
    backup_extension,
    discard,
    finish,
    newest_backup,
    open_part,
    prune,
    safe_directory_name,
)
from .const import (
    BACKUP_FIRST_BYTE_TIMEOUT,
    CONF_BACKUPS_TO_KEEP,
    DEFAULT_BACKUPS_TO_KEEP,
    DOMAIN,
    LOGGER,
)
from .entity import entity_identity
from .permissions import async_require_admin
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData

SERVICE_CREATE_BACKUP = "create_backup"
ATTR_DESCRIPTION = "description"
ATTR_PHONEBOOK = "phonebook"
ATTR_SOUNDS = "sounds"
LAST_BACKUP = SensorEntityDescription(
    key="last_backup",
    translation_key="last_backup",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
)

CREATE_BACKUP_SCHEMA = vol.Schema(
    {
        **ENTRY_TARGET,
        vol.Optional(ATTR_DESCRIPTION): vol.All(cv.string, vol.Length(max=255)),
        vol.Optional(ATTR_PHONEBOOK, default=False): cv.boolean,
        vol.Optional(ATTR_SOUNDS, default=False): cv.boolean,
    }
)


def _write_failed(err: OSError) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="backup_write_failed",
        translation_placeholders={"error": err.strerror or type(err).__name__},
    )


def _stopped() -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN, translation_key="backup_stopped"
    )


class PbxBackups:
    """One PBX's backups: making them, keeping the newest N, the last one.

    A restart or shutdown stops a running backup rather than wait minutes
    behind it (a UPS running low cannot wait); configuration changes wait.
    """

    def __init__(self, hass: HomeAssistant, entry: KalliopeConfigEntry, pbx_id: str):
        """Nothing is read before `async_load`."""
        self.hass = hass
        self.entry = entry
        self._pbx_directory = safe_directory_name(pbx_id)
        self.last: BackupFile | None = None
        self._listeners: list[Callable[[], None]] = []
        # The PBX's file on its way into ours, while it is.
        self._transfer: asyncio.Task[BackupInfo] | None = None
        # Power commands under way: no backup may start meanwhile.
        self._power_commands = 0

    @property
    def directory(self) -> Path:
        """`<config>/kalliopepbx/backups/<pbx>`: private, ours only."""
        return Path(self.hass.config.path(DOMAIN, "backups", self._pbx_directory))

    async def async_load(self) -> None:
        """The newest backup on disk now."""
        self.last = await self.hass.async_add_executor_job(
            newest_backup, self.directory
        )

    @callback
    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener` after each backup; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @asynccontextmanager
    async def stopped_for(self, command: str) -> AsyncIterator[None]:
        """Stop a running backup, and refuse new ones, until the block ends.

        The stopped backup gives up the configuration lock once its partial
        file is deleted; its caller gets `backup_stopped`.
        """
        self._power_commands += 1
        try:
            transfer = self._transfer
            if transfer is not None and not transfer.done():
                LOGGER.warning(
                    "%s: backup stopped for %s", printable(self.entry.title), command
                )
                transfer.cancel()
            yield
        finally:
            self._power_commands -= 1

    async def async_create(
        self, description: str | None, *, phonebook: bool, sounds: bool
    ) -> BackupFile:
        """Back up the PBX to a new file; errors come back translated."""
        # Under the configuration lock: a backup taken between a change's
        # write and its apply would hold half of that change.
        backup = await self.entry.runtime_data.changes.async_run_locked(
            lambda: self._write(description, phonebook=phonebook, sounds=sounds)
        )
        self.last = backup
        for listener in list(self._listeners):
            listener()
        keep = int(
            self.entry.options.get(CONF_BACKUPS_TO_KEEP, DEFAULT_BACKUPS_TO_KEEP)
        )
        try:
            gone = await self.hass.async_add_executor_job(prune, self.directory, keep)
        except OSError as err:
            LOGGER.warning(
                "%s: old backups not deleted: %s", printable(self.entry.title), err
            )
        else:
            if gone:
                LOGGER.debug(
                    "%s: deleted old backups %s", printable(self.entry.title), gone
                )
        return backup

    async def _write(
        self, description: str | None, *, phonebook: bool, sounds: bool
    ) -> BackupFile:
        stamp = dt_util.now().strftime(STAMP_FORMAT)
        executor = self.hass.async_add_executor_job
        try:
            part, file = await executor(open_part, self.directory, stamp)
        except OSError as err:
            raise _write_failed(err) from err
        done = False
        try:
            info = await self._transfer_into(
                file, stamp, description, phonebook=phonebook, sounds=sounds
            )
            extension = backup_extension(info.filename, info.content_type)
            backup = await executor(finish, part, file, extension)
            done = True
        except KalliopeApiError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="backup_failed",
                translation_placeholders={
                    "code": str(err.code),
                    "message": err.message or "-",
                },
            ) from err
        except OSError as err:
            raise _write_failed(err) from err
        finally:
            if not done:
                # Also when cancelled: no partial file is left behind.
                await asyncio.shield(executor(_discard_quietly, part, file))
        return backup

    async def _transfer_into(
        self,
        file: BinaryIO,
        stamp: str,
        description: str | None,
        *,
        phonebook: bool,
        sounds: bool,
    ) -> BackupInfo:
        """The PBX's backup into `file`; what `stopped_for` may cut short."""
        if self._power_commands:
            raise _stopped()
        transfer = asyncio.create_task(
            self.entry.runtime_data.client.create_backup(
                file,
                name=f"Home Assistant {stamp}",
                description=description,
                phonebook=phonebook,
                sounds=sounds,
                first_byte_timeout=BACKUP_FIRST_BYTE_TIMEOUT,
            )
        )
        self._transfer = transfer
        try:
            return await transfer
        except asyncio.CancelledError:
            this = asyncio.current_task()
            # Only the transfer was cancelled, not this backup as a whole.
            if transfer.cancelled() and this is not None and not this.cancelling():
                raise _stopped() from None
            raise
        finally:
            self._transfer = None


def _discard_quietly(part: Path, file: BinaryIO) -> None:
    try:
        discard(part, file)
    except OSError as err:
        LOGGER.warning("Partial backup %s not deleted: %s", part, err)


async def _create_backup(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    # Admin-only, but not through `async_register_admin_service`: that helper
    # registers no response on older cores, and this action answers one.
    await async_require_admin(hass, call.context)
    entry = resolve_entry(hass, call)
    backup = await entry.runtime_data.backups.async_create(
        call.data.get(ATTR_DESCRIPTION),
        phonebook=call.data[ATTR_PHONEBOOK],
        sounds=call.data[ATTR_SOUNDS],
    )
    return {
        "path": str(backup.path),
        "size": backup.size,
        "filename": backup.path.name,
    }


@callback
def async_setup_backup_services(hass: HomeAssistant) -> None:
    """Register `create_backup`."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_CREATE_BACKUP,
        bind(hass, _create_backup),
        CREATE_BACKUP_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


def human_size(size: int) -> str:
    """`512 B`, `64.0 KiB`, `1.5 GiB`: a size for people."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


class LastBackupSensor(SensorEntity):
    """When the PBX's newest backup was finished, its size and file."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description = LAST_BACKUP

    def __init__(self, runtime: KalliopeRuntimeData) -> None:
        """A sensor of the PBX device."""
        self.backups = runtime.backups
        self._attr_unique_id, self._attr_device_info = entity_identity(
            runtime, LAST_BACKUP.key, None
        )

    @property
    def native_value(self) -> Any:
        """When the last backup was finished; unknown before the first."""
        last = self.backups.last
        return last.finished if last else None

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Its size in bytes and for people, and where it is."""
        last = self.backups.last
        if last is None:
            return None
        return {
            "size": last.size,
            "size_text": human_size(last.size),
            "path": str(last.path),
        }

    async def async_added_to_hass(self) -> None:
        """Show each new backup."""
        await super().async_added_to_hass()
        self.async_on_remove(self.backups.add_listener(self.async_write_ha_state))
