"""Live events make voicemail polling cheaper and quicker.

A call that ends unanswered gets its mailboxes counted a few seconds later;
while events arrive the full voicemail cycle slows down, and it speeds up
again by itself when they stop.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.kalliopepbx.const import CONF_LIVE_EVENTS, VOICEMAIL_INTERVAL
from custom_components.kalliopepbx.live_voicemail import SLOW_INTERVAL

from .live_helpers import Post, call, notification
from .reference_pbx import ReferencePbx

NEW_VOICEMAILS = "sensor.mario_rossi_new_voicemails"
FOUR_NEW = """<?xml version="1.0"?>
<kpbx_response>
  <voicemails>
    <voicemail>
      <urg_messages>1</urg_messages>
      <new_messages>4</new_messages>
      <old_messages>12</old_messages>
    </voicemail>
  </voicemails>
</kpbx_response>"""


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Live events on."""
    return {CONF_LIVE_EVENTS: True}


async def later(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, **delta: float
) -> None:
    freezer.tick(timedelta(**delta))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


def counted(pbx: ReferencePbx, mailbox: str) -> int:
    return len(pbx.seen("GET", f"/voicemails/count/{mailbox}"))


async def test_message_after_a_missed_call_shows_within_seconds(
    hass: HomeAssistant,
    post: Post,
    reference_pbx: ReferencePbx,
    freezer: FrozenDateTimeFactory,
) -> None:
    assert hass.states.get(NEW_VOICEMAILS).state == "3"
    await post(notification("pbx.extension.incomingcall", call("v1")))
    await post(notification("pbx.call.end", call("v1")))
    reference_pbx.answer("/voicemails/count/201", FOUR_NEW)
    before = counted(reference_pbx, "201"), counted(reference_pbx, "203")

    await later(hass, freezer, seconds=4)
    assert hass.states.get(NEW_VOICEMAILS).state == "4"
    # Only that mailbox: 203 was not called.
    assert (counted(reference_pbx, "201"), counted(reference_pbx, "203")) == (
        before[0] + 1,
        before[1],
    )


async def test_answered_call_asks_nothing(
    hass: HomeAssistant,
    post: Post,
    reference_pbx: ReferencePbx,
    freezer: FrozenDateTimeFactory,
) -> None:
    await post(notification("pbx.extension.incomingcall", call("v2")))
    await post(notification("pbx.extension.answercall", call("v2")))
    await post(notification("pbx.call.end", call("v2")))
    before = counted(reference_pbx, "201")
    await later(hass, freezer, seconds=4)
    assert counted(reference_pbx, "201") == before


async def test_failover_voicemail_is_counted_too(
    hass: HomeAssistant,
    post: Post,
    reference_pbx: ReferencePbx,
    reference_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """203's unanswered calls go to 201's voicemail: 201 is counted."""
    reference_pbx.set_failover("203", type="FORWARD_TO_VOICEMAIL", value="201")
    await reference_integration.runtime_data.system.async_refresh()
    params = call("v3", extension="203")
    await post(notification("pbx.extension.incomingcall", params))
    await post(notification("pbx.call.end", params))
    before = counted(reference_pbx, "201"), counted(reference_pbx, "203")
    await later(hass, freezer, seconds=4)
    assert counted(reference_pbx, "201") == before[0] + 1
    assert counted(reference_pbx, "203") == before[1] + 1


async def test_cadence_follows_the_link(
    hass: HomeAssistant,
    post: Post,
    reference_integration: MockConfigEntry,
    reference_pbx: ReferencePbx,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Events arriving: a slow full cycle. An hour without: full cadence again."""
    voicemail = reference_integration.runtime_data.voicemail
    assert voicemail.update_interval == VOICEMAIL_INTERVAL
    await post(notification("pbx.call.start", call("c")))
    assert voicemail.update_interval == SLOW_INTERVAL

    before = counted(reference_pbx, "201")
    await later(hass, freezer, minutes=5)
    assert counted(reference_pbx, "201") == before  # no full cycle yet

    await later(hass, freezer, minutes=56)
    assert voicemail.update_interval == VOICEMAIL_INTERVAL
    # Full cadence at once, not when the slow cycle was due.
    assert counted(reference_pbx, "201") > before
