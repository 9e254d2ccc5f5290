"""Buttons of the PBX: each press does what it says on the simulated PBX."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import AsyncMock, patch

from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.auth.models import User
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, Unauthorized
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from simulator import PbxState

RELOAD = "button.kalliopepbx_office_reload_pbx_engine"
RESTART = "button.kalliopepbx_office_restart_pbx_engine"
APPLY = "button.kalliopepbx_office_apply_pending_changes"
REVERT = "button.kalliopepbx_office_revert_pending_changes"


@pytest.fixture(autouse=True)
def platform() -> Iterator[None]:
    """Load the button platform only."""
    with patch("custom_components.kalliopepbx.PLATFORMS", [Platform.BUTTON]):
        yield


async def press(
    hass: HomeAssistant, entity_id: str, context: Context | None = None
) -> None:
    """Press a button and wait for it."""
    await hass.services.async_call(
        BUTTON_DOMAIN,
        SERVICE_PRESS,
        {ATTR_ENTITY_ID: entity_id},
        blocking=True,
        context=context,
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_buttons(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    config_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every button, the disabled-by-default restart included."""
    await snapshot_platform(hass, entity_registry, snapshot, config_entry.entry_id)


@pytest.mark.usefixtures("init_integration")
async def test_restart_is_disabled_by_default(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    """Restarting drops every call: opt-in."""
    entry = entity_registry.async_get(RESTART)
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(RESTART) is None


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_engine_buttons(hass: HomeAssistant, pbx_state: PbxState) -> None:
    """Reload and restart reach the PBX engine."""
    await press(hass, RELOAD)
    assert (pbx_state.reload_count, pbx_state.restart_count) == (1, 0)
    await press(hass, RESTART)
    assert (pbx_state.reload_count, pbx_state.restart_count) == (1, 1)


@pytest.mark.usefixtures("init_integration")
async def test_apply_commits_pending_changes(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """Apply: the pending forwarding of 203 is committed, nothing is pending."""
    assert pbx_state.pending
    await press(hass, APPLY)
    assert not pbx_state.pending
    assert pbx_state.committed_extensions["203"].failover.type == "FORWARD_TO_EXTEN"
    assert config_entry.runtime_data.registrations.latest.pending is False
    # Nothing left to apply: pressing again is fine.
    await press(hass, APPLY)


@pytest.mark.usefixtures("init_integration")
async def test_revert_discards_pending_changes(
    hass: HomeAssistant, pbx_state: PbxState, config_entry: MockConfigEntry
) -> None:
    """Revert: 203 is back to its committed failover, nothing is pending."""
    await press(hass, REVERT)
    assert not pbx_state.pending
    assert pbx_state.extensions["203"].failover.type == "FORWARD_TO_VOICEMAIL"
    # The refresh after the press shows it without waiting for the next poll.
    assert config_entry.runtime_data.registrations.latest.pending is False
    config = config_entry.runtime_data.config("203")
    assert config is not None
    assert config.failover is not None
    assert config.failover.destination == "203"


@pytest.fixture
async def regular_user(hass: HomeAssistant) -> User:
    """A user who may control entities but is not an administrator."""
    group = await hass.auth.async_get_group(GROUP_ID_USER)
    assert group is not None
    return MockUser(name="Receptionist", groups=[group]).add_to_hass(hass)


@pytest.mark.parametrize("entity_id", [RELOAD, APPLY, REVERT])
@pytest.mark.usefixtures("init_integration")
async def test_non_admin_is_refused(
    hass: HomeAssistant,
    regular_user: User,
    hass_read_only_user: User,
    pbx_state: PbxState,
    entity_id: str,
) -> None:
    """Users who are not administrators cannot press; nothing reaches the PBX."""
    assert not regular_user.is_admin
    pbx_state.reset_counters()
    for user in (regular_user, hass_read_only_user):
        with pytest.raises(Unauthorized):
            await press(hass, entity_id, Context(user_id=user.id))
    assert pbx_state.reload_count == 0
    assert pbx_state.pending
    assert not any(key.startswith("PUT") for key in pbx_state.counters)


@pytest.mark.usefixtures("init_integration")
async def test_admin_may_press(
    hass: HomeAssistant, hass_admin_user: User, pbx_state: PbxState
) -> None:
    """An administrator's press goes through."""
    await press(hass, RELOAD, Context(user_id=hass_admin_user.id))
    assert pbx_state.reload_count == 1


@pytest.mark.usefixtures("init_integration")
async def test_pbx_error_is_translated(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """An HTTP 500 on the command is a translated error, not a crash."""
    pbx_state.add_fault("/system/pbxengine/reload", "http500")
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, RELOAD)
    assert err.value.translation_key == "invalid_response"
    assert pbx_state.reload_count == 0


@pytest.mark.usefixtures("init_integration")
async def test_command_not_done(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """The PBX answers that it did not reload: the user is told."""
    client = config_entry.runtime_data.client
    with (
        patch.object(client, "reload_pbx_engine", AsyncMock(return_value=False)),
        pytest.raises(HomeAssistantError) as err,
    ):
        await press(hass, RELOAD)
    assert err.value.translation_key == "command_failed"
    assert err.value.translation_placeholders == {"command": "reload_pbx_engine"}


@pytest.mark.usefixtures("init_integration")
async def test_apply_not_done_while_still_pending(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """Apply answered false and changes are still pending: the user is told."""
    client = config_entry.runtime_data.client
    with (
        patch.object(client, "apply", AsyncMock(return_value=False)),
        pytest.raises(HomeAssistantError) as err,
    ):
        await press(hass, APPLY)
    assert err.value.translation_key == "command_failed"
