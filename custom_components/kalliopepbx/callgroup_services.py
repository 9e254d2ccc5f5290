"""The `set_callgroup_members` action: who rings in a call group, in which order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service
import voluptuous as vol

from .action_targets import ENTRY_TARGET, bind, resolve_entry, validation_error
from .api import CallGroup
from .const import DOMAIN
from .errors import async_call_pbx
from .runtime import KalliopeConfigEntry

SERVICE_SET_CALLGROUP_MEMBERS = "set_callgroup_members"
ATTR_CALLGROUP = "callgroup"
ATTR_MEMBERS = "members"
ATTR_PRIORITIES = "priorities"

_EXTENSION = vol.All(cv.string, vol.Match(r"^[0-9*#]{1,16}$"))
SET_CALLGROUP_MEMBERS_SCHEMA = vol.Schema(
    {
        **ENTRY_TARGET,
        vol.Required(ATTR_CALLGROUP): vol.All(cv.string, vol.Length(min=1, max=64)),
        vol.Exclusive(ATTR_MEMBERS, "members"): vol.All(cv.ensure_list, [_EXTENSION]),
        vol.Exclusive(ATTR_PRIORITIES, "members"): vol.All(
            cv.ensure_list, [vol.All(cv.ensure_list, [_EXTENSION])]
        ),
    }
)


async def async_find_callgroup(
    hass: HomeAssistant, entry: KalliopeConfigEntry, wanted: str
) -> CallGroup:
    """A group by id, else by name (any case), as the PBX lists them now.

    Not from the last poll: a group made, renamed or deleted on the PBX
    since then is found, or not, as it is now.
    """
    groups = await async_call_pbx(hass, entry, entry.runtime_data.client.callgroups())
    found = _match(groups, wanted)
    if found is None:
        raise validation_error("unknown_callgroup", callgroup=wanted)
    return found


def _match(groups: Iterable[CallGroup], wanted: str) -> CallGroup | None:
    """The group with this id, else the one with this name; two names: ask for the id."""
    candidates = list(groups)
    for group in candidates:
        if group.id == wanted:
            return group
    folded = wanted.strip().casefold()
    named = [
        group
        for group in candidates
        if group.name is not None and group.name.strip().casefold() == folded
    ]
    if len(named) > 1:
        raise validation_error(
            "ambiguous_callgroup",
            callgroup=wanted,
            ids=", ".join(sorted(group.id for group in named)),
        )
    return named[0] if named else None


def requested_priorities(
    entry: KalliopeConfigEntry, data: dict[str, Any]
) -> list[list[str]]:
    """The members asked for, one list per priority, validated."""
    if ATTR_PRIORITIES in data:
        lists = [list(extens) for extens in data[ATTR_PRIORITIES]]
    elif ATTR_MEMBERS in data:
        lists = [list(data[ATTR_MEMBERS])]
    else:
        raise validation_error("callgroup_members_required")
    runtime = entry.runtime_data
    seen: set[str] = set()
    for exten in (exten for extens in lists for exten in extens):
        if not runtime.is_pbx_extension(exten):
            raise validation_error("unknown_extension", extension=exten)
        if exten in seen:
            raise validation_error("duplicate_callgroup_member", extension=exten)
        seen.add(exten)
    # An empty priority rings nobody: left out.
    return [extens for extens in lists if extens]


async def _set_callgroup_members(hass: HomeAssistant, call: ServiceCall) -> None:
    entry = resolve_entry(hass, call)
    group = await async_find_callgroup(hass, entry, call.data[ATTR_CALLGROUP])
    lists = requested_priorities(entry, dict(call.data))
    await entry.runtime_data.callgroups.async_set_members(group, lists)


@callback
def async_setup_callgroup_services(hass: HomeAssistant) -> None:
    """Register the call group action: administrators only."""
    async_register_admin_service(
        hass,
        DOMAIN,
        SERVICE_SET_CALLGROUP_MEMBERS,
        bind(hass, _set_callgroup_members),
        SET_CALLGROUP_MEMBERS_SCHEMA,
    )
