"""Call group entities: a sensor per group, a "Rings in" switch per member.

The entities follow the PBX's groups: a new group gets its entities at the
next system poll, a group gone has them removed from the entity registry.
A switch exists for the extensions that ring in the group and for those
that did earlier, so it can be turned back on. On a PBX with up to
`NON_MEMBER_SWITCHES_MAX` extension and group pairs, every other extension
gets one too, disabled by default: on a large PBX that would be tens of
thousands of entities, and the `set_callgroup_members` action covers it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from homeassistant.components.sensor import SensorEntity, SensorEntityDescription
from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.const import EntityCategory, Platform
from homeassistant.core import callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .api import CallGroup
from .callgroups import attributes, group_name, is_member, members_in_order
from .const import CALLGROUP_KEY, DOMAIN
from .coordinator import SystemCoordinator
from .entity import WritesWhenChanged, extension_device_info
from .permissions import async_require_admin
from .runtime import KalliopeConfigEntry, KalliopeRuntimeData

ENDPOINT = "callgroups"
# Up to this many extensions x groups, extensions that never rang in a group
# get its switch too (disabled by default).
NON_MEMBER_SWITCHES_MAX = 1000

# Named "Call group <name>" and "Rings in <name>" through placeholders.
CALLGROUP_SENSOR = SensorEntityDescription(
    key=CALLGROUP_KEY, translation_key=CALLGROUP_KEY
)
CALLGROUP_MEMBER_SWITCH = SwitchEntityDescription(
    key="callgroup_member",
    translation_key="callgroup_member",
    # Not exposed to Assist or HomeKit by default, like forwarding.
    entity_category=EntityCategory.CONFIG,
)


def sensor_unique_id(pbx_id: str, group_id: str) -> str:
    """Apart from the `<pbx>_<extension>_<key>` ids of extension entities."""
    return f"{pbx_id}_{CALLGROUP_KEY}_{group_id}"


def switch_unique_id(pbx_id: str, exten: str, group_id: str) -> str:
    """An extension entity whose key names the group."""
    return f"{pbx_id}_{exten}_{CALLGROUP_KEY}_{group_id}"


class CallGroupEntity(WritesWhenChanged, CoordinatorEntity[SystemCoordinator]):
    """An entity of one call group, fed by the system poll."""

    _attr_has_entity_name = True

    def __init__(self, runtime: KalliopeRuntimeData, group: CallGroup) -> None:
        """Named after the group as the PBX called it when the entity was made."""
        # Unkeyed: woken by every system poll that changed anything.
        super().__init__(runtime.system)
        self.runtime = runtime
        self.group_id = group.id
        self._attr_translation_placeholders = {"name": group_name(group)}

    @property
    def group(self) -> CallGroup | None:
        """The group in this cycle's answer; None when it was not listed."""
        data = self.runtime.system.latest
        if data is None or data.callgroups is None:
            return None
        return data.callgroups.get(self.group_id)

    @property
    def available(self) -> bool:
        """Unavailable when the call groups did not answer this cycle."""
        return super().available and self.group is not None

    @callback
    def _handle_coordinator_update(self) -> None:
        self.async_write_if_changed()


class CallGroupSensor(CallGroupEntity, SensorEntity):
    """How many extensions ring in the group; the members in the attributes."""

    entity_description = CALLGROUP_SENSOR

    def __init__(self, runtime: KalliopeRuntimeData, group: CallGroup) -> None:
        """On the PBX's device."""
        super().__init__(runtime, group)
        pbx_id = runtime.system.pbx_id
        self._attr_unique_id = sensor_unique_id(pbx_id, group.id)
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, pbx_id)})

    @property
    def native_value(self) -> int | None:
        """Distinct extensions over every priority."""
        group = self.group
        return len(members_in_order(group)) if group is not None else None

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Members in ring order, priorities, strategy, timeout, enabled."""
        group = self.group
        if group is None:
            return None
        extensions = self.runtime.extensions
        names: dict[str, str | None] = {}
        for member in members_in_order(group):
            config = extensions.get(member.exten)
            names[member.exten] = config.name if config is not None else None
        return attributes(group, names)

    def _shown(self) -> object:
        # The group object itself: equal groups show the same state.
        return (self.available, self.group, self.runtime.extensions)


class CallGroupMemberSwitch(CallGroupEntity, SwitchEntity):
    """On: the extension rings in the group. Administrators only."""

    entity_description = CALLGROUP_MEMBER_SWITCH

    def __init__(
        self, runtime: KalliopeRuntimeData, group: CallGroup, exten: str
    ) -> None:
        """On the extension's device."""
        super().__init__(runtime, group)
        self.exten = exten
        self._attr_unique_id = switch_unique_id(runtime.system.pbx_id, exten, group.id)
        self._attr_device_info = extension_device_info(runtime, exten)
        self._attr_entity_registry_enabled_default = has_rung_in(runtime, group, exten)

    @property
    def available(self) -> bool:
        """Also unavailable while the PBX does not list the extension."""
        return super().available and self.exten in self.runtime.extensions

    @property
    def is_on(self) -> bool | None:
        """Whether the extension rings in any priority of the group."""
        group = self.group
        return is_member(group, self.exten) if group is not None else None

    def _shown(self) -> object:
        return (self.available, self.is_on)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Back into the priority it rang in before."""
        await self._async_switch(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Out of every priority of the group."""
        await self._async_switch(False)

    async def _async_switch(self, on: bool) -> None:
        await async_require_admin(self.hass, self._context)
        group = self.group
        if group is None:
            return
        if is_member(group, self.exten) == on and not self.runtime.changes.busy:
            # Already so: nothing is sent. While a change is under way the
            # last poll may be stale (an opposite press before this one).
            return
        await self.runtime.callgroups.async_set_member(group, self.exten, on)
        self.async_write_shown()


type Keys = Callable[[KalliopeRuntimeData, CallGroup, set[str]], Iterable[str]]


@callback
def _async_follow_groups(
    entry: KalliopeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    platform: Platform,
    *,
    parse: Callable[[str, str], tuple[str, str] | None],
    unique_id: Callable[[str, str, str], str],
    wanted: Keys,
    make: Callable[[KalliopeRuntimeData, CallGroup, str], Entity],
    refresh: Callable[
        [KalliopeRuntimeData, CallGroup, er.EntityRegistry], Iterable[str]
    ] = lambda *_: (),
) -> None:
    """Add and remove a platform's call group entities with the PBX's groups.

    Each entity is a (group id, key): `parse(pbx_id, unique_id)` reads that
    from a registry entry, `unique_id(pbx_id, group_id, key)` makes one,
    `wanted(runtime, group, earlier keys)` lists a group's keys now, and
    `refresh(runtime, group, registry)` the keys whose registry entry it
    enabled, so that they are made again.
    """
    runtime = entry.runtime_data
    pbx_id = runtime.system.pbx_id
    registry = er.async_get(runtime.system.hass)
    # Keys per group registered by an earlier run or added by this one.
    known: dict[str, set[str]] = {}
    for entity_entry in er.async_entries_for_config_entry(registry, entry.entry_id):
        if entity_entry.domain != platform:
            continue
        if (parsed := parse(pbx_id, entity_entry.unique_id)) is not None:
            known.setdefault(parsed[0], set()).add(parsed[1])
    added: set[tuple[str, str]] = set()

    @callback
    def sync() -> None:
        data = runtime.system.latest
        if data is None or not runtime.system.extensions_fetched:
            # Without the extension list every member would look gone.
            return
        if ENDPOINT in data.unsupported:
            groups: Mapping[str, CallGroup] = {}
        elif data.callgroups is None:
            # Not listed this cycle: the entities go unavailable, none go.
            return
        else:
            groups = data.callgroups
        new: list[Entity] = []
        for group_id in known.keys() - groups.keys():
            for key in known.pop(group_id):
                _remove(unique_id(pbx_id, group_id, key))
                added.discard((group_id, key))
        for group in groups.values():
            for key in refresh(runtime, group, registry):
                added.discard((group.id, key))
            earlier = known.get(group.id, set())
            keys = set(wanted(runtime, group, earlier))
            for key in earlier - keys:
                _remove(unique_id(pbx_id, group.id, key))
                added.discard((group.id, key))
            known[group.id] = keys
            for key in sorted(keys):
                if (group.id, key) not in added:
                    added.add((group.id, key))
                    new.append(make(runtime, group, key))
        if new:
            async_add_entities(new)

    def _remove(entity_unique_id: str) -> None:
        entity_id = registry.async_get_entity_id(platform, DOMAIN, entity_unique_id)
        if entity_id is not None:
            registry.async_remove(entity_id)

    sync()
    entry.async_on_unload(runtime.system.async_add_listener(sync))


def _parse_sensor(pbx_id: str, unique_id: str) -> tuple[str, str] | None:
    prefix = f"{pbx_id}_{CALLGROUP_KEY}_"
    if unique_id.startswith(prefix):
        return unique_id.removeprefix(prefix), ""
    return None


def _parse_switch(pbx_id: str, unique_id: str) -> tuple[str, str] | None:
    exten, marker, group_id = unique_id.removeprefix(f"{pbx_id}_").partition(
        f"_{CALLGROUP_KEY}_"
    )
    if unique_id.startswith(f"{pbx_id}_") and marker and group_id:
        return group_id, exten
    return None


def has_rung_in(runtime: KalliopeRuntimeData, group: CallGroup, exten: str) -> bool:
    """A member now, or seen in the group before: its switch is wanted on."""
    return is_member(group, exten) or exten in runtime.callgroups.seen_in(group.id)


def _switch_keys(
    runtime: KalliopeRuntimeData, group: CallGroup, earlier: set[str]
) -> Iterable[str]:
    """Members now and earlier; every extension too on a PBX small enough.

    Over the limit, a switch made disabled for a non-member that nobody
    enabled goes again.
    """
    extensions = runtime.extensions
    wanted = {member.exten for member in members_in_order(group)}
    wanted |= runtime.callgroups.seen_in(group.id)
    pairs = len(extensions) * len(runtime.system.known_callgroups)
    if pairs <= NON_MEMBER_SWITCHES_MAX:
        wanted |= extensions.keys() | earlier
    else:
        registry = er.async_get(runtime.system.hass)
        wanted |= {
            exten
            for exten in earlier - wanted
            if not _disabled_by_default(registry, runtime, group.id, exten)
        }
    return {exten for exten in wanted if exten in extensions}


def _switch_entry(
    registry: er.EntityRegistry,
    runtime: KalliopeRuntimeData,
    group_id: str,
    exten: str,
) -> er.RegistryEntry | None:
    entity_id = registry.async_get_entity_id(
        Platform.SWITCH,
        DOMAIN,
        switch_unique_id(runtime.system.pbx_id, exten, group_id),
    )
    return registry.async_get(entity_id) if entity_id else None


def _disabled_by_default(
    registry: er.EntityRegistry,
    runtime: KalliopeRuntimeData,
    group_id: str,
    exten: str,
) -> bool:
    """Whether the extension's switch for the group is disabled as it was made."""
    return _made_disabled(_switch_entry(registry, runtime, group_id, exten))


def _made_disabled(entity_entry: er.RegistryEntry | None) -> bool:
    return (
        entity_entry is not None
        and entity_entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    )


def _enable_new_members(
    runtime: KalliopeRuntimeData, group: CallGroup, registry: er.EntityRegistry
) -> list[str]:
    """Switches disabled by default whose extension rings in the group now.

    They are enabled and made at once (Home Assistant also reloads the entry
    a little later, as for any entity enabled). One a user disabled stays so,
    and so does every one while the entry's new entities are to be disabled.
    """
    if runtime.system.config_entry.pref_disable_new_entities:
        return []
    enabled: list[str] = []
    for member in members_in_order(group):
        entity_entry = _switch_entry(registry, runtime, group.id, member.exten)
        if entity_entry is not None and _made_disabled(entity_entry):
            registry.async_update_entity(entity_entry.entity_id, disabled_by=None)
            enabled.append(member.exten)
    return enabled


@callback
def async_add_callgroup_sensors(
    entry: KalliopeConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """One sensor per call group, following the PBX's groups."""
    _async_follow_groups(
        entry,
        async_add_entities,
        Platform.SENSOR,
        parse=_parse_sensor,
        unique_id=lambda pbx_id, group_id, _: sensor_unique_id(pbx_id, group_id),
        wanted=lambda *_: ("",),
        make=lambda runtime, group, _: CallGroupSensor(runtime, group),
    )


@callback
def async_add_callgroup_switches(
    entry: KalliopeConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """A "Rings in" switch per member (and earlier member) of each group."""
    _async_follow_groups(
        entry,
        async_add_entities,
        Platform.SWITCH,
        parse=_parse_switch,
        unique_id=lambda pbx_id, group_id, exten: switch_unique_id(
            pbx_id, exten, group_id
        ),
        wanted=_switch_keys,
        make=CallGroupMemberSwitch,
        refresh=_enable_new_members,
    )
