"""Forwarding changes: ordering with apply/revert, read-back, concurrent
entities, unapplied changes across restarts, the whole failover kept and the
outbound line taken from one source."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
import re
from typing import Any
from unittest.mock import patch
from xml.etree import ElementTree as ET

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, STATE_ON
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

from .conftest import load_fixture_bytes

pytestmark = pytest.mark.usefixtures("init_integration")

SWITCH = "switch.stefano_villa_call_forwarding"
TARGET = "text.stefano_villa_forwarding_target"
APPLY = "button.kalliopepbx_office_apply_pending_changes"
REVERT = "button.kalliopepbx_office_revert_pending_changes"


@pytest.fixture
def scenario() -> dict[str, Any]:
    """Twelve extensions; 201 goes to its voicemail, 203 forwards via gateway 1."""
    return {"extensions": 12}


async def action(hass: HomeAssistant, service: str, data: dict[str, Any]) -> None:
    """Call one of our actions and wait for it."""
    await hass.services.async_call(DOMAIN, service, data, blocking=True)


async def press(hass: HomeAssistant, entity_id: str) -> None:
    """Press a button and wait for it."""
    await hass.services.async_call(
        BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def set_target(hass: HomeAssistant, value: str) -> None:
    """Type a forwarding target."""
    await hass.services.async_call(
        "text", "set_value", {"entity_id": TARGET, "value": value}, blocking=True
    )


async def switch(hass: HomeAssistant, service: str) -> None:
    """Turn the forwarding switch on or off."""
    await hass.services.async_call(
        "switch", service, {"entity_id": SWITCH}, blocking=True
    )


def client_of(entry: MockConfigEntry) -> KalliopeClient:
    """The entry's PBX client."""
    client: KalliopeClient = entry.runtime_data.client
    return client


class ReferencePbx:
    """Extension 201's configuration as the API reference shows it.

    `GET /users/configs/201` is answered from a fixture and `PUT` changes its
    failover, as the PBX does (pending until applied); the simulator answers
    everything else. `puts` holds every body sent for 201.
    """

    def __init__(
        self,
        pbx_state: PbxState,
        fixture: str,
        *,
        keeps_writes: bool = True,
        replace: Mapping[str, str] | None = None,
    ) -> None:
        """`replace`: text substitutions turning the fixture into a variant."""
        self.document = load_fixture_bytes(fixture).decode()
        for old, new in (replace or {}).items():
            assert old in self.document
            self.document = self.document.replace(old, new)
        self.pbx_state = pbx_state
        self.keeps_writes = keeps_writes
        self.puts: list[ET.Element] = []

    def failover(self) -> ET.Element:
        """The `<failover>` the PBX has now."""
        found = ET.fromstring(self.document).find(  # noqa: S314 - a fixture
            "configs/config/failover"
        )
        assert found is not None
        return found

    @contextmanager
    def serving(self, client: KalliopeClient) -> Iterator[None]:
        """Answer 201's configuration requests for `client`."""
        real_send = client._send

        async def send(
            method: str,
            path: str,
            endpoint: str,
            *,
            body: bytes | None = None,
            **kwargs: Any,
        ) -> bytes:
            if path != "/users/configs/201":
                return await real_send(method, path, endpoint, body=body, **kwargs)
            if method == "GET":
                return self.document.encode()
            assert body is not None
            put = ET.fromstring(body)  # noqa: S314 - our own request
            self.puts.append(put)
            written = put.find("user/failover")
            if self.keeps_writes and written is not None:
                self.document = re.sub(
                    r"<failover>.*</failover>",
                    ET.tostring(written, encoding="unicode"),
                    self.document,
                    flags=re.DOTALL,
                )
            self.pbx_state.set_pending(True)
            return load_fixture_bytes("user_saved.xml")

        with patch.object(client, "_send", send):
            yield


def put_failover(put: ET.Element) -> dict[str, str | None]:
    """The failover fields of a PUT body, by their reference names."""
    failover = put.find("user/failover")
    assert failover is not None
    fields: dict[str, str | None] = {
        "intro": failover.findtext("intro"),
        "type": failover.findtext("type"),
    }
    for tag in ("name", "value", "gateway_type", "gateway_id", "gateway_name"):
        fields[tag] = failover.findtext(f"destination/{tag}")
    return fields


# ---------------------------------------------------------------- A: one lock


def _press_apply(hass: HomeAssistant) -> Awaitable[None]:
    return press(hass, APPLY)


def _press_revert(hass: HomeAssistant) -> Awaitable[None]:
    return press(hass, REVERT)


def _action_apply(hass: HomeAssistant) -> Awaitable[None]:
    return action(hass, "apply_changes", {})


def _action_revert(hass: HomeAssistant) -> Awaitable[None]:
    return action(hass, "revert_changes", {})


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
            action(
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


# ---------------------------------------------------------------- B: read back


async def test_change_the_pbx_does_not_show_is_reported(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """Write and apply accepted, old forwarding still answered: the user is told."""
    pbx = ReferencePbx(pbx_state, "user_config_failover_ivr.xml", keeps_writes=False)
    with (
        pbx.serving(client_of(config_entry)),
        pytest.raises(HomeAssistantError) as err,
    ):
        await action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_exten", "destination": "205"},
        )
    assert err.value.translation_key == "forwarding_not_applied"
    placeholders = err.value.translation_placeholders
    assert placeholders == {
        "extension": "201",
        "expected": "forward_to_exten 205",
        "actual": "forward_to_ivr 1",
    }
    assert len(pbx.puts) == 1
    assert pbx_state.pending is False


async def test_restore_the_pbx_does_not_show_is_reported(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """Turning forwarding off is read back too."""
    pbx = ReferencePbx(pbx_state, "user_config_failover_ivr.xml")
    with pbx.serving(client_of(config_entry)):
        await set_target(hass, "205")
        await switch(hass, "turn_on")
        pbx.keeps_writes = False
        with pytest.raises(HomeAssistantError) as err:
            await switch(hass, "turn_off")
    assert err.value.translation_key == "forwarding_not_applied"
    assert err.value.translation_placeholders == {
        "extension": "201",
        "expected": "forward_to_ivr 1",
        "actual": "forward_to_exten 205",
    }


async def test_change_read_back_as_written_is_quiet(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """A PBX showing what was written raises nothing."""
    pbx = ReferencePbx(pbx_state, "user_config_failover_ivr.xml")
    with pbx.serving(client_of(config_entry)):
        await action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_exten", "destination": "205"},
        )
    assert pbx.failover().findtext("destination/value") == "205"


# ---------------------------------------------------------------- C: text + switch


@pytest.mark.parametrize("switch_first", [True, False])
async def test_target_and_switch_at_the_same_moment(
    hass: HomeAssistant, pbx_state: PbxState, switch_first: bool
) -> None:
    """A new target typed as the switch turns on: the PBX ends at the new one."""
    await set_target(hass, "+39 347 000 0001")
    calls = [switch(hass, "turn_on"), set_target(hass, "205")]
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
    await set_target(hass, "+39 347 000 0001")
    await switch(hass, "turn_on")
    pbx_state.add_fault("/users/configs/201", "http500")
    with pytest.raises(HomeAssistantError):
        await set_target(hass, "205")
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
        await action(
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
    assert issue.translation_placeholders["extensions"] == "201"
    assert issue.translation_placeholders["changes"] == "201: forward_to_exten 205"

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
        await action(
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
    assert result["description_placeholders"]["changes"] == "201: forward_to_exten 205"
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
        "extensions": "201",
        "changes": "201: forward_to_exten 205",
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
        await action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "type": "forward_to_exten", "destination": "205"},
        )
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    pbx_state.revert()
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert unapplied_issue(hass, config_entry) is None


# ---------------------------------------------------------------- E: whole failover


async def test_forwarding_keeps_the_rest_of_the_failover(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """On and off change where calls go; the announcement and names stay."""
    pbx = ReferencePbx(pbx_state, "user_config_failover_ivr.xml")
    with pbx.serving(client_of(config_entry)):
        await set_target(hass, "+39 347 000 0001")
        await switch(hass, "turn_on")
        assert put_failover(pbx.puts[-1]) == {
            "intro": "fuori_orario",
            "type": "FORWARD_TO_EXTERNAL_NUMBER",
            "name": None,
            "value": "+393470000001",
            # 203's outbound line, named as 203's failover names it.
            "gateway_type": "GATEWAY",
            "gateway_id": "1",
            "gateway_name": "PRI Telecom",
        }

        await switch(hass, "turn_off")
        assert put_failover(pbx.puts[-1]) == {
            "intro": "fuori_orario",
            "type": "FORWARD_TO_IVR",
            "name": "Menu principale",
            "value": "1",
            "gateway_type": None,
            "gateway_id": None,
            "gateway_name": None,
        }
    assert len(pbx.puts) == 2


async def test_restore_keeps_an_announcement_changed_meanwhile(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """The announcement is not forwarding: off keeps the one the PBX has now."""
    pbx = ReferencePbx(pbx_state, "user_config_failover_ivr.xml")
    with pbx.serving(client_of(config_entry)):
        await set_target(hass, "205")
        await switch(hass, "turn_on")
        pbx.document = pbx.document.replace(
            "<intro>fuori_orario</intro>", "<intro>ferie_estive</intro>"
        )
        await switch(hass, "turn_off")
    assert put_failover(pbx.puts[-1])["intro"] == "ferie_estive"
    assert put_failover(pbx.puts[-1])["type"] == "FORWARD_TO_IVR"


# ---------------------------------------------------------------- F: outbound line


async def test_outbound_line_from_the_extensions_failover(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """A new number goes out through the line the extension forwards through."""
    pbx = ReferencePbx(pbx_state, "user_config_failover_trunk.xml")
    with pbx.serving(client_of(config_entry)):
        await set_target(hass, "+39 347 000 0001")
    assert put_failover(pbx.puts[-1]) == {
        "intro": "benvenuto",
        "type": "FORWARD_TO_EXTERNAL_NUMBER",
        "name": None,
        "value": "+393470000001",
        "gateway_type": "TRUNK",
        "gateway_id": "2",
        "gateway_name": "VoIP Trunk Messagenet",
    }


async def test_action_on_the_same_outbound_line_keeps_its_name(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """The action naming the line the extension uses now keeps the line's name."""
    pbx = ReferencePbx(pbx_state, "user_config_failover_trunk.xml")
    with pbx.serving(client_of(config_entry)):
        await action(
            hass,
            "set_call_forwarding",
            {
                "extension": "201",
                "destination": "0698765432",
                "gateway_id": "2",
                "gateway_type": "trunk",
            },
        )
    fields = put_failover(pbx.puts[-1])
    assert (fields["intro"], fields["value"]) == ("benvenuto", "0698765432")
    assert (fields["gateway_type"], fields["gateway_id"], fields["gateway_name"]) == (
        "TRUNK",
        "2",
        "VoIP Trunk Messagenet",
    )


async def test_outbound_line_without_type_is_not_guessed(
    hass: HomeAssistant, config_entry: MockConfigEntry, pbx_state: PbxState
) -> None:
    """An id whose type the PBX does not give: a clear error, nothing written."""
    pbx = ReferencePbx(
        pbx_state,
        "user_config_failover_trunk.xml",
        replace={"<gateway_type>TRUNK</gateway_type>": "<gateway_type/>"},
    )
    with (
        pbx.serving(client_of(config_entry)),
        pytest.raises(ServiceValidationError) as err,
    ):
        await set_target(hass, "+39 347 000 0001")
    assert err.value.translation_key == "gateway_type_unknown"
    assert err.value.translation_placeholders == {
        "extension": "201",
        "gateway_id": "2",
    }
    assert pbx.puts == []
    assert pbx_state.pending is False


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
        await action(
            hass,
            "set_call_forwarding",
            {"extension": "201", "destination": "0612345678", **line},
        )
    assert err.value.translation_key == "gateway_id_and_type"
    assert pbx_state.get_failover("201") == before
    assert sum(pbx_state.counters.values()) == 0
