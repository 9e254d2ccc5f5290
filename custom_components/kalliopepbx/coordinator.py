"""The coordinators of one KalliopePBX and the typed runtime data.

Three coordinators, each with its own cadence: registrations (and pending
changes), voicemail counts, and the slow-moving system data (licence,
firmware, extension configuration). Listeners subscribe per extension, so a
refresh wakes only the entities whose data changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    Set as AbstractSet,
)
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from .api import (
    FirmwareInfo,
    FirmwareUpdateState,
    KalliopeApiError,
    KalliopeAuthError,
    KalliopeClient,
    KalliopeClockSkewError,
    KalliopeConnectionError,
    KalliopeError,
    KalliopeLicenseError,
    KalliopeNotSupportedError,
    KalliopeResponseError,
    KalliopeResponseTooLargeError,
    LicenseInfo,
    Registration,
    UserConfig,
    VoicemailCount,
)
from .const import (
    CONF_EXTENSIONS,
    CONF_VOICEMAIL_SENSORS,
    DOMAIN,
    LOGGER,
    REGISTRATIONS_INTERVAL,
    SYSTEM_INTERVAL,
    VOICEMAIL_CONCURRENCY,
    VOICEMAIL_INTERVAL,
)
from .extension_filter import ExtensionFilter, parse_extension_filter
from .health import PbxHealth

if TYPE_CHECKING:
    from .forwarding import ForwardingManager

type KalliopeConfigEntry = ConfigEntry[KalliopeRuntimeData]

COORDINATOR_LOGGER = LOGGER.getChild("coordinator")

# Lists longer than this are compared with the previous data in a worker
# thread: 5000 extensions take a few milliseconds, more on small hardware.
MERGE_IN_THREAD_ABOVE = 500

VOICEMAIL_SENSOR_KEYS = ("voicemail_new", "voicemail_urgent", "voicemail_old")
TOTAL_VOICEMAIL_KEY = "new_voicemails"
VOICEMAIL_EVENT_KEY = "voicemail"


class _CoordinatorLogFilter(logging.Filter):
    """Keep the coordinators' own lost/recovered lines to debug level.

    With three coordinators per PBX, each would log its own failure and
    recovery; `PbxHealth` logs one line per PBX instead.
    """

    _TEMPLATES = frozenset(
        {
            "Timeout fetching %s data",
            "Error requesting %s data: %s",
            "Error fetching %s data: %s",
            "Fetching %s data recovered",
            "Authentication failed while fetching %s data: %s",
        }
    )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO and record.msg in self._TEMPLATES:
            return COORDINATOR_LOGGER.isEnabledFor(logging.DEBUG)
        return True


if not any(isinstance(f, _CoordinatorLogFilter) for f in COORDINATOR_LOGGER.filters):
    COORDINATOR_LOGGER.addFilter(_CoordinatorLogFilter())


@dataclass(frozen=True, slots=True)
class RegistrationsData:
    """Registration state per extension, and whether changes are pending.

    `pending` is None both when the firmware lacks `/pbx/pending` and when
    it failed this cycle (`pending_failed`).
    """

    registrations: Mapping[str, Registration]
    pending: bool | None
    pending_failed: bool = False
    # Extensions whose phone is registered and answering: counted once here
    # (often in a worker thread), not on every read by the sensors.
    registered_count: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Count the registered extensions."""
        object.__setattr__(
            self,
            "registered_count",
            sum(1 for r in self.registrations.values() if r.registered),
        )

    @property
    def unregistered_count(self) -> int:
        """Enabled extensions without a working registration."""
        return len(self.registrations) - self.registered_count


@dataclass(frozen=True, slots=True)
class VoicemailData:
    """Counts per polled mailbox; mailboxes that failed this cycle are listed."""

    counts: Mapping[str, VoicemailCount]
    failed: frozenset[str] = frozenset()
    # New messages last seen in the mailboxes that failed this cycle: a
    # mailbox that did not answer must not look emptied in the total.
    failed_new: int = 0
    # New messages over every polled mailbox, counted once.
    total_new: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        """Add up the new messages."""
        object.__setattr__(
            self,
            "total_new",
            sum(count.new for count in self.counts.values()) + self.failed_new,
        )


@dataclass(frozen=True, slots=True)
class SystemData:
    """Licence, firmware and extension configuration.

    A field is None when the PBX did not answer it this cycle (licence
    refusal, or a bad answer: then `failed` names the endpoint) and
    `unsupported` names endpoints this firmware lacks.
    """

    license: LicenseInfo | None
    license_refused_code: int | None
    firmware: FirmwareInfo | None
    update_state: FirmwareUpdateState | None
    extensions: Mapping[str, UserConfig] | None
    unsupported: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()

    @property
    def license_problem(self) -> bool | None:
        """True when the licence keeps the API from working."""
        if self.license_refused_code is not None:
            return True
        if self.license is None:
            return None
        return not self.license.status.allows_api


@dataclass(kw_only=True)
class KalliopeRuntimeData:
    """Everything a loaded entry holds."""

    client: KalliopeClient
    health: PbxHealth
    registrations: RegistrationsCoordinator
    voicemail: VoicemailCoordinator
    system: SystemCoordinator
    forwarding: ForwardingManager
    pbx_device_id: str
    # Holds the CDR privacy password's md5: kept out of repr.
    options: dict[str, Any] = field(default_factory=dict, repr=False)
    # One device description per extension, shared by its entities.
    device_infos: dict[str, Any] = field(default_factory=dict, repr=False)

    def registration(self, exten: str) -> Registration | None:
        """An extension's registration, if the PBX lists one."""
        data = self.registrations.latest
        return data.registrations.get(exten) if data else None

    @property
    def voicemail_polled(self) -> bool:
        """Voicemail counts are wanted (options) and the firmware has them."""
        return not self.voicemail.unsupported and bool(
            self.system.config_entry.options.get(CONF_VOICEMAIL_SENSORS, True)
        )

    def has_voicemail(self, exten: str) -> bool:
        """Whether the extension gets voicemail sensors and events."""
        config = self.extensions.get(exten)
        return self.voicemail_polled and config is not None and config.vm_enabled

    def is_pbx_extension(self, number: str) -> bool:
        """Whether the PBX has this extension, with a device here or not."""
        if number in self.extensions:
            return True
        data = self.registrations.latest
        return data is not None and number in data.registrations

    def config(self, exten: str) -> UserConfig | None:
        """An extension's configuration, if known."""
        data = self.system.latest
        if data is None or data.extensions is None:
            return None
        return data.extensions.get(exten)

    def voicemail_count(self, mailbox: str) -> VoicemailCount | None:
        """A mailbox's counts from the last cycle, if it answered."""
        data = self.voicemail.latest
        return data.counts.get(mailbox) if data else None

    @property
    def extensions(self) -> Mapping[str, UserConfig]:
        """The extensions that get devices (last known good list)."""
        return self.system.known_extensions


class KalliopeCoordinator[DataT](DataUpdateCoordinator[DataT]):
    """Shared error handling and per-extension listener dispatch."""

    config_entry: KalliopeConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: KalliopeConfigEntry,
        client: KalliopeClient,
        health: PbxHealth,
        *,
        name: str,
        update_interval: timedelta,
    ) -> None:
        """Set up polling; `always_update=False` skips unchanged refreshes."""
        super().__init__(
            hass,
            COORDINATOR_LOGGER,
            config_entry=entry,
            name=f"{entry.title} {name}",
            update_interval=update_interval,
            always_update=False,
        )
        self.client = client
        self.health = health
        self._source = name
        # The last refresh failed / a refresh is running (see `_refresh_if_failing`).
        self._failing = False
        self._fetching = False
        health.on_recovery(name, self._refresh_if_failing)
        # The keys that changed between the previous data and `data` (None:
        # unknown, wake every listener), for that data object only.
        self._changed_keys: AbstractSet[str] | None = None
        self._changed_for: object = None
        self._dispatching: AbstractSet[str] | None = None
        self._notified_success: bool | None = None
        self._keyed_listeners: dict[object, list[CALLBACK_TYPE]] = {}
        self._unkeyed_listeners: list[CALLBACK_TYPE] = []
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
        return self._dispatching

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Index listeners by context (an extension) for selective updates."""
        remove = super().async_add_listener(update_callback, context)
        if context is None:
            self._unkeyed_listeners.append(update_callback)
        else:
            self._keyed_listeners.setdefault(context, []).append(update_callback)
        # A partial, not a closure: one small object per listener, and there
        # are several listeners per extension.
        return partial(self._remove_listener, remove, update_callback, context)

    @callback
    def _remove_listener(
        self, remove: Callable[[], None], update_callback: CALLBACK_TYPE, context: Any
    ) -> None:
        remove()
        bucket = (
            self._unkeyed_listeners
            if context is None
            else self._keyed_listeners.get(context)
        )
        if bucket is None:
            return
        with contextlib.suppress(ValueError):
            bucket.remove(update_callback)
        if context is not None and not bucket:
            self._keyed_listeners.pop(context, None)

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
        self._dispatching = changed
        try:
            for key in changed:
                for update_callback in list(self._keyed_listeners.get(key, ())):
                    update_callback()
            for update_callback in list(self._unkeyed_listeners):
                update_callback()
        finally:
            self._dispatching = None

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
            self.health.recovered(self._source)
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

    async def _fetch(self) -> DataT:
        raise NotImplementedError

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
        self.health.succeeded(self._source)
        self.health.endpoints_answered(self._source, self._endpoint_errors)

    def _translate(self, err: KalliopeError) -> Exception:
        """Map a client error to what the coordinator machinery expects."""
        self.health.failed(err, self._source)
        if isinstance(err, KalliopeClockSkewError):
            return UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="clock_skew",
                translation_placeholders={"skew": f"{err.skew_seconds:+.0f}"},
            )
        if isinstance(err, KalliopeAuthError):
            return ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="authentication_failed"
            )
        key = "unknown_error"
        if isinstance(err, KalliopeLicenseError):
            key = "license_refused"
        elif isinstance(err, KalliopeConnectionError):
            key = "cannot_connect"
        elif isinstance(err, KalliopeNotSupportedError):
            key = "not_supported"
        elif isinstance(err, KalliopeResponseTooLargeError):
            key = "response_too_large"
        elif isinstance(err, KalliopeResponseError | KalliopeApiError):
            key = "invalid_response"
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders={"error": str(err)},
        )


def merge_changes[V](
    old: Mapping[str, V] | None, new: Iterable[tuple[str, V]]
) -> tuple[Mapping[str, V], AbstractSet[str] | None]:
    """The new mapping and the keys whose value changed, were added or removed.

    Unchanged values keep their previous object (and an unchanged mapping is
    the previous one), so comparing old and new data afterwards is cheap.
    Without a previous mapping every key counts as changed (None). Pure: it
    may run in a worker thread.
    """
    if old is None:
        return dict(new), None
    merged: dict[str, V] = {}
    changed: set[str] = set()
    previous = old.get
    for key, value in new:
        before = previous(key)
        if before is not None and (before is value or before == value):
            merged[key] = before
        else:
            merged[key] = value
            changed.add(key)
    if len(merged) != len(old) or changed:
        changed.update(key for key in old if key not in merged)
        return merged, changed
    return old, changed


class RegistrationsCoordinator(KalliopeCoordinator[RegistrationsData]):
    """Registrations of every extension and the pending flag: two requests."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: KalliopeConfigEntry,
        client: KalliopeClient,
        health: PbxHealth,
    ) -> None:
        """Poll every 30 s."""
        super().__init__(
            hass,
            entry,
            client,
            health,
            name="registrations",
            update_interval=REGISTRATIONS_INTERVAL,
        )
        self.on_new_extensions: Callable[[set[str]], None] | None = None

    async def _fetch(self) -> RegistrationsData:
        registrations, pending = await asyncio.gather(
            self.client.registrations(),
            self.client.pending(),
            return_exceptions=True,
        )
        if isinstance(registrations, BaseException):
            raise registrations
        pending_flag: bool | None = None
        if isinstance(pending, KalliopeAuthError | KalliopeLicenseError) or (
            isinstance(pending, BaseException)
            and not isinstance(pending, KalliopeError)
        ):
            raise pending
        if isinstance(pending, KalliopeError):
            # Unsupported: no sensor. Any other failure costs only that sensor.
            if not isinstance(pending, KalliopeNotSupportedError):
                self._endpoint_errors["pending"] = pending
        else:
            pending_flag = pending
        previous = self.latest
        merged, changed = await self._merge(
            previous.registrations if previous is not None else None,
            ((r.exten, r) for r in registrations),
            len(registrations),
        )
        data = RegistrationsData(
            registrations=merged,
            pending=pending_flag,
            pending_failed="pending" in self._endpoint_errors,
        )
        self._set_changed(data, changed)
        if self.on_new_extensions is not None:
            self.on_new_extensions(set(data.registrations))
        return data


class VoicemailCoordinator(KalliopeCoordinator[VoicemailData]):
    """Counts of the mailboxes whose sensors are enabled, a bounded few at a time."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: KalliopeConfigEntry,
        client: KalliopeClient,
        health: PbxHealth,
        system: SystemCoordinator,
    ) -> None:
        """Poll every 60 s."""
        super().__init__(
            hass,
            entry,
            client,
            health,
            name="voicemail",
            update_interval=VOICEMAIL_INTERVAL,
        )
        self._system = system
        self.concurrency = VOICEMAIL_CONCURRENCY
        # Last counts of every polled mailbox, kept for those failing now.
        self._last_counts: dict[str, VoicemailCount] = {}
        # Every mailbox answered HTTP 404: this firmware has no voicemail counts.
        self.unsupported = False

    def mailboxes_to_poll(self) -> list[str]:
        """Mailboxes with voicemail on whose sensors, event (or the total) are enabled."""
        entry = self.config_entry
        if self.unsupported or not entry.options.get(CONF_VOICEMAIL_SENSORS, True):
            return []
        registry = er.async_get(self.hass)
        pbx_id = self._system.pbx_id

        def enabled(unique_id: str, platform: Platform = Platform.SENSOR) -> bool:
            entity_id = registry.async_get_entity_id(platform, DOMAIN, unique_id)
            if entity_id is None:  # not created yet: enabled by default
                return True
            entity = registry.async_get(entity_id)
            return entity is not None and entity.disabled_by is None

        with_voicemail = [
            exten
            for exten, config in self._system.known_extensions.items()
            if config.vm_enabled
        ]
        if enabled(f"{pbx_id}_{TOTAL_VOICEMAIL_KEY}"):
            return with_voicemail
        return [
            exten
            for exten in with_voicemail
            if any(enabled(f"{pbx_id}_{exten}_{key}") for key in VOICEMAIL_SENSOR_KEYS)
            or enabled(f"{pbx_id}_{exten}_{VOICEMAIL_EVENT_KEY}", Platform.EVENT)
        ]

    async def _fetch(self) -> VoicemailData:
        mailboxes = self.mailboxes_to_poll()
        results = await self._poll(mailboxes)
        counts = {m: r for m, r in results.items() if isinstance(r, VoicemailCount)}
        errors = [r for r in results.values() if isinstance(r, KalliopeError)]
        fatal = next(
            (
                err
                for err in errors
                if isinstance(err, KalliopeAuthError | KalliopeLicenseError)
            ),
            None,
        )
        if fatal is not None:
            raise fatal
        if errors and not counts:
            if all(isinstance(err, KalliopeNotSupportedError) for err in errors):
                self.unsupported = True
                return VoicemailData(counts={})
            raise errors[0]
        failed = frozenset(set(mailboxes) - counts.keys())
        carried = {m: self._last_counts[m] for m in failed if m in self._last_counts}
        self._last_counts = {**carried, **counts}
        previous = self.latest
        merged, changed = await self._merge(
            previous.counts if previous is not None else None,
            counts.items(),
            len(counts),
        )
        data = VoicemailData(
            counts=merged,
            failed=failed,
            failed_new=sum(count.new for count in carried.values()),
        )
        self._set_changed(data, changed)
        return data

    async def _poll(
        self, mailboxes: Collection[str]
    ) -> dict[str, VoicemailCount | KalliopeError]:
        """Fetch counts with at most `concurrency` requests in flight.

        A run of connection failures means the PBX is gone: stop instead of
        waiting for every remaining mailbox to time out.
        """
        results: dict[str, VoicemailCount | KalliopeError] = {}
        pending: Iterator[str] = iter(mailboxes)
        consecutive_connection_errors = 0
        stop: KalliopeError | None = None

        async def worker() -> None:
            nonlocal consecutive_connection_errors, stop
            for mailbox in pending:
                if stop is not None:
                    return
                try:
                    results[mailbox] = await self.client.voicemail_count(mailbox)
                except KalliopeConnectionError as err:
                    results[mailbox] = err
                    consecutive_connection_errors += 1
                    if consecutive_connection_errors >= self.concurrency:
                        stop = err
                except (KalliopeAuthError, KalliopeLicenseError) as err:
                    results[mailbox] = err
                    stop = err
                except KalliopeError as err:
                    results[mailbox] = err
                else:
                    consecutive_connection_errors = 0

        workers = min(self.concurrency, len(mailboxes))
        await asyncio.gather(*(worker() for _ in range(workers)))
        if stop is not None and isinstance(stop, KalliopeConnectionError):
            raise stop
        return results


class SystemCoordinator(KalliopeCoordinator[SystemData]):
    """Licence, firmware and extension configuration, every 10 minutes."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: KalliopeConfigEntry,
        client: KalliopeClient,
        health: PbxHealth,
        *,
        pbx_id: str,
        extension_filter: ExtensionFilter,
    ) -> None:
        """Poll every 10 minutes."""
        super().__init__(
            hass,
            entry,
            client,
            health,
            name="system",
            update_interval=SYSTEM_INTERVAL,
        )
        self.pbx_id = pbx_id
        self.extension_filter = extension_filter
        # The last extension list the PBX gave: kept through licence or
        # network trouble so devices are not removed by an outage.
        self.known_extensions: Mapping[str, UserConfig] = {}
        self.extensions_fetched = False

    async def _fetch(self) -> SystemData:
        unsupported: set[str] = set()
        refused_code: int | None = None
        errors = self._endpoint_errors
        attempted: list[str] = []

        async def optional[T](name: str, request: Awaitable[T]) -> T | None:
            """One endpoint's answer; None when it has none this cycle."""
            nonlocal refused_code
            attempted.append(name)
            try:
                return await request
            except KalliopeNotSupportedError:
                unsupported.add(name)
            except KalliopeLicenseError as err:
                refused_code = err.code
            except KalliopeError as err:
                errors[name] = err
            return None

        license_info: LicenseInfo | None = await optional(
            "license", self.client.license()
        )
        if isinstance(
            errors.get("license"), KalliopeConnectionError | KalliopeAuthError
        ):
            # Unreachable or refused credentials: the rest would fail alike.
            raise errors["license"]
        firmware, update_state, configs = await asyncio.gather(
            optional("firmware", self.client.firmware()),
            optional("firmware_update_status", self.client.firmware_update_status()),
            optional("users_configs", self.client.users_configs()),
        )
        if configs is None and "users_configs" in unsupported:
            configs = await self._configs_from_brief(optional)
        self._raise_if_nothing_answered(errors, attempted)
        extensions = None
        changed: AbstractSet[str] | None = None
        if configs is not None:
            previous = self.latest
            extension_filter = self.extension_filter
            extensions, changed = await self._merge(
                previous.extensions if previous is not None else None,
                (
                    (config.exten, config)
                    for config in configs
                    if config.exten in extension_filter
                ),
                len(configs),
            )
            self.known_extensions = extensions
            self.extensions_fetched = True
        elif "users_configs" in errors and not self.extensions_fetched:
            # First setup with a broken configuration list: the brief list
            # still gives the devices; forwarding waits for the full one.
            briefs = await self._configs_from_brief(optional)
            if briefs is not None:
                self.known_extensions = {
                    config.exten: config
                    for config in briefs
                    if config.exten in self.extension_filter
                }
                self.extensions_fetched = True
        data = SystemData(
            license=license_info,
            license_refused_code=refused_code,
            firmware=firmware,
            update_state=update_state,
            extensions=extensions,
            unsupported=frozenset(unsupported),
            failed=frozenset(errors),
        )
        self._set_changed(data, changed)
        return data

    @staticmethod
    def _raise_if_nothing_answered(
        errors: Mapping[str, KalliopeError], attempted: Collection[str]
    ) -> None:
        """Credentials refused, or no endpoint answered: the whole poll failed."""
        for err in errors.values():
            if isinstance(err, KalliopeAuthError):
                raise err
        if errors and all(name in errors for name in attempted):
            raise next(iter(errors.values()))

    @callback
    def _report_success(self, data: SystemData) -> None:
        self.health.system_refreshed(
            data.license, data.license_refused_code, self._source
        )
        self.health.endpoints_answered(self._source, self._endpoint_errors)

    async def _configs_from_brief(self, optional: Any) -> list[UserConfig] | None:
        """A firmware without `/users/configs/`: names from `/users/brief/`."""
        briefs = await optional("users_brief", self.client.users_brief())
        if briefs is None:
            return None
        return [
            UserConfig(
                exten=brief.exten,
                enabled=brief.enabled,
                first_name=brief.first_name,
                last_name=brief.last_name,
            )
            for brief in briefs
        ]


def extension_filter_from_options(options: Mapping[str, Any]) -> ExtensionFilter:
    """The options' extension filter; an invalid stored value means all."""
    try:
        return parse_extension_filter(options.get(CONF_EXTENSIONS))
    except ValueError:
        return ExtensionFilter()
