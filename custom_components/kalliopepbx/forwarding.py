"""Call forwarding set from Home Assistant, and the failover to restore after.

Before the first change to an extension's failover, the failover the PBX had
is saved in Home Assistant's storage; clearing the forwarding puts exactly
that back, also after a restart. Each change is applied on the PBX at once,
but never together with changes someone else left pending, and is read back
afterwards. A change written but not applied (a failed apply, a restart in
between) is remembered and shown as a repair issue until it is applied or
reverted.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple, NotRequired, TypedDict

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store

from .api import (
    Failover,
    FailoverType,
    GatewayType,
    KalliopeApiError,
    KalliopeError,
    UserConfig,
)
from .const import CONF_ALLOWED_NUMBERS, DOMAIN
from .exceptions import translate_error
from .numbers import AllowedNumbers, InvalidNumberError, normalize_number

if TYPE_CHECKING:
    from .runtime import KalliopeConfigEntry

STORAGE_VERSION = 1


class ForwardingStoreData(TypedDict):
    """What is kept across restarts, per extension."""

    previous: dict[str, dict[str, Any]]
    targets: dict[str, str]
    # Written to the PBX, not yet known to be applied.
    unapplied: NotRequired[dict[str, dict[str, Any]]]


class OutboundLine(NamedTuple):
    """An outbound line as one failover names it: type and id always together."""

    type: GatewayType
    id: str
    name: str | None


def storage_key(entry_id: str) -> str:
    """The storage file of one PBX's forwarding data."""
    return f"{DOMAIN}.{entry_id}.forwarding"


def unapplied_issue_id(entry_id: str) -> str:
    """The repair issue of one PBX's unapplied forwarding change."""
    return f"unapplied_forwarding_{entry_id}"


def default_failover(exten: str, vm_enabled: bool) -> Failover:
    """What a new extension gets on the PBX: its voicemail, or hang up."""
    if vm_enabled:
        return Failover(type=FailoverType.FORWARD_TO_VOICEMAIL, destination=exten)
    return Failover(type=FailoverType.HANGUP)


def _type_of(failover: Failover) -> str:
    return failover.type_raw or failover.type.value


def forwarding_part(failover: Failover | None) -> tuple[str, str, str] | None:
    """Where calls go (type, destination, outbound line): what a change sets."""
    if failover is None:
        return None
    external = failover.type is FailoverType.FORWARD_TO_EXTERNAL_NUMBER
    return (
        _type_of(failover),
        failover.destination or "",
        (failover.gateway_id or "") if external else "",
    )


def describe(failover: Failover | None) -> str:
    """A failover in a few words, for errors and repair issues."""
    if failover is None:
        return "-"
    words = [_type_of(failover).lower()]
    if failover.destination:
        words.append(failover.destination)
    if failover.type is FailoverType.FORWARD_TO_EXTERNAL_NUMBER and (
        failover.gateway_id
    ):
        line = failover.gateway_type.value if failover.gateway_type else "?"
        words.append(f"via {line} {failover.gateway_id}")
    return " ".join(words)


def _line_of(failover: Failover | None) -> OutboundLine | None:
    """The outbound line an external forward uses, if it names a whole one."""
    if (
        failover is None
        or failover.type is not FailoverType.FORWARD_TO_EXTERNAL_NUMBER
        or not failover.gateway_id
        or failover.gateway_type is None
    ):
        return None
    return OutboundLine(
        failover.gateway_type, failover.gateway_id, failover.gateway_name
    )


class ForwardingManager:
    """Set, clear and remember call forwarding for one PBX."""

    def __init__(self, hass: HomeAssistant, entry: KalliopeConfigEntry) -> None:
        """Storage is loaded by `async_load` before the platforms start."""
        self.hass = hass
        self.entry = entry
        self._store: Store[ForwardingStoreData] = Store(
            hass, STORAGE_VERSION, storage_key(entry.entry_id)
        )
        self._data: ForwardingStoreData = {
            "previous": {},
            "targets": {},
            "unapplied": {},
        }
        # One configuration change at a time per PBX: forwarding set, apply,
        # revert (buttons and actions too) and the refresh after each.
        self.lock = asyncio.Lock()
        # Between our write and our apply the PBX is pending by our own doing.
        self._changing = False

    async def async_load(self) -> None:
        """Read what earlier runs saved."""
        stored = await self._store.async_load()
        if stored is not None:
            self._data = {
                "previous": dict(stored.get("previous", {})),
                "targets": dict(stored.get("targets", {})),
                "unapplied": dict(stored.get("unapplied", {})),
            }

    @property
    def _unapplied(self) -> dict[str, dict[str, Any]]:
        return self._data.setdefault("unapplied", {})

    @property
    def issue_id(self) -> str:
        """The repair issue naming an unapplied change of ours."""
        return unapplied_issue_id(self.entry.entry_id)

    @callback
    def async_start(self) -> None:
        """Watch the PBX's pending flag: our unapplied change shows as an issue."""
        runtime = self.entry.runtime_data
        self.entry.async_on_unload(
            runtime.registrations.async_add_listener(self._pending_changed)
        )
        self.entry.async_on_unload(self._delete_issue)
        self._pending_changed()

    @callback
    def _delete_issue(self) -> None:
        ir.async_delete_issue(self.hass, DOMAIN, self.issue_id)

    @callback
    def _pending_changed(self) -> None:
        if self._changing or not self._unapplied:
            return
        data = self.entry.runtime_data.registrations.latest
        if data is None or data.pending is None:
            return
        if not data.pending:
            # Applied or reverted (here or on the PBX), or lost in a PBX reboot.
            self._unapplied.clear()
            self._store.async_delay_save(lambda: self._data, 0)
            self._delete_issue()
            return
        changes = "; ".join(
            f"{exten}: {describe(Failover.from_dict(failover))}"
            for exten, failover in sorted(self._unapplied.items())
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self.issue_id,
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            data={"entry_id": self.entry.entry_id},
            translation_key="unapplied_forwarding",
            translation_placeholders={
                "title": self.entry.title,
                "extensions": ", ".join(sorted(self._unapplied)),
                "changes": changes,
            },
        )

    @property
    def allowed_numbers(self) -> AllowedNumbers:
        """The toll-fraud guard from the options."""
        return AllowedNumbers.from_option(self.entry.options.get(CONF_ALLOWED_NUMBERS))

    def saved_failover(self, exten: str) -> Failover | None:
        """The failover that clearing the forwarding will restore."""
        saved = self._data["previous"].get(exten)
        return Failover.from_dict(saved) if saved is not None else None

    def target(self, exten: str) -> str | None:
        """The number the switch forwards to.

        The text entity's value, else where the PBX forwards to now.
        """
        if exten in self._data["targets"]:
            return self._data["targets"][exten]
        config = self.entry.runtime_data.config(exten)
        failover = config.failover if config else None
        if failover is not None and failover.forwards_to_number:
            return failover.destination
        return None

    async def async_set_target(self, exten: str, raw: str) -> None:
        """Keep a new target; if the extension forwards now, forward there.

        Under the lock, so that a switch turned on at the same moment
        forwards to the new target, never to the one before.
        """
        number = self.validate_number(raw) if raw.strip() else ""
        async with self.lock:
            targets = self._data["targets"]
            before = targets.get(exten)
            targets[exten] = number
            await self._store.async_save(self._data)
            if not number:
                return
            try:
                try:
                    config = await self._config(exten)
                except KalliopeError as err:
                    raise translate_error(self.hass, self.entry, err) from err
                failover = config.failover
                if (
                    failover is not None
                    and failover.forwards_to_number
                    and failover.destination != number
                ):
                    await self._async_set_locked(
                        exten, self.failover_to_number(exten, number)
                    )
            except HomeAssistantError:
                known = self.entry.runtime_data.config(exten)
                shown = known.failover if known else None
                if shown is None or shown.destination != number:
                    # The PBX does not forward there: the old target stays.
                    if before is None:
                        targets.pop(exten, None)
                    else:
                        targets[exten] = before
                    await self._store.async_save(self._data)
                raise

    def validate_number(self, raw: str, *, external: bool = True) -> str:
        """A normalized number, refused when invalid or not allowed."""
        try:
            number = normalize_number(raw)
        except InvalidNumberError:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_number",
                translation_placeholders={"number": raw},
            ) from None
        if (
            external
            and not self.entry.runtime_data.is_pbx_extension(number)
            and not self.allowed_numbers.allows(number)
        ):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="number_not_allowed",
                translation_placeholders={"number": number},
            )
        return number

    def failover_to_number(self, exten: str, number: str) -> Failover:
        """Forward to another extension, or to an outside number.

        The outbound line of an outside number is chosen when the change is
        made, from the extension's failover as the PBX has it then.
        """
        if number == exten:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="forward_to_itself",
                translation_placeholders={"extension": exten},
            )
        if self.entry.runtime_data.is_pbx_extension(number):
            return Failover(type=FailoverType.FORWARD_TO_EXTEN, destination=number)
        return Failover(
            type=FailoverType.FORWARD_TO_EXTERNAL_NUMBER, destination=number
        )

    def known_gateway(
        self, exten: str, current: Failover | None = None
    ) -> OutboundLine:
        """The outbound line this extension, or most of the PBX, forwards through.

        Type, id and name always come from one and the same failover: a
        failover naming a line without its type is never completed by a guess.
        """
        config = self.entry.runtime_data.config(exten)
        own = (current, config.failover if config else None, self.saved_failover(exten))
        for failover in own:
            if failover is None or not failover.gateway_id:
                continue
            if failover.type is not FailoverType.FORWARD_TO_EXTERNAL_NUMBER:
                continue
            line = _line_of(failover)
            if line is None:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="gateway_type_unknown",
                    translation_placeholders={
                        "extension": exten,
                        "gateway_id": failover.gateway_id,
                    },
                )
            return line
        in_use = Counter(
            line
            for config in self.entry.runtime_data.extensions.values()
            if (line := _line_of(config.failover)) is not None
        )
        if in_use:
            return in_use.most_common(1)[0][0]
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="gateway_required",
            translation_placeholders={"extension": exten},
        )

    async def async_forward_to_target(self, exten: str) -> None:
        """What the switch does when turned on."""
        async with self.lock:
            # The target is read under the lock: a new one typed at the same
            # moment is either already in, or re-forwards after us.
            target = self.target(exten)
            if not target:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="no_forwarding_target",
                    translation_placeholders={"extension": exten},
                )
            number = self.validate_number(target)
            await self._async_set_locked(exten, self.failover_to_number(exten, number))

    async def async_set(self, exten: str, failover: Failover) -> None:
        """Set an extension's failover and apply it, saving the old one first."""
        async with self.lock:
            await self._async_set_locked(exten, failover)

    async def _async_set_locked(self, exten: str, failover: Failover) -> None:
        try:
            await self._refuse_foreign_pending()
            config = await self._config(exten)
            failover = self._whole_failover(exten, failover, config)
            newly_saved = False
            if exten not in self._data["previous"]:
                previous = config.failover or default_failover(exten, config.vm_enabled)
                self._data["previous"][exten] = previous.as_dict()
                await self._store.async_save(self._data)
                newly_saved = True
            try:
                await self._write_and_apply(exten, failover)
            except KalliopeApiError:
                if newly_saved:
                    # The PBX refused: nothing to restore later.
                    del self._data["previous"][exten]
                    await self._store.async_save(self._data)
                raise
        except KalliopeError as err:
            raise translate_error(self.hass, self.entry, err) from err
        finally:
            await self.async_refresh()

    async def async_clear(self, exten: str) -> None:
        """Put back the failover saved before the first change."""
        async with self.lock:
            try:
                config = await self._config(exten)
                saved = self.saved_failover(exten)
                if saved is None:
                    if (
                        config.failover is None
                        or not config.failover.forwards_to_number
                    ):
                        return
                    saved = default_failover(exten, config.vm_enabled)
                await self._refuse_foreign_pending()
                await self._write_and_apply(
                    exten, self._whole_failover(exten, saved, config)
                )
                self._data["previous"].pop(exten, None)
                await self._store.async_save(self._data)
            except KalliopeError as err:
                raise translate_error(self.hass, self.entry, err) from err
            finally:
                await self.async_refresh()

    def _whole_failover(
        self, exten: str, failover: Failover, config: UserConfig
    ) -> Failover:
        """`failover`'s forwarding with the rest of the failover the PBX has.

        Only where calls go changes; the announcement played first stays.
        """
        current = config.failover
        if current is not None:
            failover = replace(failover, intro=current.intro)
        if failover.type is FailoverType.FORWARD_TO_EXTERNAL_NUMBER:
            if not failover.gateway_id:
                line = self.known_gateway(exten, current)
                failover = replace(
                    failover,
                    gateway_type=line.type,
                    gateway_id=line.id,
                    gateway_name=line.name,
                )
            elif (
                failover.gateway_name is None
                and (now := _line_of(current)) is not None
                and (now.type, now.id) == (failover.gateway_type, failover.gateway_id)
            ):
                # The same line as now: keep its name.
                failover = replace(failover, gateway_name=now.name)
        if (
            failover.type is FailoverType.FORWARD_TO_EXTEN
            and failover.destination_name is None
            and failover.destination
            and (target := self.entry.runtime_data.config(failover.destination))
        ):
            failover = replace(failover, destination_name=target.name)
        return failover

    async def _write_and_apply(self, exten: str, failover: Failover) -> None:
        """Write, apply, read back; until applied the change is remembered."""
        client = self.entry.runtime_data.client
        self._unapplied[exten] = failover.as_dict()
        await self._store.async_save(self._data)
        self._changing = True
        try:
            try:
                await client.set_failover(exten, failover)
            except KalliopeApiError:
                # Refused: nothing was written.
                del self._unapplied[exten]
                await self._store.async_save(self._data)
                raise
            await self._apply()
            del self._unapplied[exten]
            await self._store.async_save(self._data)
        finally:
            self._changing = False
        await self._check_applied(exten, failover)

    async def _check_applied(self, exten: str, expected: Failover) -> None:
        """The PBX must now show the change, or the caller hears it does not."""
        config = await self.entry.runtime_data.client.user_config(exten)
        actual = config.failover if config is not None else None
        if forwarding_part(actual) != forwarding_part(expected):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="forwarding_not_applied",
                translation_placeholders={
                    "extension": exten,
                    "expected": describe(expected),
                    "actual": describe(actual),
                },
            )

    async def _config(self, exten: str) -> UserConfig:
        """The extension's configuration as the PBX has it right now."""
        config = await self.entry.runtime_data.client.user_config(exten)
        if config is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_extension",
                translation_placeholders={"extension": exten},
            )
        return config

    async def _refuse_foreign_pending(self) -> None:
        """Applying would also apply someone else's unfinished changes."""
        if await self.entry.runtime_data.client.pending():
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="changes_already_pending"
            )

    async def _apply(self) -> None:
        """Apply; if that fails, the change stays pending and the caller is told."""
        client = self.entry.runtime_data.client
        try:
            applied = await client.apply()
            still_pending = not applied and await client.pending()
        except KalliopeError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="apply_failed",
                translation_placeholders={"error": str(err)},
            ) from err
        if still_pending:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="apply_failed",
                translation_placeholders={"error": "the PBX refused to apply"},
            )

    async def async_pending_command(
        self, command: str, request: Callable[[], Awaitable[bool]]
    ) -> None:
        """Apply or revert pending changes, never in the middle of a forwarding change."""
        async with self.lock:
            try:
                done = await request()
            except KalliopeError as err:
                raise translate_error(self.hass, self.entry, err) from err
            finally:
                await self.async_refresh()
        # `false` may only mean there was nothing to apply or revert.
        data = self.entry.runtime_data.registrations.latest
        if not done and (data is None or data.pending is not False):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="command_failed",
                translation_placeholders={"command": command},
            )

    async def async_refresh(self) -> None:
        """Fetch what a configuration change touched; hold the lock."""
        runtime = self.entry.runtime_data
        await runtime.registrations.async_refresh()
        await runtime.system.async_refresh()
        self._pending_changed()

    async def async_remove(self) -> None:
        """The entry is deleted: its saved data goes too."""
        await self._store.async_remove()
        self._delete_issue()
