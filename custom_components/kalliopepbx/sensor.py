"""Sensors of a KalliopePBX and of its extensions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, Platform, UnitOfTime
from homeassistant.core import callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .api import (
    FailoverType,
    FirmwareInfo,
    FirmwareSlot,
    FirmwareUpdateStatus,
    LicenseInfo,
    LicenseStatus,
    Registration,
    UserConfig,
    VoicemailCount,
)
from .backups import LastBackupSensor
from .call_entities import async_add_live_sensors
from .callgroup_entities import async_add_callgroup_sensors
from .coordinator import TOTAL_VOICEMAIL_KEY
from .data import SystemData
from .entity import (
    KalliopeEntity,
    KalliopeEntityDescription,
    platform_setup,
)
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData
from .sources import (
    EXTENSION_CONFIG,
    MAILBOX,
    REGISTRATION,
    REGISTRATIONS,
    SYSTEM,
    VOICEMAIL,
)

PARALLEL_UPDATES = 0

LICENSE_STATES = [s.value for s in LicenseStatus if s is not LicenseStatus.UNKNOWN]
UPDATE_STATES = [s.key for s in FirmwareUpdateStatus]
FAILOVER_STATES = [
    t.value.lower() for t in FailoverType if t is not FailoverType.UNKNOWN
]


def _supported(endpoint: str) -> Callable[[KalliopeRuntimeData, str | None], bool]:
    """Whether the firmware offers the endpoint behind a sensor (no HTTP 404)."""

    def supported(runtime: KalliopeRuntimeData, _: str | None) -> bool:
        data = runtime.system.latest
        return data is None or endpoint not in data.unsupported

    return supported


@dataclass(frozen=True, kw_only=True)
class KalliopeSensorDescription[ModelT](
    KalliopeEntityDescription[ModelT], SensorEntityDescription
):
    """A sensor whose state `value_fn` reads from its source's model."""

    value_fn: Callable[[ModelT], StateType] = lambda _: None


def _has_voicemail(runtime: KalliopeRuntimeData, exten: str | None) -> bool:
    return exten is not None and runtime.has_voicemail(exten)


def _system_sensor[PartT](
    key: str,
    part: Callable[[SystemData], PartT | None],
    endpoint: str,
    value_fn: Callable[[PartT], StateType],
    **kwargs: Any,
) -> KalliopeSensorDescription[SystemData]:
    """A sensor of one part of the system poll, if the firmware offers it."""

    def value(data: SystemData) -> StateType:
        found = part(data)
        return value_fn(found) if found is not None else None

    return KalliopeSensorDescription(
        key=key,
        translation_key=key,
        source=SYSTEM,
        value_fn=value,
        # None after a bad answer or a licence refusal: unavailable, not unknown.
        requires_model=True,
        available_fn=lambda data: part(data) is not None,
        exists_fn=_supported(endpoint),
        **kwargs,
    )


def _license_sensor(
    key: str, value_fn: Callable[[LicenseInfo], StateType], **kwargs: Any
) -> KalliopeSensorDescription[SystemData]:
    """A sensor of the licence part of the system poll."""
    return _system_sensor(key, lambda data: data.license, "license", value_fn, **kwargs)


def _firmware_sensor(
    key: str, value_fn: Callable[[FirmwareInfo], StateType], **kwargs: Any
) -> KalliopeSensorDescription[SystemData]:
    """A diagnostic sensor of the firmware part of the system poll."""
    return _system_sensor(
        key,
        lambda data: data.firmware,
        "firmware",
        value_fn,
        entity_category=EntityCategory.DIAGNOSTIC,
        **kwargs,
    )


def _registration_detail(
    key: str, value_fn: Callable[[Registration], StateType]
) -> KalliopeSensorDescription[Registration]:
    """A diagnostic detail of a phone's registration, opt-in."""
    return KalliopeSensorDescription(
        key=key,
        translation_key=key,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        source=REGISTRATION,
        value_fn=value_fn,
    )


def _voicemail_sensor(
    kind: str, value_fn: Callable[[VoicemailCount], int]
) -> KalliopeSensorDescription[VoicemailCount]:
    """A mailbox's count of one kind of message; unavailable if it did not answer."""
    return KalliopeSensorDescription(
        key=f"voicemail_{kind}",
        translation_key=f"voicemail_{kind}",
        state_class=SensorStateClass.MEASUREMENT,
        source=MAILBOX,
        value_fn=value_fn,
        requires_model=True,
        exists_fn=_has_voicemail,
    )


def _forwarding_state(config: UserConfig) -> str | None:
    failover = config.failover
    if failover is None or failover.type is FailoverType.UNKNOWN:
        return None
    return failover.type.value.lower()


def _forwarding_attributes(config: UserConfig) -> Mapping[str, Any]:
    failover = config.failover
    if failover is None:
        return {}
    return {
        "destination": failover.destination,
        "destination_name": failover.destination_name,
        "gateway": failover.gateway_name,
    }


PBX_SENSORS: tuple[KalliopeSensorDescription[Any], ...] = (
    KalliopeSensorDescription(
        key="registered_extensions",
        translation_key="registered_extensions",
        state_class=SensorStateClass.MEASUREMENT,
        source=REGISTRATIONS,
        value_fn=lambda data: data.registered_count,
    ),
    KalliopeSensorDescription(
        key="unregistered_extensions",
        translation_key="unregistered_extensions",
        state_class=SensorStateClass.MEASUREMENT,
        source=REGISTRATIONS,
        value_fn=lambda data: data.unregistered_count,
    ),
    _license_sensor(
        "license_status",
        lambda license_info: (
            None
            if license_info.status is LicenseStatus.UNKNOWN
            else license_info.status.value
        ),
        device_class=SensorDeviceClass.ENUM,
        options=LICENSE_STATES,
    ),
    _license_sensor(
        "licensed_extensions", lambda license_info: license_info.licensed_extensions
    ),
    _firmware_sensor("firmware_version", lambda firmware: firmware.running_version),
    _firmware_sensor(
        "firmware_slot",
        lambda firmware: firmware.running.value if firmware.running else None,
        device_class=SensorDeviceClass.ENUM,
        options=[slot.value for slot in FirmwareSlot],
    ),
    _firmware_sensor("firmware_primary", lambda firmware: firmware.primary),
    _firmware_sensor("firmware_secondary", lambda firmware: firmware.secondary),
    _system_sensor(
        "firmware_update_status",
        lambda data: data.update_state,
        "firmware_update_status",
        lambda state: state.status.key if state.status else None,
        device_class=SensorDeviceClass.ENUM,
        options=UPDATE_STATES,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    KalliopeSensorDescription(
        key=TOTAL_VOICEMAIL_KEY,
        translation_key=TOTAL_VOICEMAIL_KEY,
        state_class=SensorStateClass.MEASUREMENT,
        source=VOICEMAIL,
        value_fn=lambda data: data.total_new,
        exists_fn=lambda runtime, _: runtime.voicemail_polled,
    ),
)

EXTENSION_SENSORS: tuple[KalliopeSensorDescription[Any], ...] = (
    KalliopeSensorDescription(
        key="rtt",
        translation_key="rtt",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        # Changes on nearly every poll for every phone: opt-in.
        entity_registry_enabled_default=False,
        source=REGISTRATION,
        value_fn=lambda registration: registration.rtt_ms,
    ),
    _registration_detail("contact", lambda registration: registration.contact),
    _registration_detail("ip_address", lambda registration: registration.ip),
    _registration_detail("user_agent", lambda registration: registration.user_agent),
    _voicemail_sensor("new", lambda count: count.new),
    _voicemail_sensor("urgent", lambda count: count.urgent),
    _voicemail_sensor("old", lambda count: count.old),
    KalliopeSensorDescription(
        key="forwarding",
        translation_key="forwarding",
        device_class=SensorDeviceClass.ENUM,
        options=FAILOVER_STATES,
        source=EXTENSION_CONFIG,
        value_fn=_forwarding_state,
        requires_model=True,
        attributes_fn=_forwarding_attributes,
    ),
)


class KalliopeSensor(KalliopeEntity[Any], SensorEntity):
    """A sensor of the PBX device or of an extension device."""

    entity_description: KalliopeSensorDescription[Any]

    @property
    def native_value(self) -> StateType:
        """The value from the source's model."""
        value: StateType = self._value(self.model)
        return value

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Details where a single state is not enough (forwarding)."""
        return self._attributes(self.model)


@callback
def _add_unpolled_sensors(
    entry: KalliopeConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Sensors not described here: live calls, one per call group, the last backup."""
    async_add_live_sensors(entry, async_add_entities)
    async_add_callgroup_sensors(entry, async_add_entities)
    async_add_entities([LastBackupSensor(entry.runtime_data)])


# PBX sensors turned off in the options are removed rather than left orphaned.
async_setup_entry = platform_setup(
    Platform.SENSOR,
    KalliopeSensor,
    pbx=PBX_SENSORS,
    extensions=EXTENSION_SENSORS,
    prune_pbx=True,
    also=_add_unpolled_sensors,
)
