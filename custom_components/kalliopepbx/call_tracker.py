"""Live call state from the events the PBX pushes. Pure Python: no Home Assistant.

Rules (the vendor documents event names, not their semantics):
- An extension event names its extension (`extension` and aliases); failing
  that, the called number, then the caller, if it is an extension here.
- `incomingcall` → ringing; `answercall` → in call, for the caller's
  extension too when it dialled from here; `missedcall` and `failedcall` →
  idle; `call.end` → idle for every extension in that call. `call.start`
  and `account.startcall` from an extension → dialing: no event says when
  an outside number answers, so an outgoing call to one stays `dialing`.
- A call that rang an extension and ended with nobody answering counts as
  missed there even without `missedcall` (the PBX sends that one only when
  the extension's overflow actions ask for it); each missed call counts once.
- Out of order: an event older (PBX timestamp) than the last one applied to
  an extension, or about a call that already ended, changes no state.
- A missing end event: ringing ends after `RINGING_TIMEOUT`, a call after
  `CALL_TIMEOUT` without news of it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

from .api import EventName, PbxEvent
from .call_models import (
    IDLE,
    Bounded,
    CallNotice,
    CallNoticeType,
    CallState,
    Changes,
    Direction,
    ExtensionCall,
    QueueState,
)

RINGING_TIMEOUT = 300.0
CALL_TIMEOUT = 8 * 3600.0
# Bounds on what is remembered about calls: a flood of events cannot grow it.
MAX_REMEMBERED_CALLS = 4096


_EXTENSION_EVENTS = {
    EventName.EXTENSION_INCOMING,
    EventName.EXTENSION_ANSWERED,
    EventName.EXTENSION_MISSED,
    EventName.EXTENSION_FAILED,
}
_QUEUE_ENTRIES = {EventName.QUEUE_ENTER, EventName.QUEUE_ENQUEUE}
_QUEUE_EVENTS = {
    EventName.QUEUE_ENTER,
    EventName.QUEUE_ENQUEUE,
    EventName.QUEUE_SERVED,
    EventName.QUEUE_UNSERVED,
}


class CallTracker:
    """Applies events to the extensions' call state, queues and counters."""

    def __init__(
        self,
        is_extension: Callable[[str], bool],
        name_of: Callable[[str], str | None] = lambda _: None,
    ) -> None:
        """`is_extension` tells extensions from outside numbers; `name_of` names numbers."""
        self._is_extension = is_extension
        self._name_of = name_of
        self._calls: dict[str, ExtensionCall] = {}
        # The PBX timestamp of the last event applied to each extension.
        self._event_time: dict[str, float] = {}
        self.missed: dict[str, int] = {}
        # call id -> when it started; calls under way.
        self._active: OrderedDict[str, float] = OrderedDict()
        # call id -> the extensions it rang or connected.
        self._parties: OrderedDict[str, set[str]] = OrderedDict()
        self._answered: Bounded[str] = Bounded(MAX_REMEMBERED_CALLS)
        self._ended: Bounded[str] = Bounded(MAX_REMEMBERED_CALLS)
        self._missed_counted: Bounded[tuple[str, str]] = Bounded(MAX_REMEMBERED_CALLS)
        self.queues: dict[str, QueueState] = {}

    # ------------------------------------------------------------- reading

    def call(self, exten: str) -> ExtensionCall:
        """The extension's call, or `IDLE`."""
        return self._calls.get(exten, IDLE)

    @property
    def active_calls(self) -> int:
        """Calls under way: started and not ended, or holding an extension."""
        ids = set(self._active)
        anonymous = 0
        for call in self._calls.values():
            if call.call_id is None:
                anonymous += 1
            else:
                ids.add(call.call_id)
        return len(ids) + anonymous

    def calls_with(self, number: str) -> Iterator[str]:
        """Extensions whose call is with `number` (to name it later)."""
        return (
            exten for exten, call in self._calls.items() if call.other_number == number
        )

    # ------------------------------------------------------------ changing

    def apply(self, event: PbxEvent, now: float) -> Changes:
        """Apply one event received at `now` (wall-clock seconds)."""
        changes = Changes()
        name = event.known_name
        if name in _EXTENSION_EVENTS:
            exten = self._extension_of(event)
            if exten is None:
                changes.pbx_event = True
                return changes
            self._on_extension_event(name, exten, event, now, changes)
        elif name is EventName.CALL_START:
            self._on_call_start(event, now, changes)
        elif name is EventName.CALL_END:
            self._on_call_end(event, now, changes)
        else:
            changes.pbx_event = True
            if name is EventName.ACCOUNT_START:
                self._start_dialing(event, now, changes)
            elif name in _QUEUE_EVENTS:
                self._on_queue_event(name, event, now, changes)
        return changes

    def expire(self, now: float) -> Changes:
        """End what no end event ended: see the module's rules."""
        changes = Changes()
        for exten, call in list(self._calls.items()):
            limit = RINGING_TIMEOUT if call.state is CallState.RINGING else CALL_TIMEOUT
            if now - call.updated > limit:
                del self._calls[exten]
                changes.extensions.add(exten)
        for call_id, started in list(self._active.items()):
            if now - started > CALL_TIMEOUT:
                del self._active[call_id]
                self._parties.pop(call_id, None)
                changes.active_calls = True
        for queue_id, queue in self.queues.items():
            if queue.expire(now - CALL_TIMEOUT):
                changes.queues.add(queue_id)
        if changes.extensions:
            changes.active_calls = True
        return changes

    def reset_missed(self, exten: str) -> bool:
        """Set an extension's missed calls to 0; False if it was 0 already."""
        return self.missed.pop(exten, 0) != 0

    def name_found(self, number: str, name: str) -> set[str]:
        """A name for `number` became known: the extensions now showing it."""
        changed = set()
        for exten in list(self.calls_with(number)):
            call = self._calls[exten]
            if call.other_name is None:
                call.other_name = name
                changed.add(exten)
        return changed

    # ------------------------------------------------------------- helpers

    def _extension_of(self, event: PbxEvent) -> str | None:
        for number in (event.extension, event.called_number, event.caller_number):
            if number and self._is_extension(number):
                return number
        return None

    def _caller_name(self, event: PbxEvent) -> str | None:
        if event.caller_name:
            return event.caller_name
        return self._name_of(event.caller_number) if event.caller_number else None

    def _stale(self, exten: str, event: PbxEvent) -> bool:
        if event.call_id is not None and event.call_id in self._ended:
            return True
        if event.timestamp is None:
            return False
        last = self._event_time.get(exten)
        if last is not None and event.timestamp < last:
            return True
        self._event_time[exten] = event.timestamp
        return False

    def _notice(
        self,
        exten: str,
        kind: CallNoticeType,
        event: PbxEvent,
        direction: Direction = Direction.INBOUND,
        **extra: object,
    ) -> CallNotice:
        return CallNotice(
            exten=exten,
            type=kind,
            direction=direction,
            call_id=event.call_id,
            caller_number=event.caller_number,
            caller_name=self._caller_name(event),
            called_number=event.did or event.called_number,
            reason=event.reason,
            **extra,  # type: ignore[arg-type]
        )

    def _inbound(self, state: CallState, event: PbxEvent, now: float) -> ExtensionCall:
        return ExtensionCall(
            state,
            Direction.INBOUND,
            call_id=event.call_id,
            other_number=event.caller_number,
            other_name=self._caller_name(event),
            dialled_number=event.did or event.called_number,
            since=now,
            updated=now,
        )

    def _remember_party(self, call_id: str | None, exten: str) -> None:
        if call_id is None:
            return
        self._parties.setdefault(call_id, set()).add(exten)
        self._parties.move_to_end(call_id)
        while len(self._parties) > MAX_REMEMBERED_CALLS:
            self._parties.popitem(last=False)

    def _set(self, exten: str, call: ExtensionCall | None, changes: Changes) -> None:
        if call is None:
            if self._calls.pop(exten, None) is None:
                return
        else:
            self._calls[exten] = call
        changes.extensions.add(exten)
        changes.active_calls = True

    def _count_missed(
        self, exten: str, event: PbxEvent, changes: Changes, *, inferred: bool
    ) -> None:
        if event.call_id is not None and not self._missed_counted.add(
            (exten, event.call_id)
        ):
            return
        self.missed[exten] = self.missed.get(exten, 0) + 1
        changes.missed.add(exten)
        changes.notices.append(
            self._notice(exten, CallNoticeType.MISSED, event, inferred=inferred)
        )

    def _on_extension_event(
        self,
        name: EventName,
        exten: str,
        event: PbxEvent,
        now: float,
        changes: Changes,
    ) -> None:
        stale = self._stale(exten, event)
        current = self._calls.get(exten)
        same_call = current is not None and (
            current.call_id is None or current.call_id == event.call_id
        )
        self._remember_party(event.call_id, exten)
        if name is EventName.EXTENSION_INCOMING:
            if stale:
                return
            changes.notices.append(self._notice(exten, CallNoticeType.INCOMING, event))
            if current is not None and current.state is CallState.IN_CALL:
                current.updated = now  # call waiting: still in the first call
                return
            self._set(exten, self._inbound(CallState.RINGING, event, now), changes)
        elif name is EventName.EXTENSION_ANSWERED:
            if stale:
                return
            if event.call_id is not None:
                self._answered.add(event.call_id)
            changes.notices.append(self._notice(exten, CallNoticeType.ANSWERED, event))
            self._set(exten, self._inbound(CallState.IN_CALL, event, now), changes)
            self._answered_elsewhere(exten, event, now, changes)
        elif name is EventName.EXTENSION_MISSED:
            self._count_missed(exten, event, changes, inferred=False)
            if event.call_id is None:
                # No end event can be matched to it: treat it as the end.
                changes.unanswered.add(exten)
            if not stale and same_call:
                self._set(exten, None, changes)
        else:
            changes.notices.append(self._notice(exten, CallNoticeType.FAILED, event))
            if event.call_id is not None:
                # Failed, not missed: the end of the call must not count it.
                self._missed_counted.add((exten, event.call_id))
            if not stale and same_call:
                self._set(exten, None, changes)

    def _answered_elsewhere(
        self, exten: str, event: PbxEvent, now: float, changes: Changes
    ) -> None:
        """The caller's extension is in the call; others it rang stop ringing."""
        if event.call_id is None:
            return
        for other in self._parties.get(event.call_id, set()) - {exten}:
            call = self._calls.get(other)
            if call is None or call.call_id != event.call_id:
                continue
            if call.state is CallState.DIALING:
                call.state = CallState.IN_CALL
                call.since = call.updated = now
                changes.extensions.add(other)
                changes.notices.append(
                    self._notice(
                        other, CallNoticeType.ANSWERED, event, Direction.OUTBOUND
                    )
                )
            elif call.state is CallState.RINGING:
                self._set(other, None, changes)

    def _on_call_start(self, event: PbxEvent, now: float, changes: Changes) -> None:
        if event.call_id is not None and event.call_id not in self._ended:
            self._active[event.call_id] = now
            while len(self._active) > MAX_REMEMBERED_CALLS:
                self._active.popitem(last=False)
            changes.active_calls = True
        self._start_dialing(event, now, changes)

    def _start_dialing(self, event: PbxEvent, now: float, changes: Changes) -> None:
        caller = event.caller_number
        if not caller or not self._is_extension(caller) or caller in self._calls:
            return
        if self._stale(caller, event):
            return
        self._remember_party(event.call_id, caller)
        self._set(
            caller,
            ExtensionCall(
                CallState.DIALING,
                Direction.OUTBOUND,
                call_id=event.call_id,
                other_number=event.called_number,
                other_name=(
                    self._name_of(event.called_number) if event.called_number else None
                ),
                dialled_number=event.called_number,
                since=now,
                updated=now,
            ),
            changes,
        )

    def _on_call_end(self, event: PbxEvent, now: float, changes: Changes) -> None:
        call_id = event.call_id
        parties: set[str] = set()
        if call_id is not None:
            if not self._ended.add(call_id):
                return
            if self._active.pop(call_id, None) is not None:
                changes.active_calls = True
            parties = self._parties.pop(call_id, set())
            for queue_id, queue in self.queues.items():
                if queue.waiting.pop(call_id, None) is not None:
                    changes.queues.add(queue_id)
        for number in (event.extension, event.caller_number, event.called_number):
            if number and number in self._calls:
                parties.add(number)
        answered = call_id is not None and call_id in self._answered
        if not answered:
            changes.unanswered.update(parties)
        for exten in sorted(parties):
            call = self._calls.get(exten)
            if call is None or (
                call_id is not None and call.call_id not in (None, call_id)
            ):
                continue
            if call.state is CallState.RINGING and not answered:
                self._count_missed(exten, event, changes, inferred=True)
            elif call.state in (CallState.IN_CALL, CallState.DIALING):
                duration = event.duration
                if duration is None and call.state is CallState.IN_CALL:
                    duration = max(0, round(now - call.since))
                changes.notices.append(
                    self._notice(
                        exten,
                        CallNoticeType.ENDED,
                        event,
                        call.direction,
                        duration=duration,
                    )
                )
            self._set(exten, None, changes)

    def _on_queue_event(
        self, name: EventName, event: PbxEvent, now: float, changes: Changes
    ) -> None:
        queue_id = event.queue_id or event.queue_name
        if queue_id is None:
            return
        queue = self.queues.setdefault(queue_id, QueueState())
        if event.call_id in self._ended and name in _QUEUE_ENTRIES:
            return
        if queue.apply(name in _QUEUE_ENTRIES, event, self._caller_name(event), now):
            changes.queues.add(queue_id)
