"""Buttons of the PBX: each press sends its command, answered as the API
reference shows (the snapshot stays on the simulator)."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import patch

from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.auth.models import User
from homeassistant.const import STATE_OFF, STATE_ON, Platform
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

from .conftest import press
from .reference_pbx import ReferencePbx

RELOAD = "button.kalliopepbx_office_reload_pbx_engine"
RESTART = "button.kalliopepbx_office_restart_pbx_engine"
APPLY = "button.kalliopepbx_office_apply_pending_changes"
REVERT = "button.kalliopepbx_office_revert_pending_changes"


@pytest.fixture
def platforms() -> list[Platform]:
    """The platforms to load."""
    return [Platform.BUTTON]


@pytest.fixture(autouse=True)
def platform(platforms: list[Platform]) -> Iterator[None]:
    """Load the button platform only (and what a test adds)."""
    with patch("custom_components.kalliopepbx.PLATFORMS", platforms):
        yield


# The pending-changes sensor, to see what apply and revert leave behind.
WITH_PENDING_SENSOR = pytest.mark.parametrize(
    "platforms", [[Platform.BUTTON, Platform.BINARY_SENSOR]], ids=["with_pending"]
)
PENDING = "binary_sensor.kalliopepbx_office_pending_changes"


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "init_integration")
async def test_buttons(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    config_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Every button, the disabled-by-default restart included."""
    await snapshot_platform(hass, entity_registry, snapshot, config_entry.entry_id)


@pytest.mark.usefixtures("reference_integration")
async def test_restart_is_disabled_by_default(
    hass: HomeAssistant, entity_registry: er.EntityRegistry
) -> None:
    """Restarting drops every call: opt-in."""
    entry = entity_registry.async_get(RESTART)
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(RESTART) is None


@pytest.mark.usefixtures("entity_registry_enabled_by_default", "reference_integration")
async def test_engine_buttons(hass: HomeAssistant, reference_pbx: ReferencePbx) -> None:
    """Reload and restart reach the PBX engine, one command per press."""
    await press(hass, RELOAD)
    await press(hass, RESTART)
    assert [
        (r.method, r.path) for r in reference_pbx.requests if r.method == "PUT"
    ] == [("PUT", "/system/pbxengine/reload"), ("PUT", "/system/pbxengine/restart")]


@WITH_PENDING_SENSOR
@pytest.mark.parametrize("button", [APPLY, REVERT])
async def test_apply_and_revert_clear_pending_changes(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    reference_entry: MockConfigEntry,
    button: str,
) -> None:
    """Changes made on the PBX are pending; either press clears them and the
    sensor shows it at once, without waiting for the next poll."""
    reference_pbx.pending = True
    assert await hass.config_entries.async_setup(reference_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(PENDING).state == STATE_ON

    await press(hass, button)
    assert not reference_pbx.pending
    assert hass.states.get(PENDING).state == STATE_OFF
    # Nothing left to apply or revert: pressing again is fine.
    await press(hass, button)
    assert hass.states.get(PENDING).state == STATE_OFF


@pytest.fixture
async def regular_user(hass: HomeAssistant) -> User:
    """A user who may control entities but is not an administrator."""
    group = await hass.auth.async_get_group(GROUP_ID_USER)
    assert group is not None
    return MockUser(name="Receptionist", groups=[group]).add_to_hass(hass)


@pytest.mark.parametrize("entity_id", [RELOAD, APPLY, REVERT])
@pytest.mark.usefixtures("reference_integration")
async def test_non_admin_is_refused(
    hass: HomeAssistant,
    regular_user: User,
    hass_read_only_user: User,
    reference_pbx: ReferencePbx,
    entity_id: str,
) -> None:
    """Users who are not administrators cannot press; nothing reaches the PBX."""
    assert not regular_user.is_admin
    for user in (regular_user, hass_read_only_user):
        with pytest.raises(Unauthorized):
            await press(hass, entity_id, Context(user_id=user.id))
    assert not [r for r in reference_pbx.requests if r.method == "PUT"]


@pytest.mark.usefixtures("reference_integration")
async def test_admin_may_press(
    hass: HomeAssistant, hass_admin_user: User, reference_pbx: ReferencePbx
) -> None:
    """An administrator's press goes through."""
    await press(hass, RELOAD, Context(user_id=hass_admin_user.id))
    assert len(reference_pbx.seen("PUT", "/system/pbxengine/reload")) == 1


@pytest.mark.usefixtures("reference_integration")
async def test_pbx_error_is_translated(
    hass: HomeAssistant, reference_pbx: ReferencePbx
) -> None:
    """An HTTP 500 on the command is a translated error, not a crash."""
    reference_pbx.answer(
        "/system/pbxengine/reload", b"Internal Server Error", status=500
    )
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, RELOAD)
    assert err.value.translation_key == "invalid_response"


@pytest.mark.parametrize(
    ("entity_id", "path", "answer", "command"),
    [
        (
            RELOAD,
            "/system/pbxengine/reload",
            "<pbxengine_reloaded>false</pbxengine_reloaded>",
            "reload_pbx_engine",
        ),
        (APPLY, "/pbx/apply", "<pbx_applied>false</pbx_applied>", "apply_changes"),
    ],
    ids=["reload", "apply"],
)
@pytest.mark.usefixtures("reference_integration")
async def test_command_not_done(
    hass: HomeAssistant,
    reference_pbx: ReferencePbx,
    entity_id: str,
    path: str,
    answer: str,
    command: str,
) -> None:
    """The PBX answers `false` (changes still pending): the user is told."""
    reference_pbx.pending = True
    reference_pbx.answer(path, f"<kpbx_response>{answer}</kpbx_response>")
    with pytest.raises(HomeAssistantError) as err:
        await press(hass, entity_id)
    assert err.value.translation_key == "command_failed"
    assert err.value.translation_placeholders == {"command": command}
