"""The coordinators of one KalliopePBX.

Three coordinators, each with its own cadence: registrations (and pending
changes), voicemail counts, and the slow-moving system data (licence,
firmware, extension configuration). Their shared base is in `polling.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    Awaitable,
    Callable,
    Collection,
    Iterator,
    Mapping,
    Set as AbstractSet,
)
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from .api import (
    CallGroup,
    KalliopeAuthError,
    KalliopeClient,
    KalliopeConnectionError,
    KalliopeError,
    KalliopeLicenseError,
    KalliopeNotSupportedError,
    LicenseInfo,
    UserConfig,
    VoicemailCount,
)
from .const import (
    CALLGROUP_KEY,
    CONF_VOICEMAIL_SENSORS,
    DOMAIN,
    REGISTRATIONS_INTERVAL,
    SYSTEM_INTERVAL,
    VOICEMAIL_CONCURRENCY,
    VOICEMAIL_INTERVAL,
)
from .data import RegistrationsData, SystemData, VoicemailData
from .dispatch import merge_changes
from .extension_filter import ExtensionFilter
from .health import PbxHealth
from .polling import KalliopeCoordinator

if TYPE_CHECKING:
    from .runtime import KalliopeConfigEntry

VOICEMAIL_SENSOR_KEYS = ("voicemail_new", "voicemail_urgent", "voicemail_old")
TOTAL_VOICEMAIL_KEY = "new_voicemails"
VOICEMAIL_EVENT_KEY = "voicemail"
# How long call groups with entities must answer 404 before they count as gone.
CALLGROUPS_GONE_AFTER = timedelta(minutes=30)


class RegistrationsCoordinator(KalliopeCoordinator[RegistrationsData]):
    """Registrations of every extension and the pending flag: two requests."""

    source = "registrations"
    interval = REGISTRATIONS_INTERVAL
    on_new_extensions: Callable[[set[str]], None] | None = None

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

    source = "voicemail"
    interval = VOICEMAIL_INTERVAL

    def __init__(self, system: SystemCoordinator) -> None:
        """Poll the mailboxes of the extensions the system poll knows."""
        super().__init__(system.hass, system.config_entry, system.client, system.health)
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

    async def async_refresh_mailboxes(self, mailboxes: Collection[str]) -> None:
        """Count a few mailboxes now and show them, without a full cycle.

        Failures are left to the next full cycle; the schedule is unchanged.
        """
        previous = self.latest
        wanted = set(self.mailboxes_to_poll()).intersection(mailboxes)
        if previous is None or not wanted or not self.last_update_success:
            return
        try:
            results = await self._poll(wanted)
        except KalliopeError:
            return
        counts = {m: r for m, r in results.items() if isinstance(r, VoicemailCount)}
        self._last_counts.update(counts)
        current = self.latest or previous
        merged, changed = merge_changes(
            current.counts, [*current.counts.items(), *counts.items()]
        )
        if not changed:
            return
        data = VoicemailData(
            counts=merged,
            failed=current.failed - counts.keys(),
            failed_new=current.failed_new,
        )
        self._set_changed(data, changed)
        self.data = data
        self.async_update_listeners()

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
    """Licence, firmware, extension configuration and call groups, every 10 minutes."""

    source = "system"
    interval = SYSTEM_INTERVAL

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
        """Also keep what names this PBX's devices and which extensions count."""
        super().__init__(hass, entry, client, health)
        self.pbx_id = pbx_id
        self.extension_filter = extension_filter
        # The last extension list the PBX gave: kept through licence or
        # network trouble so devices are not removed by an outage.
        self.known_extensions: Mapping[str, UserConfig] = {}
        self.extensions_fetched = False
        # The last call groups the PBX listed, kept through failures like
        # the extensions, so their entities are not removed by an outage.
        self.known_callgroups: Mapping[str, CallGroup] = {}
        # Since when the call group list is not found (404); see
        # `_callgroups_gone`.
        self._callgroups_missing_since: datetime | None = None

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
        firmware, update_state, configs, groups = await asyncio.gather(
            optional("firmware", self.client.firmware()),
            optional("firmware_update_status", self.client.firmware_update_status()),
            optional("users_configs", self.client.users_configs()),
            optional("callgroups", self.client.callgroups()),
        )
        if configs is None and "users_configs" in unsupported:
            configs = await self._configs_from_brief(optional)
        if "callgroups" in unsupported and not self._callgroups_gone():
            # Not listed this cycle: the groups' entities wait, unavailable.
            unsupported.discard("callgroups")
            errors["callgroups"] = KalliopeNotSupportedError("GET /pbx/callgroups")
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
        callgroups: Mapping[str, CallGroup] | None = None
        if groups is not None:
            callgroups, _ = merge_changes(
                self.known_callgroups, ((group.id, group) for group in groups)
            )
            self.known_callgroups = callgroups
            self._callgroups_missing_since = None
        elif "callgroups" in unsupported:
            self.known_callgroups = {}
        data = SystemData(
            license=license_info,
            license_refused_code=refused_code,
            firmware=firmware,
            update_state=update_state,
            extensions=extensions,
            callgroups=callgroups,
            unsupported=frozenset(unsupported),
            failed=frozenset(errors),
        )
        self._set_changed(data, changed)
        return data

    def _callgroups_gone(self) -> bool:
        """Whether a 404 on the call group list means this firmware has none.

        At once when no call group entity is registered: nothing to lose.
        Otherwise only after `CALLGROUPS_GONE_AFTER` of 404s: a PBX starting
        up may answer 404 for a while (also across a restart of Home
        Assistant), and taking that for "no call groups" would delete their
        entities, their names and ids given by the user, and with them the
        switches of earlier members.
        """
        if not self._callgroup_entities_registered():
            return True
        now = dt_util.utcnow()
        if self._callgroups_missing_since is None:
            self._callgroups_missing_since = now
        return now - self._callgroups_missing_since >= CALLGROUPS_GONE_AFTER

    def _callgroup_entities_registered(self) -> bool:
        registry = er.async_get(self.hass)
        prefix = f"{self.pbx_id}_"
        return any(
            entity.unique_id.startswith(prefix)
            and f"_{CALLGROUP_KEY}_" in entity.unique_id
            for entity in er.async_entries_for_config_entry(
                registry, self.config_entry.entry_id
            )
        )

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
            data.license, data.license_refused_code, self.source
        )
        self.health.endpoints_answered(
            self.source, self._endpoint_errors, data.unsupported
        )

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
