"""The base of the coordinators: error mapping, PBX health, keyed updates.

Every coordinator reports to one `PbxHealth` and maps client errors the same
way; listeners subscribe per extension, so a refresh wakes only the entities
whose data changed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Set as AbstractSet
from datetime import timedelta
from functools import partial
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .api import KalliopeClient, KalliopeError
from .const import DOMAIN
from .dispatch import KeyedListeners, merge_changes
from .errors import error_keys, error_placeholders
from .health import PbxHealth

if TYPE_CHECKING:
    from .runtime import KalliopeConfigEntry

# Lists longer than this are compared with the previous data in a worker
# thread: 5000 extensions take a few milliseconds, more on small hardware.
MERGE_IN_THREAD_ABOVE = 500


class _ReportsAtDebug(logging.Filter):
    """Turn the coordinators' routine reports into debug lines.

    Home Assistant's coordinator logs each failure and recovery on the logger
    it is given: with three coordinators that would be three lines per
    outage, while `PbxHealth` writes one per PBX on the package logger. So
    the coordinators get this logger of their own, and every record on it
    without a traceback is demoted to DEBUG: hidden at default levels, all
    there with debug logging for this logger (or the whole integration),
    never an ERROR line. A traceback means a bug in our code, which keeps its
    level. This relies on no wording of Home Assistant's messages.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Demote a report without a traceback; show it only at debug."""
        if record.exc_info is None and record.levelno > logging.DEBUG:
            record.levelno = logging.DEBUG
            record.levelname = logging.getLevelName(logging.DEBUG)
            return POLLING_LOGGER.isEnabledFor(logging.DEBUG)
        return True


POLLING_LOGGER = logging.getLogger(__name__)
POLLING_LOGGER.addFilter(_ReportsAtDebug())


class KalliopeCoordinator[DataT](DataUpdateCoordinator[DataT], ABC):
    """Shared error handling and per-extension listener dispatch."""

    config_entry: KalliopeConfigEntry
    # Each subclass's name in logs and health reports, and how often it polls.
    source: ClassVar[str]
    interval: ClassVar[timedelta]

    def __init__(
        self,
        hass: HomeAssistant,
        entry: KalliopeConfigEntry,
        client: KalliopeClient,
        health: PbxHealth,
    ) -> None:
        """Set up polling; `always_update=False` skips unchanged refreshes."""
        super().__init__(
            hass,
            POLLING_LOGGER,
            config_entry=entry,
            name=f"{entry.title} {self.source}",
            update_interval=self.interval,
            # Keyed dispatch still wakes the unkeyed listeners (PBX entities,
            # device and entity upkeep) on a refresh where nothing changed.
            always_update=False,
        )
        self.client = client
        self.health = health
        # The last refresh failed / a refresh is running (see `_refresh_if_failing`).
        self._failing = False
        self._fetching = False
        health.on_recovery(self.source, self._refresh_if_failing)
        # The keys that changed between the previous data and `data` (None:
        # unknown, wake every listener), for that data object only.
        self._changed_keys: AbstractSet[str] | None = None
        self._changed_for: object = None
        self._notified_success: bool | None = None
        self._keyed_listeners = KeyedListeners()
        # Endpoints that failed this cycle while the rest answered.
        self._endpoint_errors: dict[str, KalliopeError] = {}

    @property
    def latest(self) -> DataT | None:
        """Data of the last successful refresh; None before the first one."""
        return self.data

    @property
    def changed_keys(self) -> AbstractSet[str] | None:
        """While listeners are woken: the keys (extensions) whose data changed.

        None when every listener is woken (first data, availability change,
        or data set from elsewhere): then anything may have changed.
        """
        return self._keyed_listeners.changed

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Index listeners by context (an extension) for selective updates."""
        remove = super().async_add_listener(update_callback, context)
        self._keyed_listeners.add(update_callback, context)
        # A partial, not a closure: one small object per listener, and there
        # are several listeners per extension.
        return partial(self._remove_listener, remove, update_callback, context)

    @callback
    def _remove_listener(
        self, remove: Callable[[], None], update_callback: CALLBACK_TYPE, context: Any
    ) -> None:
        remove()
        self._keyed_listeners.remove(update_callback, context)

    @callback
    def async_update_listeners(self) -> None:
        """Wake only listeners of changed extensions, unless availability changed.

        The cost is proportional to what changed: listeners of unchanged
        extensions are not called at all.
        """
        changed, self._changed_keys = self._changed_keys, None
        if self._changed_for is not self.data:
            changed = None
        self._changed_for = None
        if changed is None or self._notified_success != self.last_update_success:
            self._notified_success = self.last_update_success
            super().async_update_listeners()
            return
        self._keyed_listeners.dispatch(changed)

    async def _async_update_data(self) -> DataT:
        self._changed_keys = None
        self._changed_for = None
        self._endpoint_errors = {}
        self._fetching = True
        try:
            data = await self._fetch()
        except KalliopeError as err:
            self._failing = True
            raise self._translate(err) from err
        finally:
            self._fetching = False
        self._report_success(data)
        if self._failing:
            self._failing = False
            self.health.recovered(self.source)
        return data

    @callback
    def _refresh_if_failing(self) -> None:
        """The PBX answered another coordinator again: retry now, not a whole interval later."""
        if self._failing and not self._fetching:
            self.config_entry.async_create_background_task(
                self.hass,
                self.async_request_refresh(),
                f"{self.name} refresh after recovery",
            )

    @abstractmethod
    async def _fetch(self) -> DataT:
        """One poll of this coordinator's endpoints."""

    def _set_changed(self, data: DataT, changed: AbstractSet[str] | None) -> None:
        """Remember which keys changed on the way to `data`."""
        self._changed_keys = changed
        self._changed_for = data

    async def _merge[V](
        self, old: Mapping[str, V] | None, new: Iterable[tuple[str, V]], size: int
    ) -> tuple[Mapping[str, V], AbstractSet[str] | None]:
        """`merge_changes`, in a worker thread when the list is long."""
        if size > MERGE_IN_THREAD_ABOVE:
            return await self.hass.async_add_executor_job(merge_changes, old, new)
        return merge_changes(old, new)

    @callback
    def _report_success(self, data: DataT) -> None:
        self.health.succeeded(self.source)
        self.health.endpoints_answered(self.source, self._endpoint_errors)

    def _translate(self, err: KalliopeError) -> Exception:
        """Map a client error to what the coordinator machinery expects."""
        self.health.failed(err, self.source)
        key = error_keys(err).polling
        if key == "authentication_failed":
            return ConfigEntryAuthFailed(translation_domain=DOMAIN, translation_key=key)
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders=error_placeholders(key, err),
        )
