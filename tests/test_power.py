"""Restart PBX and Shut down PBX: opt-in buttons and admin actions, sent under
the configuration lock once the PBX answers; a PBX that drops the line as it
goes down is not an error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
import logging
from unittest.mock import patch

from homeassistant.auth.models import User
from homeassistant.const import STATE_UNAVAILABLE, EntityCategory, Platform
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, Unauthorized
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.api import KalliopeConnectionError
from simulator import PbxState

from .conftest import call_action, our_log_lines, press
from .lock_helpers import forwarding_change_held, let_others_run
from .reference_pbx import ReferencePbx

RESTART = "button.kalliopepbx_office_restart_pbx"
SHUTDOWN = "button.kalliopepbx_office_shut_down_pbx"


@pytest.fixture(autouse=True)
def platform() -> Iterator[None]:
    """The button platform only."""
    with patch("custom_components.kalliopepbx.PLATFORMS", [Platform.BUTTON]):
        yield


@pytest.mark.usefixtures("reference_integration")
async def test_power_buttons_are_opt_in(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    """Each drops every call: disabled until someone turns them on."""
    for entity_id in (RESTART, SHUTDOWN):
        entry = entity_registry.async_get(entity_id)
        assert entry is not None
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert entry.entity_category is EntityCategory.CONFIG
        assert hass.states.get(entity_id) is None
    restart = entity_registry.async_get(RESTART)
    assert restart is not None
    assert restart.original_device_class == "restart"


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_restart_takes_the_pbx_down_and_it_comes_back(
    hass: HomeAssistant,
    pbx_state: PbxState,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The PBX reboots; the next polls find it gone, then back."""
    pbx_state.set_power_times(restart_s=3600)  # until the test powers it on
    caplog.set_level(logging.INFO)
    await press(hass, RESTART)
    assert pbx_state.power() == "restarting"
    assert pbx_state.system_restarts == 1
    runtime = config_entry.runtime_data
    assert not runtime.changes.lock.locked()

    await runtime.registrations.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(RESTART).state == STATE_UNAVAILABLE
    assert len(our_log_lines(caplog, "is unavailable")) == 1

    pbx_state.power_on()
    await runtime.registrations.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(RESTART).state != STATE_UNAVAILABLE
    assert pbx_state.system_restarts == 1
    assert len(our_log_lines(caplog, "is available again")) == 1


@pytest.mark.parametrize(
    ("action", "power"), [("restart_pbx", "restarting"), ("shutdown_pbx", "halted")]
)
@pytest.mark.usefixtures("init_integration")
async def test_the_actions(
    hass: HomeAssistant, pbx_state: PbxState, action: str, power: str
) -> None:
    """A UPS automation can shut the PBX down (no user: allowed)."""
    await call_action(hass, action, {})
    assert pbx_state.power() == power
    assert (pbx_state.system_restarts, pbx_state.system_halts) == (
        (1, 0) if action == "restart_pbx" else (0, 1)
    )


@pytest.mark.usefixtures("reference_integration")
async def test_reference_answers(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """`true` is done, after a check that the PBX answers; `false` is told."""
    reference_pbx.answer("/system/halt", fixture="system_halted.xml")
    reference_pbx.requests.clear()
    await call_action(hass, "shutdown_pbx", {})
    sent = [(r.method, r.path) for r in reference_pbx.requests]
    assert sent == [("GET", "/pbx/pending"), ("PUT", "/system/halt")]

    reference_pbx.answer(
        "/system/restart",
        "<kpbx_response>\n  <system_restarted>false</system_restarted>\n"
        "</kpbx_response>\n",
    )
    with pytest.raises(HomeAssistantError) as err:
        await call_action(hass, "restart_pbx", {})
    assert err.value.translation_key == "command_failed"
    assert err.value.translation_placeholders == {"command": "restart_pbx"}


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_no_answer_after_the_check_is_the_pbx_going_down(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The line drops before the answer: not an error, one line in the log."""
    client = config_entry.runtime_data.client
    caplog.set_level(logging.INFO)
    with patch.object(
        client, "halt_system", side_effect=KalliopeConnectionError("reset by peer")
    ):
        await press(hass, SHUTDOWN)
    assert len(our_log_lines(caplog, "taken as going down")) == 1
    assert not config_entry.runtime_data.changes.lock.locked()


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_an_unreachable_pbx_is_an_error_and_nothing_is_sent(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """The check before the command fails: the user is told, nothing is sent."""
    pbx_state.power_off("halted", 3600)
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, RESTART)
    assert err.value.translation_key == "cannot_connect"
    pbx_state.power_on()
    assert pbx_state.system_restarts == 0
    assert not config_entry.runtime_data.changes.lock.locked()


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_non_admin_is_refused(
    hass: HomeAssistant, pbx_state: PbxState, hass_read_only_user: User
) -> None:
    context = Context(user_id=hass_read_only_user.id)
    with pytest.raises(Unauthorized):
        await call_action(hass, "shutdown_pbx", {}, context=context)
    with pytest.raises(Unauthorized):
        await press(hass, RESTART, context)
    assert (pbx_state.system_restarts, pbx_state.system_halts) == (0, 0)


def _press_restart(hass: HomeAssistant) -> Awaitable[None]:
    return press(hass, RESTART)


def _action_shutdown(hass: HomeAssistant) -> Awaitable[None]:
    return call_action(hass, "shutdown_pbx", {})


@pytest.mark.parametrize(
    ("command", "request_name"),
    [(_press_restart, "restart_system"), (_action_shutdown, "halt_system")],
)
@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_power_waits_for_a_configuration_change(
    hass: HomeAssistant,
    pbx_state: PbxState,
    config_entry: MockConfigEntry,
    command: Callable[[HomeAssistant], Awaitable[None]],
    request_name: str,
) -> None:
    """Never between a change's write and its apply: a reboot drops it."""
    pbx_state.set_pending(False)
    client = config_entry.runtime_data.client
    async with forwarding_change_held(
        hass, client, record=("apply", "restart_system", "halt_system")
    ) as held:
        pressed = hass.async_create_task(command(hass))
        await let_others_run()
        assert held.order == ["set_failover"]
        await held.finish(pressed)
    assert held.order == ["set_failover", "apply", request_name]
    # The change was applied before the PBX went down: it survives the reboot.
    failover = pbx_state.get_failover("201")
    assert (failover["type"], failover["value"]) == ("FORWARD_TO_EXTEN", "205")
    assert pbx_state.pending is False
