"""Binary sensors of a KalliopePBX and of its extensions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import Platform

from .entity import (
    KalliopeEntity,
    KalliopeEntityDescription,
    platform_setup,
)
from .sources import REGISTRATION, REGISTRATIONS, SYSTEM

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class KalliopeBinarySensorDescription[ModelT](
    KalliopeEntityDescription[ModelT], BinarySensorEntityDescription
):
    """A binary sensor whose state `value_fn` reads from its source's model."""

    value_fn: Callable[[ModelT], bool | None] = lambda _: None


PBX_BINARY_SENSORS: tuple[KalliopeBinarySensorDescription[Any], ...] = (
    KalliopeBinarySensorDescription(
        key="pending_changes",
        translation_key="pending_changes",
        source=REGISTRATIONS,
        value_fn=lambda data: data.pending,
        requires_model=True,
        available_fn=lambda data: data.pending is not None,
        # A firmware without `/pbx/pending` (HTTP 404) reports None.
        exists_fn=lambda runtime, _: (
            (data := runtime.registrations.latest) is None
            or data.pending is not None
            or data.pending_failed
        ),
    ),
    KalliopeBinarySensorDescription(
        key="license_problem",
        translation_key="license_problem",
        device_class=BinarySensorDeviceClass.PROBLEM,
        source=SYSTEM,
        value_fn=lambda data: data.license_problem,
        requires_model=True,
        available_fn=lambda data: data.license_problem is not None,
    ),
)

EXTENSION_BINARY_SENSORS: tuple[KalliopeBinarySensorDescription[Any], ...] = (
    KalliopeBinarySensorDescription(
        key="registered",
        translation_key="registered",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        source=REGISTRATION,
        value_fn=lambda registration: registration.registered,
        # Not listed by the PBX: not registered.
        missing_value=False,
    ),
)


class KalliopeBinarySensor(KalliopeEntity[Any], BinarySensorEntity):
    """A binary sensor of the PBX device or of an extension device."""

    entity_description: KalliopeBinarySensorDescription[Any]

    @property
    def is_on(self) -> bool | None:
        """The value from the source's model."""
        value: bool | None = self._value(self.model)
        return value


async_setup_entry = platform_setup(
    Platform.BINARY_SENSOR,
    KalliopeBinarySensor,
    pbx=PBX_BINARY_SENSORS,
    extensions=EXTENSION_BINARY_SENSORS,
)
