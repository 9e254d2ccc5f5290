"""Shared fixtures: custom integrations on, a simulated PBX on loopback, and
a config entry pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any
from unittest.mock import PropertyMock, patch

from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
    HomeAssistantSnapshotSerializer,
)
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props
from syrupy.types import SerializableData

from custom_components.kalliopepbx.api import AuthScheme, BasicCredentials, md5_hex
from custom_components.kalliopepbx.const import (
    CONF_AUTH,
    CONF_PBX_ID,
    CONF_TENANT_DOMAIN,
    DOMAIN,
)
from simulator import PbxState, RunningSimulator, build_scenario, run_simulator

FIXTURES = Path(__file__).parent / "fixtures"
PBX_ID = "KPBX-SIM-0001"
TITLE = "KalliopePBX Office"
PASSWORD = "admin"


def load_fixture_bytes(name: str) -> bytes:
    """A fixture file's raw bytes (BOM and CRLF included)."""
    return (FIXTURES / name).read_bytes()


def find_device(hass: HomeAssistant, identifier: str) -> dr.DeviceEntry | None:
    """A device of ours by identifier (`async_get_device` is deprecated in 2026)."""
    registry = dr.async_get(hass)
    return next(
        (
            device
            for entry in hass.config_entries.async_entries(DOMAIN)
            for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
            if (DOMAIN, identifier) in device.identifiers
        ),
        None,
    )


# Registry fields that newer Home Assistant releases added or changed; they
# describe the core, not this integration, so snapshots leave them out.
_CORE_VERSION_FIELDS = (
    "aliases",
    "compat_name",
    "object_id_base",
    "suggested_object_id",
)


class _SnapshotSerializer(HomeAssistantSnapshotSerializer):
    """Newer cores key attributes by `StrEnum`s: serialize them as the strings they are."""

    @classmethod
    def _serialize(cls, data: SerializableData, **kwargs: Any) -> str:
        if isinstance(data, dict) and any(isinstance(key, StrEnum) for key in data):
            data = type(data)(
                {
                    str(key) if isinstance(key, StrEnum) else key: value
                    for key, value in data.items()
                }
            )
        return str(super()._serialize(data, **kwargs))


class _SnapshotExtension(HomeAssistantSnapshotExtension):
    serializer_class = _SnapshotSerializer


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots that hold on every supported Home Assistant release."""
    return snapshot.use_extension(_SnapshotExtension).with_defaults(
        exclude=props(*_CORE_VERSION_FIELDS)
    )


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/kalliopepbx in every test."""


@pytest.fixture
def scenario() -> dict[str, Any]:
    """Arguments for `build_scenario`; override in a module to change the PBX."""
    return {"extensions": 12, "scenario": "demo"}


@pytest.fixture
def pbx_state(scenario: dict[str, Any]) -> PbxState:
    """The simulated PBX's state (the truth the integration should show)."""
    return build_scenario(**scenario)


@pytest.fixture
async def simulator(
    socket_enabled: None, pbx_state: PbxState
) -> AsyncIterator[RunningSimulator]:
    """The simulated PBX, served on 127.0.0.1."""
    async with run_simulator(pbx_state) as sim:
        yield sim


def entry_data(sim: RunningSimulator, **overrides: Any) -> dict[str, Any]:
    """Config entry data as the config flow stores it for a v3 PBX."""
    credentials = BasicCredentials(username="admin", password_md5=md5_hex(PASSWORD))
    assert credentials.scheme is AuthScheme.V3_BASIC
    return {
        CONF_HOST: sim.host,
        CONF_PORT: sim.port,
        CONF_SSL: False,
        CONF_VERIFY_SSL: True,
        CONF_USERNAME: "admin",
        CONF_TENANT_DOMAIN: "default",
        CONF_AUTH: credentials.as_dict(),
        CONF_PBX_ID: PBX_ID,
        "serial_number": None,
        **overrides,
    }


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Options of the config entry; override in a module to change them."""
    return {}


@pytest.fixture
def config_entry(
    hass: HomeAssistant, simulator: RunningSimulator, entry_options: dict[str, Any]
) -> MockConfigEntry:
    """A config entry for the simulated PBX, added to Home Assistant."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=PBX_ID,
        data=entry_data(simulator),
        options=entry_options,
        entry_id="01JKALLIOPEPBXENTRY0000001",
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """The integration set up against the simulator."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Create every entity enabled, including those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield
