"""get_call_records end to end on the simulator: periods, limits and the
privacy password against a PBX with a month of calls."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest

from custom_components.kalliopepbx.const import CONF_CDR_PRIVACY_MD5, DOMAIN
from simulator import PbxState

from .conftest import md5_hex

pytestmark = pytest.mark.usefixtures("init_integration")


@pytest.fixture
def scenario() -> dict[str, Any]:
    """Twelve extensions and their calls."""
    return {"extensions": 12}


async def call(hass: HomeAssistant, data: dict[str, Any]) -> Any:
    """get_call_records and its answer."""
    return await hass.services.async_call(
        DOMAIN, "get_call_records", data, blocking=True, return_response=True
    )


async def test_get_call_records(hass: HomeAssistant, pbx_state: PbxState) -> None:
    """Records of a period, filtered by direction and caller."""
    last = max(record.start for record in pbx_state.cdr)
    start = (last - timedelta(days=30)).replace(tzinfo=None)
    result = await call(
        hass,
        {"start": start, "direction": "outbound", "caller": "203", "limit": 1000},
    )
    expected = [
        r
        for r in pbx_state.cdr
        if r.direction == 2
        and "203" in r.caller_num
        and r.start.replace(tzinfo=None) >= start
    ]
    assert result["count"] == len(expected) > 0
    assert all(r["direction"] == "outbound" for r in result["records"])
    assert {r["unique_id"] for r in result["records"]} == {
        r.unique_id for r in expected
    }
    first = result["records"][0]
    datetime.fromisoformat(first["start"])

    limited = await call(hass, {"limit": 5})
    assert len(limited["records"]) == 5
    assert limited["truncated"] is True

    # Without a start: calls that started in the last 7 days, not the PBX's
    # "this month so far".
    week_ago = dt_util.now().replace(tzinfo=None) - timedelta(days=7)
    recent = await call(hass, {"limit": 1000})
    assert recent["count"] == sum(
        1 for r in pbx_state.cdr if r.start.replace(tzinfo=None) >= week_ago
    )
    assert 0 < recent["count"] < len(pbx_state.cdr)


async def test_get_call_records_period_is_when_calls_started(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """A period holds the calls that started in it, not those that ended in it."""
    longest = max(pbx_state.cdr, key=lambda r: r.duration)
    started = longest.start.replace(tzinfo=None)
    result = await call(
        hass,
        {
            "start": started - timedelta(seconds=1),
            "end": started + timedelta(seconds=1),
            "limit": 1000,
        },
    )
    assert longest.unique_id in {r["unique_id"] for r in result["records"]}
    # It ended long after: a period around its end does not hold it.
    ended = longest.end.replace(tzinfo=None)
    around_end = await call(
        hass,
        {"start": ended - timedelta(seconds=1), "end": ended, "limit": 1000},
    )
    assert longest.unique_id not in {r["unique_id"] for r in around_end["records"]}


@pytest.mark.parametrize("entry_options", [{CONF_CDR_PRIVACY_MD5: md5_hex("privacy")}])
async def test_get_call_records_privacy_password(
    hass: HomeAssistant, pbx_state: PbxState
) -> None:
    """The privacy password from the options opens the records."""
    assert pbx_state.privacy_password == "privacy"
    result = await call(hass, {"status": "answered"})
    assert result["count"] > 0
    assert all(r["status"] == "answered" for r in result["records"])
