"""Events of an extension: registration lost or regained, new voicemail."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.const import Platform
from homeassistant.core import callback

from .call_entities import async_add_live_events
from .coordinator import VOICEMAIL_EVENT_KEY
from .entity import (
    KalliopeEntity,
    KalliopeEntityDescription,
    platform_setup,
)
from .runtime import KalliopeRuntimeData
from .sources import MAILBOX, REGISTRATION

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class ExtensionEventDescription[ModelT](
    KalliopeEntityDescription[ModelT], EventEntityDescription
):
    """An event fired when `value_fn`'s value moves as `event_fn` decides."""

    # (previous, current) -> (event type, attributes), or None for no event.
    event_fn: Callable[[Any, Any], tuple[str, Mapping[str, Any]] | None]


def _registration_event(
    previous: bool | None, current: bool | None
) -> tuple[str, Mapping[str, Any]] | None:
    if previous is None or current is None or previous == current:
        return None
    return ("registered" if current else "unregistered"), {}


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


EXTENSION_EVENTS: tuple[ExtensionEventDescription[Any], ...] = (
    ExtensionEventDescription(
        key="registration",
        translation_key="registration",
        event_types=["registered", "unregistered"],
        source=REGISTRATION,
        value_fn=lambda registration: registration.registered,
        event_fn=_registration_event,
    ),
    ExtensionEventDescription(
        key=VOICEMAIL_EVENT_KEY,
        translation_key="voicemail",
        event_types=["new_voicemail"],
        source=MAILBOX,
        value_fn=lambda count: (count.new, count.urgent),
        event_fn=_voicemail_event,
        exists_fn=lambda runtime, exten: (
            exten is not None and runtime.has_voicemail(exten)
        ),
    ),
)


class ExtensionEvent(KalliopeEntity[Any], EventEntity):
    """Fires when a poll shows the change; the first poll only sets a baseline."""

    entity_description: ExtensionEventDescription[Any]
    # Firings so far; a class default until the first one.
    _fired = 0

    def __init__(
        self,
        runtime: KalliopeRuntimeData,
        description: ExtensionEventDescription[Any],
        exten: str,
    ) -> None:
        """Remember what the PBX showed when the entity was created."""
        super().__init__(runtime, description, exten)
        self._observed = self._value(self.model)

    def _fingerprint(self, model: Any) -> object:
        # An event's state is its last firing, not the observed value.
        return self._fired

    @callback
    def _handle_coordinator_update(self) -> None:
        current = self._value(self.model)
        if current is not None:
            event = self.entity_description.event_fn(self._observed, current)
            self._observed = current
            if event is not None:
                self._trigger_event(event[0], dict(event[1]))
                self._fired += 1
        super()._handle_coordinator_update()


async_setup_entry = platform_setup(
    Platform.EVENT,
    ExtensionEvent,
    extensions=EXTENSION_EVENTS,
    also=async_add_live_events,
)
