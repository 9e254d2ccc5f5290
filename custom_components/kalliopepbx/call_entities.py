"""Entities fed by live call events: call state, missed calls, queues, events.

They are pushed, not polled: each listens to the live events under its own
key (an extension, a queue, the PBX) and writes its state only when what it
shows changed. Per-extension call entities exist only while the option
"live call events" is on, so a PBX that sends none carries none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .api import EventName, PbxEvent
from .call_models import CallNotice, CallNoticeType, CallState, ExtensionCall
from .entity import (
    WritesWhenChanged,
    async_add_extension_entities,
    entity_identity,
)
from .live_events import ACTIVE_CALLS_KEY, LAST_EVENT_KEY, LiveEvents, queue_key
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData

OTHER_PBX_EVENT = "other"


def _live_on(runtime: KalliopeRuntimeData, exten: str | None) -> bool:
    return runtime.live.enabled


@dataclass(frozen=True, kw_only=True)
class LiveDescription(EntityDescription):
    """A live entity: what it shows, read from the live events."""

    # (live events, extension or None) -> the state
    value_fn: Callable[[LiveEvents, str | None], Any] = lambda *_: None
    attributes_fn: Callable[[LiveEvents, str | None], Mapping[str, Any] | None] = (
        lambda *_: None
    )
    exists_fn: Callable[[KalliopeRuntimeData, str | None], bool] = _live_on


@dataclass(frozen=True, kw_only=True)
class LiveSensorDescription(LiveDescription, SensorEntityDescription):
    """A sensor fed by live events."""


def _call_attributes(call: ExtensionCall) -> Mapping[str, Any] | None:
    if call.state is CallState.IDLE:
        return None
    return {
        "direction": call.direction.value,
        "other_number": call.other_number,
        "other_name": call.other_name,
        "dialled_number": call.dialled_number,
    }


EXTENSION_SENSORS: tuple[LiveSensorDescription, ...] = (
    LiveSensorDescription(
        key="call_state",
        translation_key="call_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in CallState],
        value_fn=lambda live, exten: live.tracker.call(str(exten)).state.value,
        attributes_fn=lambda live, exten: _call_attributes(
            live.tracker.call(str(exten))
        ),
    ),
    LiveSensorDescription(
        key="missed_calls",
        translation_key="missed_calls",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda live, exten: live.tracker.missed.get(str(exten), 0),
    ),
)

ACTIVE_CALLS = LiveSensorDescription(
    key="active_calls",
    translation_key="active_calls",
    state_class=SensorStateClass.MEASUREMENT,
    value_fn=lambda live, _: live.tracker.active_calls,
)
LAST_EVENT = LiveSensorDescription(
    key="last_pbx_event",
    translation_key="last_pbx_event",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
    value_fn=lambda live, _: live.last_event_at,
    attributes_fn=lambda live, _: (
        {"event_name": live.last_event.name} if live.last_event else None
    ),
    # Shown whether or not the option is on: it is how a link is checked.
    exists_fn=lambda *_: True,
)


class LiveEntity(WritesWhenChanged):
    """An entity of the PBX (`exten` None) or of an extension, pushed by events."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: LiveDescription

    def __init__(
        self,
        runtime: KalliopeRuntimeData,
        description: LiveDescription,
        exten: str | None = None,
        *,
        key: str | None = None,
    ) -> None:
        """Listen under the extension's key, or `key` for the PBX's entities."""
        self.entity_description = description
        self.runtime = runtime
        self.live = runtime.live
        self.exten = exten
        self._key = exten if exten is not None else (key or LAST_EVENT_KEY)
        self._attr_unique_id, self._attr_device_info = entity_identity(
            runtime, description.key, exten
        )

    @property
    def available(self) -> bool:
        """An extension's entities go with the extension."""
        return self.exten is None or self.exten in self.runtime.extensions

    def _shown(self) -> object:
        description = self.entity_description
        attributes = description.attributes_fn(self.live, self.exten)
        return (
            self.available,
            description.value_fn(self.live, self.exten),
            tuple(attributes.items()) if attributes else None,
        )

    async def async_added_to_hass(self) -> None:
        """Listen for changes of what this entity shows."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.live.add_listener(self.async_write_if_changed, self._key)
        )


class LiveSensor(LiveEntity, SensorEntity):
    """A sensor fed by live call events."""

    entity_description: LiveSensorDescription

    @property
    def native_value(self) -> Any:
        """What the description reads from the live events."""
        return self.entity_description.value_fn(self.live, self.exten)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """The description's attributes, if any."""
        return self.entity_description.attributes_fn(self.live, self.exten)


# Each queue's sensor is this, with its own key and lookups.
QUEUE_CALLS_WAITING = LiveSensorDescription(
    key="calls_waiting",
    translation_key="queue_calls_waiting",
    state_class=SensorStateClass.MEASUREMENT,
)


def _queue_description(queue_id: str) -> LiveSensorDescription:
    def attributes(live: LiveEvents, _: str | None) -> Mapping[str, Any]:
        queue = live.tracker.queues[queue_id]
        unserved = queue.last_unserved or {}
        return {
            "queue_id": queue_id,
            "queue_name": queue.name,
            **{f"last_unserved_{key}": value for key, value in unserved.items()},
        }

    return replace(
        QUEUE_CALLS_WAITING,
        key=f"queue_{queue_id}_calls_waiting",
        value_fn=lambda live, _: len(live.tracker.queues[queue_id].waiting),
        attributes_fn=attributes,
    )


class QueueSensor(LiveSensor):
    """Calls waiting in one queue, named after it."""

    def __init__(self, runtime: KalliopeRuntimeData, queue_id: str) -> None:
        """One queue of the PBX's device."""
        super().__init__(
            runtime,
            _queue_description(queue_id),
            key=queue_key(queue_id),
        )
        name = runtime.live.tracker.queues[queue_id].name
        self._attr_translation_placeholders = {"queue": name or queue_id}


@callback
def async_add_live_sensors(
    entry: KalliopeConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """The PBX's live sensors, queues as they appear, and the extensions'."""
    runtime = entry.runtime_data
    live = runtime.live
    entities: list[Entity] = [LiveSensor(runtime, LAST_EVENT)]
    if not live.enabled:
        _remove_pbx_live_entities(entry)
    else:
        entities.append(LiveSensor(runtime, ACTIVE_CALLS, key=ACTIVE_CALLS_KEY))
        entities.extend(
            QueueSensor(runtime, queue_id) for queue_id in live.tracker.queues
        )
        entry.async_on_unload(
            live.add_queue_added_listener(
                lambda queue_id: async_add_entities([QueueSensor(runtime, queue_id)])
            )
        )
    async_add_entities(entities)
    async_add_extension_entities(
        entry, async_add_entities, Platform.SENSOR, EXTENSION_SENSORS, LiveSensor
    )


@callback
def _remove_pbx_live_entities(entry: KalliopeConfigEntry) -> None:
    """Live events turned off: drop the PBX's call entities, not leave them orphaned."""
    registry = er.async_get(entry.runtime_data.system.hass)
    pbx_id = entry.runtime_data.system.pbx_id
    gone = {f"{pbx_id}_{ACTIVE_CALLS.key}", f"{pbx_id}_{PBX_EVENT.key}"}
    for entity_entry in er.async_entries_for_config_entry(registry, entry.entry_id):
        unique_id = entity_entry.unique_id
        if unique_id in gone or unique_id.startswith(f"{pbx_id}_queue_"):
            registry.async_remove(entity_entry.entity_id)


# ------------------------------------------------------------------- events


@dataclass(frozen=True, kw_only=True)
class LiveEventDescription(LiveDescription, EventEntityDescription):
    """An event entity fed by live events."""


CALL_EVENT = LiveEventDescription(
    key="call",
    translation_key="call",
    event_types=[kind.value for kind in CallNoticeType],
)


def pbx_event_type(name: str) -> str:
    """The event type a PBX event is fired as: its name, dots as underscores."""
    try:
        return EventName(name).value.replace(".", "_")
    except ValueError:
        return OTHER_PBX_EVENT


PBX_EVENT = LiveEventDescription(
    key="pbx_event",
    translation_key="pbx_event",
    event_types=sorted(
        [name.value.replace(".", "_") for name in EventName] + [OTHER_PBX_EVENT]
    ),
)


class CallEvent(LiveEntity, EventEntity):
    """Fires what happens to an extension's calls."""

    entity_description: LiveEventDescription

    async def async_added_to_hass(self) -> None:
        """Listen for notices about this extension's calls."""
        await super().async_added_to_hass()
        self.async_on_remove(
            self.live.add_notice_listener(str(self.exten), self._notice)
        )

    def _shown(self) -> object:
        return self.available

    @callback
    def _notice(self, notice: CallNotice) -> None:
        attributes: dict[str, Any] = {
            "direction": notice.direction.value,
            "caller_number": notice.caller_number,
            "caller_name": notice.caller_name,
            "called_number": notice.called_number,
            "call_id": notice.call_id,
        }
        if notice.duration is not None:
            attributes["duration"] = notice.duration
        if notice.reason is not None:
            attributes["reason"] = notice.reason
        if notice.inferred:
            attributes["inferred"] = True
        self._trigger_event(notice.type.value, attributes)
        self.async_write_ha_state()


class PbxEventEntity(LiveEntity, EventEntity):
    """Fires every event that is not an extension's call: queues, CTI, storage."""

    entity_description: LiveEventDescription

    async def async_added_to_hass(self) -> None:
        """Listen for the PBX's other events."""
        await super().async_added_to_hass()
        self.async_on_remove(self.live.add_pbx_event_listener(self._event))

    def _shown(self) -> object:
        return self.available

    @callback
    def _event(self, event: PbxEvent) -> None:
        self._trigger_event(
            pbx_event_type(event.name),
            {
                "event_name": event.name,
                "description": event.description,
                "severity": event.severity.name.lower() if event.severity else None,
                "extension": event.extension,
                "caller_number": event.caller_number,
                "called_number": event.called_number,
                "parameters": dict(event.params),
            },
        )
        self.async_write_ha_state()


@callback
def async_add_live_events(
    entry: KalliopeConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """The PBX's event entity and each extension's call event entity."""
    runtime = entry.runtime_data
    if runtime.live.enabled:
        async_add_entities([PbxEventEntity(runtime, PBX_EVENT, key=LAST_EVENT_KEY)])
    async_add_extension_entities(
        entry, async_add_entities, Platform.EVENT, (CALL_EVENT,), CallEvent
    )
