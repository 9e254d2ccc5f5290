"""Events of an extension: registration lost or regained, new voicemail."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import VOICEMAIL_EVENT_KEY
from .entity import KalliopeEntity, Source, async_add_extension_entities
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class ExtensionEventDescription(EventEntityDescription):
    """An event fired when `observe_fn`'s value moves as `event_fn` decides."""

    source: Source
    observe_fn: Callable[[KalliopeRuntimeData, str], Any]
    # (previous, current) -> (event type, attributes), or None for no event.
    event_fn: Callable[[Any, Any], tuple[str, Mapping[str, Any]] | None]
    exists_fn: Callable[[KalliopeRuntimeData, str], bool] = lambda *_: True


def _registered(runtime: KalliopeRuntimeData, exten: str) -> bool | None:
    registration = runtime.registration(exten)
    return registration.registered if registration else None


def _registration_event(
    previous: bool | None, current: bool | None
) -> tuple[str, Mapping[str, Any]] | None:
    if previous is None or current is None or previous == current:
        return None
    return ("registered" if current else "unregistered"), {}


def _voicemail_counts(
    runtime: KalliopeRuntimeData, exten: str
) -> tuple[int, int] | None:
    count = runtime.voicemail_count(exten)
    return (count.new, count.urgent) if count else None


def _voicemail_event(
    previous: tuple[int, int] | None, current: tuple[int, int] | None
) -> tuple[str, Mapping[str, Any]] | None:
    if previous is None or current is None or current[0] <= previous[0]:
        return None
    return "new_voicemail", {
        "new": current[0],
        "urgent": current[1],
        "arrived": current[0] - previous[0],
    }


EXTENSION_EVENTS: tuple[ExtensionEventDescription, ...] = (
    ExtensionEventDescription(
        key="registration",
        translation_key="registration",
        event_types=["registered", "unregistered"],
        source=Source.REGISTRATIONS,
        observe_fn=_registered,
        event_fn=_registration_event,
    ),
    ExtensionEventDescription(
        key=VOICEMAIL_EVENT_KEY,
        translation_key="voicemail",
        event_types=["new_voicemail"],
        source=Source.VOICEMAIL,
        observe_fn=_voicemail_counts,
        event_fn=_voicemail_event,
        exists_fn=KalliopeRuntimeData.has_voicemail,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KalliopeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Event entities per extension, now and when extensions appear."""
    runtime = entry.runtime_data
    async_add_extension_entities(
        entry,
        async_add_entities,
        Platform.EVENT,
        EXTENSION_EVENTS,
        key_of=lambda description: description.key,
        exists=lambda description, runtime, exten: description.exists_fn(
            runtime, exten
        ),
        create=lambda description, exten: ExtensionEvent(runtime, description, exten),
    )


class ExtensionEvent(KalliopeEntity, EventEntity):
    """Fires when a poll shows the change; the first poll only sets a baseline."""

    entity_description: ExtensionEventDescription

    def __init__(
        self,
        runtime: KalliopeRuntimeData,
        description: ExtensionEventDescription,
        exten: str,
    ) -> None:
        """Remember what the PBX showed when the entity was created."""
        super().__init__(runtime, description.source, description.key, exten)
        self.entity_description = description
        self._exten = exten
        self._observed = description.observe_fn(runtime, exten)
        self._fired = 0

    def _fingerprint(self) -> object:
        return self._fired

    @callback
    def _handle_coordinator_update(self) -> None:
        current = self.entity_description.observe_fn(self.runtime, self._exten)
        if current is not None:
            event = self.entity_description.event_fn(self._observed, current)
            self._observed = current
            if event is not None:
                self._trigger_event(event[0], dict(event[1]))
                self._fired += 1
        super()._handle_coordinator_update()
