"""The `set_callgroup_members` action: who rings in a call group, in which order."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service
import voluptuous as vol

from .action_targets import ENTRY_TARGET, bind, resolve_entry, validation_error
from .api import CallGroup
from .const import DOMAIN
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


def find_callgroup(entry: KalliopeConfigEntry, wanted: str) -> CallGroup:
    """A group by id, else by name (any case), from the last poll."""
    groups = entry.runtime_data.system.known_callgroups
    if wanted in groups:
        return groups[wanted]
    folded = wanted.strip().casefold()
    for group in groups.values():
        if group.name is not None and group.name.strip().casefold() == folded:
            return group
    raise validation_error("unknown_callgroup", callgroup=wanted)


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
    group = find_callgroup(entry, call.data[ATTR_CALLGROUP])
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
