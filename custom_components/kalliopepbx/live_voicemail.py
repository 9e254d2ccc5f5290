"""Live events make voicemail polling cheaper.

A call that ended unanswered may have left a message: the mailboxes it can
have reached (the extension's own, and the voicemail its failover sends to)
are counted a few seconds later. With that, the full voicemail cycle only
has to catch what no call event shows (messages left through an IVR or a
transfer), so while events keep arriving it runs every `SLOW_INTERVAL`
instead of every minute. An hour without any event puts it back to its
full cadence by itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later, async_track_time_interval

from .api import FailoverType
from .const import VOICEMAIL_INTERVAL
from .coordinator import SystemCoordinator, VoicemailCoordinator
from .live_events import LAST_EVENT_KEY, LiveEvents
from .runtime import KalliopeConfigEntry

SLOW_INTERVAL = timedelta(minutes=10)
# Events within this long count as a working link.
FLOWING_WINDOW = timedelta(hours=1)
# Long enough for the voicemail to have taken the call once it ended.
REFRESH_DELAY = 3.0
CHECK_INTERVAL = timedelta(minutes=1)


class LiveVoicemail:
    """Targeted mailbox refreshes and the voicemail poll's cadence."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: KalliopeConfigEntry,
        live: LiveEvents,
        system: SystemCoordinator,
        voicemail: VoicemailCoordinator,
    ) -> None:
        """Nothing happens until `async_start`."""
        self._hass = hass
        self._entry = entry
        self._live = live
        self._system = system
        self._voicemail = voicemail
        self._pending: set[str] = set()
        self._cancel_refresh: CALLBACK_TYPE | None = None
        self.targeted_refreshes = 0

    @callback
    def async_start(self) -> None:
        """Follow the live events; everything stops with the entry."""
        self._live.on_unanswered = self._unanswered
        entry = self._entry
        entry.async_on_unload(self._live.add_listener(self._pace, LAST_EVENT_KEY))
        entry.async_on_unload(
            async_track_time_interval(
                self._hass, self._pace, CHECK_INTERVAL, cancel_on_shutdown=True
            )
        )
        entry.async_on_unload(self._stop)
        self._pace()

    def mailboxes_reached(self, exten: str) -> set[str]:
        """The extension's own mailbox and its failover's voicemail."""
        config = self._system.known_extensions.get(exten)
        if config is None:
            return set()
        mailboxes = {exten} if config.vm_enabled else set()
        failover = config.failover
        if failover is not None and failover.type is FailoverType.FORWARD_TO_VOICEMAIL:
            mailboxes.add(failover.destination or exten)
        return mailboxes

    @callback
    def _unanswered(self, extens: set[str]) -> None:
        for exten in extens:
            self._pending.update(self.mailboxes_reached(exten))
        if self._pending and self._cancel_refresh is None:
            # Debounced: a burst of calls ending costs one refresh.
            self._cancel_refresh = async_call_later(
                self._hass, REFRESH_DELAY, self._refresh
            )

    @callback
    def _refresh(self, _now: datetime) -> None:
        self._cancel_refresh = None
        mailboxes, self._pending = self._pending, set()
        self.targeted_refreshes += 1
        self._entry.async_create_background_task(
            self._hass,
            self._voicemail.async_refresh_mailboxes(mailboxes),
            "kalliopepbx mailbox refresh",
        )

    @callback
    def _pace(self, _now: datetime | None = None) -> None:
        interval = (
            SLOW_INTERVAL if self._live.flowing(FLOWING_WINDOW) else VOICEMAIL_INTERVAL
        )
        voicemail = self._voicemail
        if voicemail.update_interval == interval:
            return
        slowed_down = voicemail.update_interval == SLOW_INTERVAL
        voicemail.update_interval = interval
        if slowed_down:
            # Back to full cadence now, not when the slow cycle was due.
            self._entry.async_create_background_task(
                self._hass, voicemail.async_request_refresh(), "kalliopepbx voicemail"
            )

    @callback
    def _stop(self) -> None:
        if self._cancel_refresh is not None:
            self._cancel_refresh()
            self._cancel_refresh = None
        self._live.on_unanswered = None
