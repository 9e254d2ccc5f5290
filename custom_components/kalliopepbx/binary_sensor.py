"""Binary sensors of a KalliopePBX and of its extensions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import KalliopeEntity, Source, async_add_extension_entities
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class PbxBinarySensorDescription(BinarySensorEntityDescription):
    """A binary sensor of the PBX device."""

    source: Source
    value_fn: Callable[[KalliopeRuntimeData], bool | None]
    exists_fn: Callable[[KalliopeRuntimeData], bool] = lambda _: True


@dataclass(frozen=True, kw_only=True)
class ExtensionBinarySensorDescription(BinarySensorEntityDescription):
    """A binary sensor of an extension device."""

    source: Source
    value_fn: Callable[[KalliopeRuntimeData, str], bool | None]


PBX_BINARY_SENSORS: tuple[PbxBinarySensorDescription, ...] = (
    PbxBinarySensorDescription(
        key="pending_changes",
        translation_key="pending_changes",
        source=Source.REGISTRATIONS,
        value_fn=lambda runtime: (
            data.pending if (data := runtime.registrations.latest) else None
        ),
        # A firmware without `/pbx/pending` (HTTP 404) reports None.
        exists_fn=lambda runtime: (
            (data := runtime.registrations.latest) is None
            or data.pending is not None
            or data.pending_failed
        ),
    ),
    PbxBinarySensorDescription(
        key="license_problem",
        translation_key="license_problem",
        device_class=BinarySensorDeviceClass.PROBLEM,
        source=Source.SYSTEM,
        value_fn=lambda runtime: (
            data.license_problem if (data := runtime.system.latest) else None
        ),
    ),
)

EXTENSION_BINARY_SENSORS: tuple[ExtensionBinarySensorDescription, ...] = (
    ExtensionBinarySensorDescription(
        key="registered",
        translation_key="registered",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        source=Source.REGISTRATIONS,
        value_fn=lambda runtime, exten: (
            registration.registered
            if (registration := runtime.registration(exten))
            else False
        ),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KalliopeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the PBX's binary sensors and those of every extension."""
    runtime = entry.runtime_data
    async_add_entities(
        PbxBinarySensor(runtime, description)
        for description in PBX_BINARY_SENSORS
        if description.exists_fn(runtime)
    )
    async_add_extension_entities(
        entry,
        async_add_entities,
        Platform.BINARY_SENSOR,
        EXTENSION_BINARY_SENSORS,
        key_of=lambda description: description.key,
        exists=lambda *_: True,
        create=lambda description, exten: ExtensionBinarySensor(
            runtime, description, exten
        ),
    )


class PbxBinarySensor(KalliopeEntity, BinarySensorEntity):
    """A binary sensor of the PBX device."""

    entity_description: PbxBinarySensorDescription

    def __init__(
        self, runtime: KalliopeRuntimeData, description: PbxBinarySensorDescription
    ) -> None:
        """Bind the description to its coordinator."""
        super().__init__(runtime, description.source, description.key)
        self.entity_description = description

    def _data_available(self) -> bool:
        return self.is_on is not None

    @property
    def is_on(self) -> bool | None:
        """The value from the PBX's data."""
        return self.entity_description.value_fn(self.runtime)

    def _fingerprint(self) -> object:
        return self.is_on


class ExtensionBinarySensor(KalliopeEntity, BinarySensorEntity):
    """A binary sensor of an extension device."""

    entity_description: ExtensionBinarySensorDescription

    def __init__(
        self,
        runtime: KalliopeRuntimeData,
        description: ExtensionBinarySensorDescription,
        exten: str,
    ) -> None:
        """Bind the description to its coordinator and extension."""
        super().__init__(runtime, description.source, description.key, exten)
        self.entity_description = description
        self._exten = exten

    @property
    def is_on(self) -> bool | None:
        """The value from the extension's data."""
        return self.entity_description.value_fn(self.runtime, self._exten)

    def _fingerprint(self) -> object:
        return self.is_on
