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
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .api import FailoverType, FirmwareSlot, FirmwareUpdateStatus, LicenseStatus
from .const import DOMAIN
from .coordinator import TOTAL_VOICEMAIL_KEY
from .entity import KalliopeEntity, Source, async_add_extension_entities
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData

PARALLEL_UPDATES = 0

LICENSE_STATES = [s.value for s in LicenseStatus if s is not LicenseStatus.UNKNOWN]
UPDATE_STATES = [s.key for s in FirmwareUpdateStatus]
FAILOVER_STATES = [
    t.value.lower() for t in FailoverType if t is not FailoverType.UNKNOWN
]


def _supported(endpoint: str) -> Callable[[KalliopeRuntimeData], bool]:
    """Whether the firmware offers the endpoint behind a sensor (no HTTP 404)."""

    def supported(runtime: KalliopeRuntimeData) -> bool:
        data = runtime.system.latest
        return data is None or endpoint not in data.unsupported

    return supported


@dataclass(frozen=True, kw_only=True)
class PbxSensorDescription(SensorEntityDescription):
    """A sensor of the PBX device."""

    source: Source
    value_fn: Callable[[KalliopeRuntimeData], StateType]
    available_fn: Callable[[KalliopeRuntimeData], bool] = lambda _: True
    exists_fn: Callable[[KalliopeRuntimeData], bool] = lambda _: True


@dataclass(frozen=True, kw_only=True)
class ExtensionSensorDescription(SensorEntityDescription):
    """A sensor of an extension device."""

    source: Source
    value_fn: Callable[[KalliopeRuntimeData, str], StateType]
    available_fn: Callable[[KalliopeRuntimeData, str], bool] = lambda *_: True
    exists_fn: Callable[[KalliopeRuntimeData, str], bool] = lambda *_: True
    attributes_fn: Callable[[KalliopeRuntimeData, str], Mapping[str, Any]] | None = None


def _answered(field: str) -> Callable[[KalliopeRuntimeData], bool]:
    """Whether the system poll got this part of its data this cycle.

    None after a bad answer or a licence refusal: unavailable, not unknown.
    """

    def answered(runtime: KalliopeRuntimeData) -> bool:
        data = runtime.system.latest
        return data is not None and getattr(data, field) is not None

    return answered


def _registrations_count(runtime: KalliopeRuntimeData, registered: bool) -> int | None:
    data = runtime.registrations.latest
    if data is None:
        return None
    return data.registered_count if registered else data.unregistered_count


def _license_status(runtime: KalliopeRuntimeData) -> str | None:
    data = runtime.system.latest
    if data is None or data.license is None:
        return None
    status = data.license.status
    return None if status is LicenseStatus.UNKNOWN else status.value


def _firmware(runtime: KalliopeRuntimeData, attribute: str) -> str | None:
    data = runtime.system.latest
    firmware = data.firmware if data else None
    if firmware is None:
        return None
    value = getattr(firmware, attribute)
    return value.value if isinstance(value, FirmwareSlot) else value


def _update_status(runtime: KalliopeRuntimeData) -> str | None:
    data = runtime.system.latest
    state = data.update_state if data else None
    return state.status.key if state and state.status else None


PBX_SENSORS: tuple[PbxSensorDescription, ...] = (
    PbxSensorDescription(
        key="registered_extensions",
        translation_key="registered_extensions",
        state_class=SensorStateClass.MEASUREMENT,
        source=Source.REGISTRATIONS,
        value_fn=lambda runtime: _registrations_count(runtime, registered=True),
    ),
    PbxSensorDescription(
        key="unregistered_extensions",
        translation_key="unregistered_extensions",
        state_class=SensorStateClass.MEASUREMENT,
        source=Source.REGISTRATIONS,
        value_fn=lambda runtime: _registrations_count(runtime, registered=False),
    ),
    PbxSensorDescription(
        key="license_status",
        translation_key="license_status",
        device_class=SensorDeviceClass.ENUM,
        options=LICENSE_STATES,
        source=Source.SYSTEM,
        value_fn=_license_status,
        available_fn=_answered("license"),
        exists_fn=_supported("license"),
    ),
    PbxSensorDescription(
        key="licensed_extensions",
        translation_key="licensed_extensions",
        source=Source.SYSTEM,
        value_fn=lambda runtime: (
            data.license.licensed_extensions
            if (data := runtime.system.latest) and data.license
            else None
        ),
        available_fn=_answered("license"),
        exists_fn=_supported("license"),
    ),
    PbxSensorDescription(
        key="firmware_version",
        translation_key="firmware_version",
        entity_category=EntityCategory.DIAGNOSTIC,
        source=Source.SYSTEM,
        value_fn=lambda runtime: _firmware(runtime, "running_version"),
        available_fn=_answered("firmware"),
        exists_fn=_supported("firmware"),
    ),
    PbxSensorDescription(
        key="firmware_slot",
        translation_key="firmware_slot",
        device_class=SensorDeviceClass.ENUM,
        options=[slot.value for slot in FirmwareSlot],
        entity_category=EntityCategory.DIAGNOSTIC,
        source=Source.SYSTEM,
        value_fn=lambda runtime: _firmware(runtime, "running"),
        available_fn=_answered("firmware"),
        exists_fn=_supported("firmware"),
    ),
    PbxSensorDescription(
        key="firmware_primary",
        translation_key="firmware_primary",
        entity_category=EntityCategory.DIAGNOSTIC,
        source=Source.SYSTEM,
        value_fn=lambda runtime: _firmware(runtime, "primary"),
        available_fn=_answered("firmware"),
        exists_fn=_supported("firmware"),
    ),
    PbxSensorDescription(
        key="firmware_secondary",
        translation_key="firmware_secondary",
        entity_category=EntityCategory.DIAGNOSTIC,
        source=Source.SYSTEM,
        value_fn=lambda runtime: _firmware(runtime, "secondary"),
        available_fn=_answered("firmware"),
        exists_fn=_supported("firmware"),
    ),
    PbxSensorDescription(
        key="firmware_update_status",
        translation_key="firmware_update_status",
        device_class=SensorDeviceClass.ENUM,
        options=UPDATE_STATES,
        entity_category=EntityCategory.DIAGNOSTIC,
        source=Source.SYSTEM,
        value_fn=_update_status,
        available_fn=_answered("update_state"),
        exists_fn=_supported("firmware_update_status"),
    ),
    PbxSensorDescription(
        key=TOTAL_VOICEMAIL_KEY,
        translation_key=TOTAL_VOICEMAIL_KEY,
        state_class=SensorStateClass.MEASUREMENT,
        source=Source.VOICEMAIL,
        value_fn=lambda runtime: (
            data.total_new if (data := runtime.voicemail.latest) else None
        ),
        exists_fn=lambda runtime: runtime.voicemail_polled,
    ),
)


def _registration_value(
    attribute: str,
) -> Callable[[KalliopeRuntimeData, str], StateType]:
    def value(runtime: KalliopeRuntimeData, exten: str) -> StateType:
        registration = runtime.registration(exten)
        return getattr(registration, attribute) if registration else None

    return value


def _voicemail_value(attribute: str) -> Callable[[KalliopeRuntimeData, str], StateType]:
    def value(runtime: KalliopeRuntimeData, exten: str) -> StateType:
        count = runtime.voicemail_count(exten)
        return getattr(count, attribute) if count else None

    return value


def _forwarding_state(runtime: KalliopeRuntimeData, exten: str) -> str | None:
    config = runtime.config(exten)
    failover = config.failover if config else None
    if failover is None or failover.type is FailoverType.UNKNOWN:
        return None
    return failover.type.value.lower()


def _forwarding_attributes(
    runtime: KalliopeRuntimeData, exten: str
) -> Mapping[str, Any]:
    config = runtime.config(exten)
    failover = config.failover if config else None
    if failover is None:
        return {}
    return {
        "destination": failover.destination,
        "destination_name": failover.destination_name,
        "gateway": failover.gateway_name,
    }


EXTENSION_SENSORS: tuple[ExtensionSensorDescription, ...] = (
    ExtensionSensorDescription(
        key="rtt",
        translation_key="rtt",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        # Changes on nearly every poll for every phone: opt-in.
        entity_registry_enabled_default=False,
        source=Source.REGISTRATIONS,
        value_fn=_registration_value("rtt_ms"),
    ),
    ExtensionSensorDescription(
        key="contact",
        translation_key="contact",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        source=Source.REGISTRATIONS,
        value_fn=_registration_value("contact"),
    ),
    ExtensionSensorDescription(
        key="ip_address",
        translation_key="ip_address",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        source=Source.REGISTRATIONS,
        value_fn=_registration_value("ip"),
    ),
    ExtensionSensorDescription(
        key="user_agent",
        translation_key="user_agent",
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        source=Source.REGISTRATIONS,
        value_fn=_registration_value("user_agent"),
    ),
    *(
        ExtensionSensorDescription(
            key=f"voicemail_{kind}",
            translation_key=f"voicemail_{kind}",
            state_class=SensorStateClass.MEASUREMENT,
            source=Source.VOICEMAIL,
            value_fn=_voicemail_value(kind),
            available_fn=lambda runtime, exten: (
                runtime.voicemail_count(exten) is not None
            ),
            exists_fn=KalliopeRuntimeData.has_voicemail,
        )
        for kind in ("new", "urgent", "old")
    ),
    ExtensionSensorDescription(
        key="forwarding",
        translation_key="forwarding",
        device_class=SensorDeviceClass.ENUM,
        options=FAILOVER_STATES,
        source=Source.SYSTEM,
        value_fn=_forwarding_state,
        available_fn=lambda runtime, exten: runtime.config(exten) is not None,
        attributes_fn=_forwarding_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KalliopeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the PBX's sensors and those of every extension, now and later."""
    runtime = entry.runtime_data
    registry = er.async_get(hass)
    for description in PBX_SENSORS:
        if description.exists_fn(runtime):
            continue
        # Turned off in the options: remove it rather than leave it orphaned.
        if entity_id := registry.async_get_entity_id(
            Platform.SENSOR, DOMAIN, f"{runtime.system.pbx_id}_{description.key}"
        ):
            registry.async_remove(entity_id)
    async_add_entities(
        PbxSensor(runtime, description)
        for description in PBX_SENSORS
        if description.exists_fn(runtime)
    )
    async_add_extension_entities(
        entry,
        async_add_entities,
        Platform.SENSOR,
        EXTENSION_SENSORS,
        key_of=lambda description: description.key,
        exists=lambda description, runtime, exten: description.exists_fn(
            runtime, exten
        ),
        create=lambda description, exten: ExtensionSensor(runtime, description, exten),
    )


class PbxSensor(KalliopeEntity, SensorEntity):
    """A sensor of the PBX device."""

    entity_description: PbxSensorDescription

    def __init__(
        self, runtime: KalliopeRuntimeData, description: PbxSensorDescription
    ) -> None:
        """Bind the description to its coordinator."""
        super().__init__(runtime, description.source, description.key)
        self.entity_description = description

    def _data_available(self) -> bool:
        return self.entity_description.available_fn(self.runtime)

    @property
    def native_value(self) -> StateType:
        """The value from the PBX's data."""
        return self.entity_description.value_fn(self.runtime)

    def _fingerprint(self) -> object:
        return self.native_value


class ExtensionSensor(KalliopeEntity, SensorEntity):
    """A sensor of an extension device."""

    entity_description: ExtensionSensorDescription

    def __init__(
        self,
        runtime: KalliopeRuntimeData,
        description: ExtensionSensorDescription,
        exten: str,
    ) -> None:
        """Bind the description to its coordinator and extension."""
        super().__init__(runtime, description.source, description.key, exten)
        self.entity_description = description
        self._exten = exten

    def _data_available(self) -> bool:
        return self.entity_description.available_fn(self.runtime, self._exten)

    @property
    def native_value(self) -> StateType:
        """The value from the extension's data."""
        return self.entity_description.value_fn(self.runtime, self._exten)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Details where a single state is not enough (forwarding)."""
        attributes_fn = self.entity_description.attributes_fn
        return attributes_fn(self.runtime, self._exten) if attributes_fn else None

    def _fingerprint(self) -> object:
        attributes = self.extra_state_attributes
        return (self.native_value, tuple(attributes.items()) if attributes else None)
