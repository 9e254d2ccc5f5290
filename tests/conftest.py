"""Shared fixtures: custom integrations on, a PBX on loopback (the simulator,
or the reference-shaped fake) and a config entry pointing at it."""

from __future__ import annotations

import asyncio
from base64 import b64encode
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from enum import StrEnum
import logging
from pathlib import Path
import socket
from typing import Any
from unittest.mock import PropertyMock, patch

from aiohttp import ClientResponse
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_HOST,
    CONF_PORT,
    CONF_SSL,
    CONF_USERNAME,
    CONF_VERIFY_SSL,
    CONF_WEBHOOK_ID,
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
)
from homeassistant.core import Context, Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
    HomeAssistantSnapshotSerializer,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props
from syrupy.types import SerializableData

from custom_components.kalliopepbx.api import (
    AuthScheme,
    BasicCredentials,
    DigestCredentials,
)
from custom_components.kalliopepbx.const import (
    CONF_AUTH,
    CONF_PBX_ID,
    CONF_TENANT_DOMAIN,
    CONF_WEBHOOK_PASSWORD,
    CONF_WEBHOOK_USERNAME,
    DOMAIN,
)
from simulator import (
    PbxState,
    RunningSimulator,
    build_scenario,
    run_simulator,
    server_ssl_context,
)

from .live_helpers import Post
from .reference_pbx import (
    PASSWORD,
    SALT,
    ReferencePbx,
    digest_password,
    fixture_bytes,
    md5_hex,
    reference_pbx as serve_reference_pbx,
)

__all__ = ["PASSWORD", "digest_password", "md5_hex"]

PBX_ID = "KPBX-SIM-0001"
TITLE = "KalliopePBX Office"


load_fixture_bytes = fixture_bytes


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


async def advance(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, delta: timedelta
) -> None:
    """Let `delta` pass: the coordinators due in it poll."""
    freezer.tick(delta)
    async_fire_time_changed(hass)
    # Scheduled refreshes (and the system refresh they request) run as
    # background tasks of the entry.
    await hass.async_block_till_done(wait_background_tasks=True)


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


LOGGER_NAME = "custom_components.kalliopepbx"


def our_log_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    """The integration's log lines (INFO and up) that contain `text`."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith(LOGGER_NAME)
        and record.levelno >= logging.INFO
        and text in record.getMessage()
    ]


def record_state_writes(hass: HomeAssistant) -> list[str]:
    """Entity ids of every state write (changed or only reported) from now on."""
    writes: list[str] = []

    @callback
    def record(event: Event[Any]) -> None:
        writes.append(event.data["entity_id"])

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    hass.bus.async_listen(
        EVENT_STATE_REPORTED, record, event_filter=callback(lambda _: True)
    )
    return writes


@asynccontextmanager
async def serve_over_tls(
    state: PbxState, cert: Path, key: Path
) -> AsyncIterator[RunningSimulator]:
    """The simulator over HTTPS with a self-signed certificate.

    The server shares the test's event loop, whose harness fails a test on
    any exception reported to the loop: the server's report of a handshake
    the client refused is expected here and is the only one dropped.
    """
    loop = asyncio.get_running_loop()
    harness_handler = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if str(context.get("message", "")).startswith(
            "Error on transport creation for incoming connection"
        ):
            return
        if harness_handler is not None:
            harness_handler(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)
    try:
        async with run_simulator(
            state, ssl_context=server_ssl_context(cert, key)
        ) as sim:
            yield sim
    finally:
        loop.set_exception_handler(harness_handler)


async def call_action(
    hass: HomeAssistant,
    service: str,
    data: dict[str, Any],
    *,
    context: Context | None = None,
    response: bool = False,
) -> Any:
    """Call one of our actions and wait for it (and its answer)."""
    return await hass.services.async_call(
        DOMAIN, service, data, blocking=True, context=context, return_response=response
    )


async def set_text(
    hass: HomeAssistant, entity_id: str, value: str, context: Context | None = None
) -> None:
    """Type into a text entity (a forwarding target)."""
    await hass.services.async_call(
        "text",
        "set_value",
        {ATTR_ENTITY_ID: entity_id, "value": value},
        blocking=True,
        context=context,
    )


async def switch_to(
    hass: HomeAssistant, entity_id: str, service: str, context: Context | None = None
) -> None:
    """Turn a switch on or off (`service`: turn_on / turn_off)."""
    await hass.services.async_call(
        "switch", service, {ATTR_ENTITY_ID: entity_id}, blocking=True, context=context
    )


async def open_options(
    hass: HomeAssistant, entry_id: str, step: str = "settings"
) -> dict[str, Any]:
    """Open the options and pick `step` from their menu: the form it shows."""
    menu = await hass.config_entries.options.async_init(entry_id)
    return dict(
        await hass.config_entries.options.async_configure(
            menu["flow_id"], {"next_step_id": step}
        )
    )


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
def nothing_pending(pbx_state: PbxState) -> None:
    """The demo PBX starts with changes pending: applied before the test."""
    pbx_state.set_pending(False)


@pytest.fixture
async def simulator(
    socket_enabled: None, pbx_state: PbxState
) -> AsyncIterator[RunningSimulator]:
    """The simulated PBX, served on 127.0.0.1."""
    async with run_simulator(pbx_state) as sim:
        yield sim


def entry_data(
    sim: RunningSimulator | ReferencePbx, **overrides: Any
) -> dict[str, Any]:
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


@pytest.fixture
def pbx_version() -> int:
    """Firmware line of the reference-shaped PBX; override in a module for 4.x."""
    return 3


@pytest.fixture
async def reference_pbx(
    socket_enabled: None, pbx_version: int
) -> AsyncIterator[ReferencePbx]:
    """The PBX answering the API reference's own examples, on 127.0.0.1."""
    async with serve_reference_pbx(version=pbx_version) as pbx:
        yield pbx


def v4_credentials() -> dict[str, Any]:
    """4.x derived credentials as the config flow stores them."""
    return DigestCredentials(
        username="admin",
        domain="default",
        salt=SALT,
        password_digest=digest_password(PASSWORD, SALT),
    ).as_dict()


@pytest.fixture
def reference_entry(
    hass: HomeAssistant, reference_pbx: ReferencePbx, entry_options: dict[str, Any]
) -> MockConfigEntry:
    """A config entry for the reference-shaped PBX, added to Home Assistant."""
    overrides = {CONF_AUTH: v4_credentials()} if reference_pbx.version == 4 else {}
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=PBX_ID,
        data=entry_data(reference_pbx, **overrides),
        options=entry_options,
        entry_id="01JKALLIOPEPBXENTRY0000002",
    )
    entry.add_to_hass(hass)
    return entry


@pytest.fixture
async def reference_integration(
    hass: HomeAssistant, reference_entry: MockConfigEntry
) -> MockConfigEntry:
    """The integration set up against the reference-shaped PBX."""
    assert await hass.config_entries.async_setup(reference_entry.entry_id)
    await hass.async_block_till_done()
    return reference_entry


@pytest.fixture
async def post(
    hass: HomeAssistant,
    hass_client_no_auth: ClientSessionGenerator,
    reference_integration: MockConfigEntry,
) -> Post:
    """Send one notification as the PBX's WebService action does."""
    client = await hass_client_no_auth()
    data = reference_integration.data
    good = (data[CONF_WEBHOOK_USERNAME], data[CONF_WEBHOOK_PASSWORD])

    async def send(
        body: str | bytes = b"",
        *,
        auth: tuple[str, str] | None = good,
        method: str = "POST",
        params: dict[str, str] | None = None,
        settle: bool = True,
    ) -> ClientResponse:
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            token = b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        response = await client.request(
            method,
            f"/api/webhook/{data[CONF_WEBHOOK_ID]}",
            data=body.encode() if isinstance(body, str) else body,
            params=params,
            headers=headers,
        )
        if settle:
            # Caller names are looked up in the background. (Not with an
            # automation waiting for a later event: it would never settle.)
            await hass.async_block_till_done(wait_background_tasks=True)
        return response

    return send
