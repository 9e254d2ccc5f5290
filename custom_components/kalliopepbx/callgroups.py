"""Call group members changed from Home Assistant.

A call group rings its members priority by priority: the members of one
priority ring together, the next priority after the group's ring timeout.
The reference has no field for a ring strategy; `ring_strategy` is derived
from the priorities (one priority: everyone at once; several: in turn).

Every change reads the group as the PBX has it, changes only the members
asked for and writes the group back whole (the PBX replaces every member
with the request's), under the per-PBX lock of `config_changes.py`, so two
changes at the same moment never undo each other. The priority each member
was last seen in is kept across restarts, so a member taken out and put
back rings where it did before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.storage import Store

from .api import CallGroup, CallGroupMember, CallGroupPriority, KalliopeApiError
from .change_notes import ChangeNote
from .const import DOMAIN

if TYPE_CHECKING:
    from .runtime import KalliopeConfigEntry

STORAGE_VERSION = 1
# `PUT /pbx/callgroups/<id>`: "Callgroup not exists".
CALLGROUP_NOT_FOUND = 15
SIMULTANEOUS = "simultaneous"
SEQUENTIAL = "sequential"


def storage_key(entry_id: str) -> str:
    """The storage file of one PBX's call group memory."""
    return f"{DOMAIN}.{entry_id}.callgroups"


def change_key(group_id: str) -> str:
    """Which unapplied change a change to this group replaces."""
    return f"callgroup:{group_id}"


def group_name(group: CallGroup) -> str:
    """The group's name on the PBX, else its id."""
    return group.name or group.id


def member_lists(group: CallGroup) -> list[list[str]]:
    """The extensions of each priority, in ring order."""
    return [[member.exten for member in p.members] for p in group.priorities]


def members_in_order(group: CallGroup) -> list[CallGroupMember]:
    """Each member once, in the order they ring."""
    seen: dict[str, CallGroupMember] = {}
    for priority in group.priorities:
        for member in priority.members:
            seen.setdefault(member.exten, member)
    return list(seen.values())


def ring_strategy(group: CallGroup) -> str:
    """Several priorities with members ring in turn; one rings everyone at once."""
    ringing = sum(1 for priority in group.priorities if priority.members)
    return SEQUENTIAL if ringing > 1 else SIMULTANEOUS


def is_member(group: CallGroup, exten: str) -> bool:
    """Whether the extension rings in any priority of the group."""
    return any(m.exten == exten for p in group.priorities for m in p.members)


def without_member(group: CallGroup, exten: str) -> tuple[CallGroupPriority, ...]:
    """The group's priorities with the extension taken out of every one."""
    return tuple(
        CallGroupPriority(
            id=priority.id,
            members=tuple(m for m in priority.members if m.exten != exten),
        )
        for priority in group.priorities
    )


def with_member(
    group: CallGroup, exten: str, priority_id: str | None
) -> tuple[CallGroupPriority, ...]:
    """The group's priorities with the extension added at the end of one.

    The priority it was last seen in if the group still has it, else the
    last one; a group without priorities gets a first one.
    """
    if is_member(group, exten):
        return group.priorities
    priorities = list(group.priorities)
    if not priorities:
        return (CallGroupPriority(id="1", members=(CallGroupMember(exten),)),)
    index = next(
        (i for i, p in enumerate(priorities) if p.id == priority_id),
        len(priorities) - 1,
    )
    chosen = priorities[index]
    priorities[index] = CallGroupPriority(
        id=chosen.id, members=(*chosen.members, CallGroupMember(exten))
    )
    return tuple(priorities)


def priorities_from_lists(
    lists: Sequence[Sequence[str]],
) -> tuple[CallGroupPriority, ...]:
    """Priorities numbered from 1, as an action gives them."""
    return tuple(
        CallGroupPriority(
            id=str(index), members=tuple(CallGroupMember(e) for e in extens)
        )
        for index, extens in enumerate(lists, start=1)
    )


def describe_lists(lists: Iterable[Iterable[str]]) -> str:
    """`201, 202 | 203`: priorities separated by bars; `-` for none."""
    shown = " | ".join(", ".join(extens) for extens in lists)
    return shown or "-"


class CallGroupMembers:
    """Members of one PBX's call groups: switched, set, and remembered."""

    def __init__(self, hass: HomeAssistant, entry: KalliopeConfigEntry) -> None:
        """Nothing is read before `async_load`."""
        self.hass = hass
        self.entry = entry
        self._store: Store[dict[str, dict[str, str]]] = Store(
            hass, STORAGE_VERSION, storage_key(entry.entry_id)
        )
        # Group id -> extension -> the priority it was last seen in.
        self._last_priority: dict[str, dict[str, str]] = {}

    async def async_load(self) -> None:
        """Read what earlier runs remembered."""
        stored = await self._store.async_load()
        if stored:
            self._last_priority = {
                group: dict(members) for group, members in stored.items()
            }

    @callback
    def async_start(self) -> None:
        """Remember where members ring at every system poll."""
        system = self.entry.runtime_data.system
        self.remember(system.known_callgroups)
        self.entry.async_on_unload(system.async_add_listener(self._polled))

    @callback
    def _polled(self) -> None:
        data = self.entry.runtime_data.system.latest
        if data is not None and data.callgroups is not None:
            self.remember(data.callgroups)

    @callback
    def remember(self, groups: Mapping[str, CallGroup]) -> None:
        """Note each member's priority; saved soon when anything changed."""
        changed = False
        for group in groups.values():
            known = self._last_priority.setdefault(group.id, {})
            for priority in group.priorities:
                for member in priority.members:
                    if known.get(member.exten) != priority.id:
                        known[member.exten] = priority.id
                        changed = True
        if changed:
            self._store.async_delay_save(lambda: self._last_priority, 1)

    def seen_in(self, group_id: str) -> set[str]:
        """Every extension ever seen ringing in the group."""
        return set(self._last_priority.get(group_id, ()))

    def last_priority(self, group_id: str, exten: str) -> str | None:
        """The priority the extension last rang in, if ever seen in the group."""
        return self._last_priority.get(group_id, {}).get(exten)

    async def async_set_member(self, group: CallGroup, exten: str, on: bool) -> None:
        """Put the extension into the group, or take it out of every priority.

        `group` is what the last poll showed; the change is made to the
        group as the PBX has it when the lock is taken.
        """
        client = self.entry.runtime_data.client
        name = group_name(group)
        expected: list[list[str]] = []

        async def write() -> None:
            current = await client.callgroup(group.id)
            if current is None:
                raise _not_found(name)
            self.remember({current.id: current})
            # On disk before a member leaves: a restart must not forget where.
            await self._store.async_save(self._last_priority)
            priorities = (
                with_member(current, exten, self.last_priority(current.id, exten))
                if on
                else without_member(current, exten)
            )
            expected[:] = [[m.exten for m in p.members] for p in priorities]
            await client.set_callgroup_members(current.id, priorities)

        placeholders = {"extension": exten, "callgroup": name}
        note = (
            ChangeNote("change_callgroup_in", placeholders)
            if on
            else ChangeNote("change_callgroup_out", placeholders)
        )
        await self.entry.runtime_data.changes.async_change(
            change_key(group.id),
            note,
            write,
            check=lambda _: self._check(group.id, name, expected),
        )

    async def async_set_members(
        self, group: CallGroup, lists: Sequence[Sequence[str]]
    ) -> None:
        """Replace the group's members with these priorities (validated already)."""
        client = self.entry.runtime_data.client
        name = group_name(group)
        expected = [list(extens) for extens in lists]

        async def write() -> None:
            try:
                await client.set_callgroup_members(
                    group.id, priorities_from_lists(expected)
                )
            except KalliopeApiError as err:
                if err.code == CALLGROUP_NOT_FOUND:
                    # Deleted on the PBX since the last poll.
                    raise _not_found(name) from err
                raise

        await self.entry.runtime_data.changes.async_change(
            change_key(group.id),
            ChangeNote(
                "change_callgroup_members",
                {"callgroup": name, "members": describe_lists(expected)},
            ),
            write,
            check=lambda _: self._check(group.id, name, expected),
        )

    async def _check(self, group_id: str, name: str, expected: list[list[str]]) -> None:
        """The PBX must now list the members written, priority by priority."""
        current = await self.entry.runtime_data.client.callgroup(group_id)
        actual = member_lists(current) if current is not None else []
        if _non_empty(actual) != _non_empty(expected):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="callgroup_not_applied",
                translation_placeholders={
                    "callgroup": name,
                    "expected": describe_lists(expected),
                    "actual": describe_lists(actual),
                },
            )

    async def async_remove(self) -> None:
        """The entry is deleted: its memory goes too."""
        await self._store.async_remove()


def _non_empty(lists: list[list[str]]) -> list[list[str]]:
    """Priorities left empty ring nobody: the PBX may drop them."""
    return [extens for extens in lists if extens]


def _not_found(name: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="unknown_callgroup",
        translation_placeholders={"callgroup": name},
    )


def attributes(group: CallGroup, names: Mapping[str, str | None]) -> dict[str, Any]:
    """The call group sensor's attributes; `names`: configured extension names."""
    return {
        "members": [
            {
                "extension": member.exten,
                "name": member.display_name or names.get(member.exten),
            }
            for member in members_in_order(group)
        ],
        "ring_strategy": ring_strategy(group),
        "priorities": member_lists(group),
        "ring_timeout": group.timeout,
        "enabled": group.enabled,
    }
