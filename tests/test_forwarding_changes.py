"""Forwarding changes on the simulator: ordering with apply/revert,
concurrent entities and unapplied changes across restarts. Read-back, the
whole failover and the outbound line are in test_forwarding_reference.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from unittest.mock import patch

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.api import (
    Failover,
    FailoverType,
    KalliopeClient,
)
from custom_components.kalliopepbx.const import DOMAIN
from simulator import PbxState

from .conftest import call_action, press, set_text, switch_to

pytestmark = pytest.mark.usefixtures("init_integration")

SWITCH = "switch.stefano_villa_call_forwarding"
TARGET = "text.stefano_villa_forwarding_target"
APPLY = "button.kalliopepbx_office_apply_pending_changes"
REVERT = "button.kalliopepbx_office_revert_pending_changes"


@pytest.fixture
def scenario() -> dict[str, Any]:
    """Twelve extensions; 201 goes to its voicemail, 203 forwards via gateway 1."""
    return {"extensions": 12}


def client_of(entry: MockConfigEntry) -> KalliopeClient:
    """The entry's PBX client."""
    client: KalliopeClient = entry.runtime_data.client
    return client


# ---------------------------------------------------------------- A: one lock


def _press_apply(hass: HomeAssistant) -> Awaitable[None]:
    return press(hass, APPLY)


def _press_revert(hass: HomeAssistant) -> Awaitable[None]:
    return press(hass, REVERT)


def _action_apply(hass: HomeAssistant) -> Awaitable[None]:
    return call_action(hass, "apply_changes", {})


def _action_revert(hass: HomeAssistant) -> Awaitable[None]:
    return call_action(hass, "revert_changes", {})


@pytest.mark.parametrize(
    ("command", "request_name"),
    [
        (_press_apply, "apply"),
        (_press_revert, "revert"),
        (_action_apply, "apply"),
        (_action_revert, "revert"),
    ],
)
async def test_apply_and_revert_wait_for_a_forwarding_change(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
    command: Callable[[HomeAssistant], Awaitable[None]],
    request_name: str,
) -> None:
    """Apply or revert pressed mid-change runs after it, never in between."""
    client = client_of(config_entry)
    requests: list[str] = []
    written = asyncio.Event()
    release = asyncio.Event()
    real_set, real_apply, real_revert = (
        client.set_failover,
        client.apply,
        client.revert,
    )

    async def set_failover(*args: Any, **kwargs: Any) -> None:
        requests.append("write")
        written.set()
        await release.wait()
        await real_set(*args, **kwargs)

    async def apply(**kwargs: Any) -> bool:
        requests.append("apply")
        return await real_apply(**kwargs)

    async def revert(**kwargs: Any) -> bool:
        requests.append("revert")
        return await real_revert(**kwargs)

    with (
        patch.object(client, "set_failover", set_failover),
        patch.object(client, "apply", apply),
        patch.object(client, "revert", revert),
    ):
        change = hass.async_create_task(
            call_action(
                hass,
                "set_call_forwarding",
                {"extension": "201", "type": "forward_to_exten", "destination": "205"},
            )
        )
        await written.wait()
        pressed = hass.async_create_task(command(hass))
        # Every chance to jump the queue.
        await asyncio.sleep(0.2)
        assert requests == ["write"]
        release.set()
        await change
        await pressed

    assert requests == ["write", "apply", request_name]
    # The forwarding change was applied whole, not reverted half-way.
    failover = pbx_state.get_failover("201")
    assert (failover["type"], failover["value"]) == ("FORWARD_TO_EXTEN", "205")
    assert pbx_state.pending is False


# ---------------------------------------------------------------- C: text + switch


@pytest.mark.parametrize("switch_first", [True, False])
async def test_target_and_switch_at_the_same_moment(
    hass: HomeAssistant, pbx_state: PbxState, switch_first: bool
) -> None:
    """A new target typed as the switch turns on: the PBX ends at the new one."""
    await set_text(hass, TARGET, "+39 347 000 0001")
    calls = [switch_to(hass, SWITCH, "turn_on"), set_text(hass, TARGET, "205")]
    if not switch_first:
        calls.reverse()
    await asyncio.gather(*calls)

    assert hass.states.get(TARGET).state == "205"
    failover = pbx_state.get_failover("201")
    assert (failover["type"], failover["value"]) == ("FORWARD_TO_EXTEN", "205")
    assert hass.states.get(SWITCH).state == STATE_ON
    assert pbx_state.pending is False


async def test_target_not_reached_keeps_the_old_one(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """A re-forward the PBX refuses leaves the text at the target the PBX has."""
    await set_text(hass, TARGET, "+39 347 000 0001")
    await switch_to(hass, SWITCH, "turn_on")
    pbx_state.add_fault("/users/configs/201", "http500")
    with pytest.raises(HomeAssistantError):
        await set_text(hass, TARGET, "205")
    assert hass.states.get(TARGET).state == "+393470000001"
    assert pbx_state.get_failover("201")["value"] == "+393470000001"
    # Also what is kept: after a restart the text still shows where calls go.
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(TARGET).state == "+393470000001"


# ---------------------------------------------------------------- D: unapplied


def unapplied_issue(
    hass: HomeAssistant, entry: MockConfigEntry
) -> ir.IssueEntry | None:
    """The repair issue of the entry's unapplied forwarding change."""
    return ir.async_get(hass).async_get_issue(
        DOMAIN, f"unapplied_forwarding_{entry.entry_id}"
    )


@pytest.mark.parametrize(
    ("button", "expected"),
    [
        (APPLY, ("FORWARD_TO_EXTEN", "205")),
        (REVERT, ("FORWARD_TO_VOICEMAIL", "201")),
    ],
)
async def test_unapplied_change_is_a_repair_issue_across_restarts(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
    button: str,
    expected: tuple[str, str],
) -> None:
    """Written, not applied: an issue names it after a restart until applied or reverted."""
    pbx_state.add_fault("/pbx/apply", "http500")
    with pytest.raises(HomeAssistantError) as err:
        await call_action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_exten", "destination": "205"},
        )
    assert err.value.translation_key == "apply_failed"
    assert pbx_state.pending is True
    assert unapplied_issue(hass, config_entry) is not None

    # A restart: nothing in memory survives, the storage and the PBX do.
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert unapplied_issue(hass, config_entry) is None
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED

    issue = unapplied_issue(hass, config_entry)
    assert issue is not None
    assert issue.translation_key == "unapplied_forwarding"
    assert issue.translation_placeholders is not None
    assert (
        issue.translation_placeholders["changes"]
        == "forwarding of extension 201: To an extension 205"
    )

    await press(hass, button)
    assert unapplied_issue(hass, config_entry) is None
    failover = pbx_state.get_failover("201")
    assert (failover["type"], failover["value"]) == expected
    assert pbx_state.pending is False

    # Gone for good: not back after the next restart.
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert unapplied_issue(hass, config_entry) is None


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("apply", ("FORWARD_TO_EXTEN", "205")),
        ("revert", ("FORWARD_TO_VOICEMAIL", "201")),
    ],
)
async def test_unapplied_change_fixed_from_the_issue(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
    choice: str,
    expected: tuple[str, str],
) -> None:
    """The issue's fix offers apply and revert, and does it."""
    assert await async_setup_component(hass, "repairs", {})
    pbx_state.add_fault("/pbx/apply", "http500")
    with pytest.raises(HomeAssistantError):
        await call_action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_exten", "destination": "205"},
        )
    issue = unapplied_issue(hass, config_entry)
    assert issue is not None

    manager = repairs_flow_manager(hass)
    assert manager is not None
    result = await manager.async_init(DOMAIN, data={"issue_id": issue.issue_id})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["apply", "revert"]
    assert (
        result["description_placeholders"]["changes"]
        == "forwarding of extension 201: To an extension 205"
    )
    result = await manager.async_configure(result["flow_id"], {"next_step_id": choice})
    assert result["type"] is FlowResultType.CREATE_ENTRY

    assert unapplied_issue(hass, config_entry) is None
    failover = pbx_state.get_failover("201")
    assert (failover["type"], failover["value"]) == expected
    assert pbx_state.pending is False


async def test_stop_between_write_and_apply_leaves_an_issue(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """Home Assistant stopping after the write, before the apply: an issue after restart."""
    client = client_of(config_entry)
    forwarding = config_entry.runtime_data.forwarding
    applying = asyncio.Event()

    async def apply(**kwargs: Any) -> bool:
        applying.set()
        await asyncio.Event().wait()  # never answers
        return True

    with patch.object(client, "apply", apply):
        change = hass.async_create_task(
            forwarding.async_set("201", Failover(FailoverType.FORWARD_TO_EXTEN, "205"))
        )
        await applying.wait()
        assert pbx_state.pending is True
        # Our own change in progress is not reported as left behind.
        await config_entry.runtime_data.registrations.async_refresh()
        assert unapplied_issue(hass, config_entry) is None
        change.cancel()
        with pytest.raises(asyncio.CancelledError):
            await change

    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    issue = unapplied_issue(hass, config_entry)
    assert issue is not None
    assert issue.translation_placeholders == {
        "title": config_entry.title,
        "changes": "forwarding of extension 201: To an extension 205",
    }
    await press(hass, APPLY)
    assert unapplied_issue(hass, config_entry) is None
    assert pbx_state.get_failover("201")["value"] == "205"


async def test_unapplied_change_lost_in_a_pbx_reboot_raises_no_issue(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """Pending changes die with a PBX reboot: nothing is left to apply."""
    pbx_state.add_fault("/pbx/apply", "http500")
    with pytest.raises(HomeAssistantError):
        await call_action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_exten", "destination": "205"},
        )
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    pbx_state.revert()
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert unapplied_issue(hass, config_entry) is None


# ---------------------------------------------------------------- outbound line


@pytest.mark.parametrize(
    "line", [{"gateway_id": "2"}, {"gateway_type": "trunk"}], ids=["id", "type"]
)
async def test_action_needs_the_whole_outbound_line(
    hass: HomeAssistant, pbx_state: PbxState, line: dict[str, str]
) -> None:
    """Half an outbound line in the action is refused before anything is sent."""
    before = pbx_state.get_failover("201")
    pbx_state.reset_counters()
    with pytest.raises(ServiceValidationError) as err:
        await call_action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "destination": "0612345678", **line},
        )
    assert err.value.translation_key == "gateway_id_and_type"
    assert pbx_state.get_failover("201") == before
    assert sum(pbx_state.counters.values()) == 0


async def test_unapplied_change_saved_by_an_earlier_version_is_still_shown(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    pbx_state: PbxState,
    hass_storage: dict[str, Any],
) -> None:
    """Earlier versions kept a failover per extension; the issue still names it."""
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}.forwarding"] = {
        "version": 1,
        "key": f"{DOMAIN}.{config_entry.entry_id}.forwarding",
        "data": {
            "previous": {},
            "targets": {},
            "unapplied": {"201": {"type": "FORWARD_TO_EXTEN", "destination": "205"}},
        },
    }
    pbx_state.pending = True
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    issue = unapplied_issue(hass, config_entry)
    assert issue is not None
    assert issue.translation_placeholders == {
        "title": config_entry.title,
        "changes": "forwarding of extension 201: To an extension 205",
    }


async def test_a_poll_ending_while_a_change_is_remembered(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """The PBX seen with nothing pending mid-save: the change still lands."""
    pbx_state.set_pending(False)
    unapplied = config_entry.runtime_data.changes.unapplied
    storage = unapplied._storage
    real_save = storage.async_save
    polled: list[bool] = []

    async def save() -> None:
        await real_save()
        if storage.unapplied and not polled:
            # The registrations poll's listener, run during the save's await.
            polled.append(True)
            unapplied.pending_changed()

    with patch.object(storage, "async_save", save):
        await config_entry.runtime_data.forwarding.async_set(
            "201", Failover(FailoverType.FORWARD_TO_EXTEN, "205")
        )
    assert polled == [True]
    assert pbx_state.get_failover("201")["value"] == "205"
    assert unapplied_issue(hass, config_entry) is None
