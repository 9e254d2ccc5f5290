"""Actions against a firmware 4.x PBX (X-authenticate, 4.x CDR)."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.kalliopepbx.api import DigestCredentials
from custom_components.kalliopepbx.api.auth import digest_password
from custom_components.kalliopepbx.const import CONF_AUTH, DOMAIN
from simulator import PbxState, RunningSimulator

from .conftest import PASSWORD, PBX_ID, TITLE, entry_data


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
