"""What live call tracking shows: call states, notices, queues, changes."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from enum import StrEnum

from .api import EventName, PbxEvent

# A flood of queue events cannot grow a queue beyond this.
MAX_WAITING_PER_QUEUE = 1024


class CallState(StrEnum):
    """What an extension's phone is doing."""

    IDLE = "idle"
    RINGING = "ringing"
    DIALING = "dialing"
    IN_CALL = "in_call"


class CallNoticeType(StrEnum):
    """The event types of an extension's Call event entity."""

    INCOMING = "incoming"
    ANSWERED = "answered"
    MISSED = "missed"
    FAILED = "failed"
    ENDED = "ended"


class Direction(StrEnum):
    """Which way a call goes, seen from the extension."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(slots=True)
class ExtensionCall:
    """The call an extension is in (only while it is in one)."""

    state: CallState
    direction: Direction
    call_id: str | None = None
    other_number: str | None = None
    other_name: str | None = None
    dialled_number: str | None = None
    # Wall-clock seconds: when the state began, when news of it last came.
    since: float = 0.0
    updated: float = 0.0


IDLE = ExtensionCall(CallState.IDLE, Direction.INBOUND)


@dataclass(frozen=True, slots=True)
class CallNotice:
    """Something that happened to an extension's call, for its event entity."""

    exten: str
    type: CallNoticeType
    direction: Direction
    call_id: str | None = None
    caller_number: str | None = None
    caller_name: str | None = None
    called_number: str | None = None
    duration: int | None = None
    reason: str | None = None
    # Missed without a `missedcall` event: deduced at the call's end.
    inferred: bool = False


@dataclass(slots=True)
class QueueState:
    """Calls waiting in one queue, as its events tell."""

    name: str | None = None
    # call id -> when it entered
    waiting: dict[str, float] = field(default_factory=dict)
    last_unserved: dict[str, str | int | float | None] | None = None

    def apply(
        self, entering: bool, event: PbxEvent, caller_name: str | None, now: float
    ) -> bool:
        """A call entered or left (served or not); True if anything shown changed."""
        renamed = bool(event.queue_name) and self.name != event.queue_name
        if renamed:
            self.name = event.queue_name
        if event.call_id is None:
            # Without a call id, what waits cannot be told apart reliably.
            return renamed
        if entering:
            return self.enter(event.call_id, now) or renamed
        self.waiting.pop(event.call_id, None)
        if event.known_name is EventName.QUEUE_UNSERVED:
            self.last_unserved = {
                "caller_number": event.caller_number,
                "caller_name": caller_name,
                "called_number": event.called_number,
                "waiting_time": event.waiting_time,
                "reason": event.reason,
                "call_id": event.call_id,
                "at": now,
            }
        return True

    def enter(self, call_id: str, now: float) -> bool:
        """A call started waiting; False if it was waiting already."""
        if call_id in self.waiting:
            return False
        self.waiting[call_id] = now
        while len(self.waiting) > MAX_WAITING_PER_QUEUE:
            del self.waiting[next(iter(self.waiting))]
        return True

    def expire(self, before: float) -> bool:
        """Forget calls waiting since before `before`; True if there were any."""
        stale = [call for call, entered in self.waiting.items() if entered < before]
        for call_id in stale:
            del self.waiting[call_id]
        return bool(stale)


@dataclass(slots=True)
class Changes:
    """What one event changed, for the entities to show."""

    extensions: set[str] = field(default_factory=set)
    notices: list[CallNotice] = field(default_factory=list)
    active_calls: bool = False
    queues: set[str] = field(default_factory=set)
    # The event is for the PBX's own event entity (not an extension's call).
    pbx_event: bool = False
    # Extensions whose missed count went up.
    missed: set[str] = field(default_factory=set)
    # Extensions a call rang that ended unanswered: a message may be waiting.
    unanswered: set[str] = field(default_factory=set)


class Bounded[K]:
    """A set that forgets its oldest members beyond a size."""

    def __init__(self, size: int) -> None:
        """Keep at most `size` members."""
        self._items: OrderedDict[K, None] = OrderedDict()
        self._size = size

    def add(self, item: K) -> bool:
        """Add; False if it was there already."""
        if item in self._items:
            return False
        self._items[item] = None
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return True

    def __contains__(self, item: object) -> bool:
        """Whether `item` is (still) remembered."""
        return item in self._items
