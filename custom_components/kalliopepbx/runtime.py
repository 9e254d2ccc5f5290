"""What a loaded entry holds: the typed runtime data and config entry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry

from .api import KalliopeClient, Registration, UserConfig, VoicemailCount
from .const import CONF_VOICEMAIL_SENSORS

if TYPE_CHECKING:
    from .backups import PbxBackups
    from .callgroups import CallGroupMembers
    from .config_changes import ConfigChanges
    from .coordinator import (
        RegistrationsCoordinator,
        SystemCoordinator,
        VoicemailCoordinator,
    )
    from .forwarding import ForwardingManager
    from .health import PbxHealth
    from .live_events import LiveEvents

type KalliopeConfigEntry = ConfigEntry[KalliopeRuntimeData]


@dataclass(kw_only=True)
class KalliopeRuntimeData:
    """Everything a loaded entry holds."""

    client: KalliopeClient
    health: PbxHealth
    registrations: RegistrationsCoordinator
    voicemail: VoicemailCoordinator
    system: SystemCoordinator
    forwarding: ForwardingManager
    live: LiveEvents
    callgroups: CallGroupMembers
    backups: PbxBackups
    pbx_device_id: str
    # Holds the CDR privacy password's md5: kept out of repr.
    options: dict[str, Any] = field(default_factory=dict, repr=False)
    # One device description per extension, shared by its entities.
    device_infos: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def changes(self) -> ConfigChanges:
        """The per-PBX path of every configuration change made from here."""
        return self.forwarding.changes

    def registration(self, exten: str) -> Registration | None:
        """An extension's registration, if the PBX lists one."""
        data = self.registrations.latest
        return data.registrations.get(exten) if data else None

    @property
    def voicemail_polled(self) -> bool:
        """Voicemail counts are wanted (options) and the firmware has them."""
        return not self.voicemail.unsupported and bool(
            self.system.config_entry.options.get(CONF_VOICEMAIL_SENSORS, True)
        )

    def has_voicemail(self, exten: str) -> bool:
        """Whether the extension gets voicemail sensors and events."""
        config = self.extensions.get(exten)
        return self.voicemail_polled and config is not None and config.vm_enabled

    def is_pbx_extension(self, number: str) -> bool:
        """Whether the PBX has this extension, with a device here or not."""
        if number in self.extensions:
            return True
        data = self.registrations.latest
        return data is not None and number in data.registrations

    def config(self, exten: str) -> UserConfig | None:
        """An extension's configuration, if known."""
        data = self.system.latest
        if data is None or data.extensions is None:
            return None
        return data.extensions.get(exten)

    def voicemail_count(self, mailbox: str) -> VoicemailCount | None:
        """A mailbox's counts from the last cycle, if it answered."""
        data = self.voicemail.latest
        return data.counts.get(mailbox) if data else None

    @property
    def extensions(self) -> Mapping[str, UserConfig]:
        """The extensions that get devices (last known good list)."""
        return self.system.known_extensions
