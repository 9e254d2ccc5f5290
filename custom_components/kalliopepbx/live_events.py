"""Live call events: the webhook the PBX calls, and the state it feeds.

The webhook receiver hands each decoded event here: repeated deliveries are
dropped, the call tracker turns the rest into state, and listeners keyed by
extension wake only the entities concerned. Missed-call counters, known
queues and the link's history survive restarts; call state does not (after
a restart every extension is idle until the next event).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
import time
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .api import KalliopeClient, PbxEvent
from .call_models import CallNotice, CallNoticeType, Changes, QueueState
from .call_tracker import CallTracker
from .caller_names import CallerNames
from .const import CONF_LIVE_EVENTS, DOMAIN
from .dispatch import KeyedListeners
from .runtime import KalliopeConfigEntry
from .webhook_receiver import NotificationReceiver, async_ensure_credentials

STORE_VERSION = 1
EXPIRE_INTERVAL = timedelta(seconds=30)
SILENCE_CHECK_INTERVAL = timedelta(hours=1)
# Set up on the PBX a day ago and not one event since: the link is broken.
SILENCE_LIMIT = timedelta(days=1)
DEDUP_WINDOW = 4096
MAX_PARAMETER_NAMES = 64
SAVE_DELAY = 5.0
LAST_EVENT_RESOLUTION = 60.0
RECENT_MISSED = 20

# Listener keys besides extensions.
LAST_EVENT_KEY = "\x00last_event"
ACTIVE_CALLS_KEY = "\x00active_calls"


def queue_key(queue_id: str) -> str:
    """The listener key of one queue's entities."""
    return f"\x00queue:{queue_id}"


def silent_issue_id(entry_id: str) -> str:
    """The repair issue of a PBX whose live events never arrived."""
    return f"live_events_silent_{entry_id}"


@dataclass(frozen=True, slots=True)
class MissedCall:
    """One missed call, remembered for "who called?"."""

    exten: str
    caller_number: str | None
    caller_name: str | None
    at: datetime

    def as_dict(self) -> dict[str, str | None]:
        """As stored."""
        return {
            "exten": self.exten,
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Any) -> MissedCall | None:
        """From storage; None for anything unreadable."""
        if not isinstance(data, dict):
            return None
        at = _datetime(data.get("at"))
        exten = data.get("exten")
        if at is None or not isinstance(exten, str):
            return None
        number, name = data.get("caller_number"), data.get("caller_name")
        return cls(
            exten,
            number if isinstance(number, str) else None,
            name if isinstance(name, str) else None,
            at,
        )


@dataclass(slots=True)
class EventCounts:
    """What reached the tracker since setup, for diagnostics."""

    received: int = 0
    duplicates: int = 0
    parameter_names: set[str] = field(default_factory=set)


class LiveEvents:
    """One PBX's webhook, call tracker and the listeners of its entities."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: KalliopeConfigEntry,
        client: KalliopeClient,
        *,
        is_extension: Callable[[str], bool],
        extension_name: Callable[[str], str | None],
    ) -> None:
        """Nothing is registered until `async_start`."""
        self._hass = hass
        self._entry = entry
        self.receiver = NotificationReceiver(
            hass, entry, async_ensure_credentials(hass, entry), self.process
        )
        self.enabled: bool = bool(entry.options.get(CONF_LIVE_EVENTS, False))
        self.names = CallerNames(client, extension_name)
        self.tracker = CallTracker(is_extension, self.names.name_of)
        self.listeners = KeyedListeners()
        self._notice_listeners: dict[str, list[Callable[[CallNotice], None]]] = {}
        self._pbx_event_listeners: list[Callable[[PbxEvent], None]] = []
        self._queue_added_listeners: list[Callable[[str], None]] = []
        self.stats = EventCounts()
        # Newest first: what "who called?" answers with.
        self.recent_missed: deque[MissedCall] = deque(maxlen=RECENT_MISSED)
        self.last_event: PbxEvent | None = None
        self.last_event_at: datetime | None = None
        self.first_event_at: datetime | None = None
        self._enabled_since: datetime | None = None
        self._seen: dict[tuple[int, float | None, str], None] = {}
        self._save_pending = False
        self._last_event_shown = -LAST_EVENT_RESOLUTION
        self._store = _store(hass, entry.entry_id)
        # Called with an extension whose call went unanswered (voicemail).
        self.on_unanswered: Callable[[set[str]], None] | None = None

    # ------------------------------------------------------------ lifecycle

    async def async_load(self) -> None:
        """Restore the missed-call counters, known queues and link history."""
        stored = await self._store.async_load() or {}
        self.tracker.missed.update(
            {
                str(exten): int(count)
                for exten, count in (stored.get("missed") or {}).items()
                if isinstance(count, int) and count > 0
            }
        )
        for queue_id, name in (stored.get("queues") or {}).items():
            self.tracker.queues.setdefault(
                str(queue_id), QueueState(name=str(name) if name else None)
            )
        self.recent_missed.extend(
            missed
            for missed in map(MissedCall.from_dict, stored.get("recent_missed") or ())
            if missed is not None
        )
        self.last_event_at = _datetime(stored.get("last_event_at"))
        self.first_event_at = _datetime(stored.get("first_event_at"))
        self._enabled_since = _datetime(stored.get("enabled_since"))
        if self.enabled and self._enabled_since is None:
            self._enabled_since = dt_util.utcnow()
            self._save_soon()
        elif not self.enabled and self._enabled_since is not None:
            self._enabled_since = None
            self._save_soon()

    @callback
    def async_start(self) -> None:
        """Register the webhook and the timers; all go with the entry."""
        entry = self._entry
        entry.async_on_unload(self.receiver.async_register())
        # A reload must find the counters as they were a moment ago.
        entry.async_on_unload(self._async_flush)
        entry.async_on_unload(
            async_track_time_interval(
                self._hass, self._expire, EXPIRE_INTERVAL, cancel_on_shutdown=True
            )
        )
        entry.async_on_unload(
            async_track_time_interval(
                self._hass,
                self._check_silence,
                SILENCE_CHECK_INTERVAL,
                cancel_on_shutdown=True,
            )
        )
        self._check_silence()

    # ------------------------------------------------------------ listeners

    @callback
    def add_notice_listener(
        self, exten: str, listener: Callable[[CallNotice], None]
    ) -> Callable[[], None]:
        """Call `listener` with each notice about `exten`'s calls."""
        bucket = self._notice_listeners.setdefault(exten, [])
        bucket.append(listener)
        return lambda: bucket.remove(listener)

    @callback
    def add_pbx_event_listener(
        self, listener: Callable[[PbxEvent], None]
    ) -> Callable[[], None]:
        """Call `listener` with each event that is not an extension's call."""
        self._pbx_event_listeners.append(listener)
        return lambda: self._pbx_event_listeners.remove(listener)

    @callback
    def add_queue_added_listener(
        self, listener: Callable[[str], None]
    ) -> Callable[[], None]:
        """Call `listener` with the id of each queue seen for the first time."""
        self._queue_added_listeners.append(listener)
        return lambda: self._queue_added_listeners.remove(listener)

    @callback
    def add_listener(
        self, listener: Callable[[], None], key: str
    ) -> Callable[[], None]:
        """Wake `listener` when what `key` names changed."""
        self.listeners.add(listener, key)
        return lambda: self.listeners.remove(listener, key)

    # ------------------------------------------------------------ applying

    @callback
    def process(self, event: PbxEvent) -> None:
        """Apply one decoded event and wake the entities it concerns."""
        key = event.dedup_key
        if key is not None:
            if key in self._seen:
                self.stats.duplicates += 1
                return
            self._seen[key] = None
            if len(self._seen) > DEDUP_WINDOW:
                del self._seen[next(iter(self._seen))]
        self.stats.received += 1
        names = self.stats.parameter_names
        if len(names) < MAX_PARAMETER_NAMES:
            names.update(list(event.params)[: MAX_PARAMETER_NAMES - len(names)])
        self.last_event = event
        self.last_event_at = dt_util.utcnow()
        if self.first_event_at is None:
            self.first_event_at = self.last_event_at
            ir.async_delete_issue(
                self._hass, DOMAIN, silent_issue_id(self._entry.entry_id)
            )
        known_queues = set(self.tracker.queues)
        changes = self.tracker.apply(event, time.time())
        # The Last PBX event sensor shows the link works: once a minute is
        # enough, and a busy PBX must not write it hundreds of times a second.
        now = time.monotonic()
        shown = now - self._last_event_shown >= LAST_EVENT_RESOLUTION
        if shown:
            self._last_event_shown = now
        self._publish(changes, known_queues, last_event=shown)
        if changes.pbx_event:
            for listener in list(self._pbx_event_listeners):
                listener(event)
        self._look_up_name(event.caller_number)
        self._save_soon()

    def flowing(self, within: timedelta) -> bool:
        """Live events are on and one arrived within `within`."""
        last = self.last_event_at
        return self.enabled and last is not None and dt_util.utcnow() - last < within

    @callback
    def reset_missed(self, exten: str) -> None:
        """Set an extension's missed-call counter back to 0."""
        if self.tracker.reset_missed(exten):
            self.listeners.dispatch({exten})
            self._save_soon()

    @callback
    def _publish(
        self, changes: Changes, known_queues: set[str], *, last_event: bool = False
    ) -> None:
        keys = {*changes.extensions, *changes.missed}
        if last_event:
            keys.add(LAST_EVENT_KEY)
        if changes.active_calls:
            keys.add(ACTIVE_CALLS_KEY)
        keys.update(queue_key(queue_id) for queue_id in changes.queues)
        for queue_id in changes.queues - known_queues:
            for added in list(self._queue_added_listeners):
                added(queue_id)
        for notice in changes.notices:
            if notice.type is CallNoticeType.MISSED:
                self.recent_missed.appendleft(
                    MissedCall(
                        notice.exten,
                        notice.caller_number,
                        notice.caller_name,
                        dt_util.utcnow(),
                    )
                )
            for notify in list(self._notice_listeners.get(notice.exten, ())):
                notify(notice)
        if self.on_unanswered is not None and changes.unanswered:
            self.on_unanswered(changes.unanswered)
        self.listeners.dispatch(keys)

    @callback
    def _look_up_name(self, number: str | None) -> None:
        if number is None or not self.names.needs_lookup(number):
            return

        async def look_up() -> None:
            name = await self.names.lookup(number)
            if name is not None:
                self._name_missed(number, name)
                self.listeners.dispatch(self.tracker.name_found(number, name))

        self._entry.async_create_background_task(
            self._hass, look_up(), "kalliopepbx caller name"
        )

    @callback
    def _name_missed(self, number: str, name: str) -> None:
        """Name the remembered missed calls from `number` that came unnamed."""
        for index, missed in enumerate(self.recent_missed):
            if missed.caller_number == number and missed.caller_name is None:
                self.recent_missed[index] = replace(missed, caller_name=name)
                self._save_soon()

    @callback
    def _expire(self, _now: datetime | None = None) -> None:
        self._publish(self.tracker.expire(time.time()), set(self.tracker.queues))

    @callback
    def _check_silence(self, _now: datetime | None = None) -> None:
        issue_id = silent_issue_id(self._entry.entry_id)
        since = self._enabled_since
        if (
            not self.enabled
            or since is None
            or self.first_event_at is not None
            or dt_util.utcnow() - since < SILENCE_LIMIT
        ):
            ir.async_delete_issue(self._hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="live_events_silent",
            translation_placeholders={"title": self._entry.title},
        )

    # ------------------------------------------------------------ storing

    @callback
    def _save_soon(self) -> None:
        # One pending save at a time: a steady stream must not postpone it forever.
        if not self._save_pending:
            self._save_pending = True
            self._store.async_delay_save(self._stored, SAVE_DELAY)

    async def _async_flush(self) -> None:
        if self._save_pending:
            await self._store.async_save(self._stored())

    def _stored(self) -> dict[str, Any]:
        self._save_pending = False
        return {
            "missed": dict(self.tracker.missed),
            "queues": {
                queue_id: queue.name for queue_id, queue in self.tracker.queues.items()
            },
            "recent_missed": [missed.as_dict() for missed in self.recent_missed],
            "last_event_at": _iso(self.last_event_at),
            "first_event_at": _iso(self.first_event_at),
            "enabled_since": _iso(self._enabled_since),
        }

    def diagnostics(self) -> dict[str, Any]:
        """What the link did, without numbers, names or credentials."""
        stats = self.stats
        return {
            "enabled": self.enabled,
            "received": stats.received,
            "duplicates": stats.duplicates,
            "refused": asdict(self.receiver.refused),
            "last_event_name": self.last_event.name if self.last_event else None,
            "last_event_at": _iso(self.last_event_at),
            "first_event_at": _iso(self.first_event_at),
            # Names only: they tell which parameters this firmware sends.
            "parameter_names_seen": sorted(stats.parameter_names),
            "active_calls": self.tracker.active_calls,
            "queues": len(self.tracker.queues),
        }


def _store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    return Store(hass, STORE_VERSION, f"{DOMAIN}.{entry_id}.live_events")


async def async_remove_live_events(hass: HomeAssistant, entry_id: str) -> None:
    """The PBX was removed: forget its counters and missed calls."""
    await _store(hass, entry_id).async_remove()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _datetime(value: object) -> datetime | None:
    return dt_util.parse_datetime(value) if isinstance(value, str) else None
