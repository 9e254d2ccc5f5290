"""Actions against a firmware 4.x PBX (X-authenticate, 4.x CDR)."""

from __future__ import annotations

from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.api import (
    DigestCredentials,
    KalliopeClient,
    digest_password,
)
from custom_components.kalliopepbx.const import CONF_AUTH, DOMAIN
from simulator import PbxState, RunningSimulator

from .canned import CONTENT_TYPES, canned_pbx
from .conftest import PASSWORD, PBX_ID, TITLE, entry_data, load_fixture_bytes


@pytest.fixture
def scenario() -> dict[str, Any]:
    """A 4.x PBX."""
    return {"extensions": 12, "auth": "v4"}


@pytest.fixture
def config_entry(
    hass: HomeAssistant, simulator: RunningSimulator, pbx_state: PbxState
) -> MockConfigEntry:
    """An entry holding 4.x derived credentials, as the config flow stores them."""
    credentials = DigestCredentials(
        username="admin",
        domain="default",
        salt=pbx_state.salt,
        password_digest=digest_password(PASSWORD, pbx_state.salt),
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=TITLE,
        unique_id=PBX_ID,
        data=entry_data(simulator, **{CONF_AUTH: credentials.as_dict()}),
    )
    entry.add_to_hass(hass)
    return entry


@pytest.mark.usefixtures("init_integration")
async def test_get_call_records_v4(hass: HomeAssistant, pbx_state: PbxState) -> None:
    """4.x records are read with the 4.x API and filtered the same way."""
    pbx_state.reset_counters()
    # Without a period, 4.x answers the current month only.
    start = min(r.start for r in pbx_state.cdr).replace(tzinfo=None)
    end = max(r.end for r in pbx_state.cdr).replace(tzinfo=None)
    result = await hass.services.async_call(
        DOMAIN,
        "get_call_records",
        {
            "start": start.isoformat(sep=" "),
            "end": end.isoformat(sep=" "),
            "direction": "inbound",
            "status": "answered",
            "limit": 1000,
        },
        blocking=True,
        return_response=True,
    )
    expected = [r for r in pbx_state.cdr if r.direction == 1 and r.status == 8]
    assert result["count"] == len(expected) > 0
    assert {r["unique_id"] for r in result["records"]} == {
        r.unique_id for r in expected
    }
    assert pbx_state.counters["POST /cdr/{format}"] == 1


@pytest.mark.usefixtures("init_integration")
@pytest.mark.parametrize("kind", ["xml", "json", "csv"])
async def test_get_call_records_v4_direction_from_type_codes(
    hass: HomeAssistant, config_entry: MockConfigEntry, kind: str
) -> None:
    """Records shaped like the 4.x manual's: the direction filter finds calls,
    each record says its direction, an unknown status stays as written."""
    body = load_fixture_bytes(f"cdr_v4.{kind}")
    runtime = config_entry.runtime_data
    pbx_client = runtime.client
    async with (
        aiohttp.ClientSession() as session,
        canned_pbx({"/cdr/summary": (body, CONTENT_TYPES[kind])}) as pbx,
    ):
        runtime.client = KalliopeClient(
            session,
            pbx.host,
            port=pbx.port,
            credentials=pbx_client.credentials,
            timeout=5,
        )
        try:
            found = {
                direction: await records(hass, direction=direction)
                for direction in ("inbound", "outbound", "internal")
            }
            everything = await records(hass)
            cancelled = await records(hass, status="cancelled")
        finally:
            runtime.client = pbx_client
    assert {direction: [r["id"] for r in rs] for direction, rs in found.items()} == {
        "inbound": ["1463997200.1", "1463997400.3", "1463997500.4"],
        "outbound": ["1463997154.0"],
        "internal": ["1463997300.2", "1463997700.6"],
    }
    assert [(r["direction"], r["status"]) for r in everything] == [
        ("outbound", "failed"),
        ("inbound", "answered"),
        ("internal", "no_answer"),
        ("inbound", "answered"),
        ("inbound", "cancelled"),
        ("unknown", "??"),
        ("internal", "busy"),
    ]
    assert [r["id"] for r in cancelled] == ["1463997500.4"]
    first = everything[0]
    assert (first["source"], first["destination"]) == ("local_exten", "obl")


async def records(hass: HomeAssistant, **data: Any) -> list[dict[str, Any]]:
    """The records `get_call_records` returns for 23 May 2016."""
    result = await hass.services.async_call(
        DOMAIN,
        "get_call_records",
        {"start": "2016-05-23 00:00:00", "end": "2016-05-24 00:00:00", **data},
        blocking=True,
        return_response=True,
    )
    assert isinstance(result, dict)
    found: list[dict[str, Any]] = result["records"]
    return found
