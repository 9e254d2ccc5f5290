"""Fixtures of the client tests.

The client needs no Home Assistant instance, so the suite-wide
custom-integrations fixture (which starts one per test) is replaced here by a
no-op. Tests that talk HTTP to the simulator request `socket_enabled` through
the fixtures below (connections stay restricted to 127.0.0.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from custom_components.kalliopepbx.api import (
    BasicCredentials,
    Credentials,
    DigestCredentials,
    KalliopeClient,
)
from simulator import PbxState, RunningSimulator


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """No Home Assistant here: the client is tested on its own."""


def credentials_for(state: PbxState, password: str | None = None) -> Credentials:
    """The credentials a user with the PBX's (or another) password ends up with."""
    password = state.password if password is None else password
    if state.auth == "v4":
        return DigestCredentials.from_password(
            password, state.salt, domain=state.domain
        )
    return BasicCredentials.from_password(password)


@pytest.fixture
async def session(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, closed after the test."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def client(
    session: aiohttp.ClientSession, simulator: RunningSimulator
) -> KalliopeClient:
    """A client for the simulated PBX (`simulator` from tests/conftest.py)."""
    return KalliopeClient(
        session,
        simulator.host,
        port=simulator.port,
        credentials=credentials_for(simulator.state),
        timeout=5,
    )
