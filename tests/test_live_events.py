"""Live call events through the webhook, as a user sees them in Home Assistant.

The request is what the PBX makes of the template the options step shows.
Only `pbx.queue.unservedcall`'s parameters are published (the vendor's
example, `tests/fixtures/notification_queue_unservedcall.json`); the
extension events use the names the integration recognises, and
`test_extension_named_under_other_names` checks the alternatives.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
import logging
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_WEBHOOK_ID, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.kalliopepbx.api import NOTIFICATION_TEMPLATE
from custom_components.kalliopepbx.const import (
    CONF_LIVE_EVENTS,
    CONF_WEBHOOK_PASSWORD,
    CONF_WEBHOOK_USERNAME,
    DOMAIN,
)

from .conftest import Post, open_options, our_log_lines

FIXTURES = Path(__file__).parent / "fixtures"
QUEUE_PARAMS = (FIXTURES / "notification_queue_unservedcall.json").read_text()

CALL_STATE = "sensor.mario_rossi_call_state"
MISSED = "sensor.mario_rossi_missed_calls"
CALL_EVENT = "event.mario_rossi_call"
ACTIVE = "sensor.kalliopepbx_office_active_calls"
PBX_EVENT = "event.kalliopepbx_office_pbx_event"
LAST_EVENT = "sensor.kalliopepbx_office_last_pbx_event"


@pytest.fixture
def entry_options() -> dict[str, Any]:
    """Live events on, as after the options step."""
    return {CONF_LIVE_EVENTS: True}


_event_ids = iter(range(1, 1_000_000))


def notification(
    name: str,
    params: dict[str, str] | str,
    *,
    event_id: int | None = None,
    timestamp: float = 1764640000.0,
    description: str = "",
) -> str:
    """Our template filled in as the PBX does: plain substitution."""
    rendered = NOTIFICATION_TEMPLATE
    for placeholder, value in {
        "%event_id%": str(event_id if event_id is not None else next(_event_ids)),
        "%event_name%": name,
        "%event_severity%": "3",
        "%event_timestamp%": f"{timestamp:.1f}",
        "%event_description%": description,
        "%call_params[JSON]%": params
        if isinstance(params, str)
        else json.dumps(params),
    }.items():
        rendered = rendered.replace(placeholder, value)
    return rendered


def call(call_id: str, *, extension: str = "201", **params: str) -> dict[str, str]:
    """Parameters of an extension event from an outside caller."""
    return {
        "uniqueid": call_id,
        "extension": extension,
        "caller_num": "0612345678",
        "called_num": "0240404040",
        **params,
    }


def state(hass: HomeAssistant, entity_id: str) -> State:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current


# ---------------------------------------------------------------- receiving


async def test_credentials_are_required(hass: HomeAssistant, post: Post) -> None:
    """Without the generated username and password nothing happens: 401."""
    body = notification("pbx.extension.incomingcall", call("x"))
    for auth in (None, ("kalliope", "wrong"), ("", "")):
        response = await post(body, auth=auth)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert state(hass, CALL_STATE).state == "idle"
    assert state(hass, LAST_EVENT).state == STATE_UNKNOWN

    assert (await post(body)).status == 200
    assert state(hass, CALL_STATE).state == "ringing"


async def test_credentials_are_per_entry_and_kept(
    reference_integration: MockConfigEntry,
) -> None:
    """Generated once, long enough not to be guessed, and stored in the entry."""
    data = reference_integration.data
    assert len(data[CONF_WEBHOOK_PASSWORD]) >= 32
    assert len(data[CONF_WEBHOOK_ID]) >= 32
    assert data[CONF_WEBHOOK_USERNAME].startswith("kalliope-")


async def test_malformed_requests_get_400_and_one_log_line(
    hass: HomeAssistant, post: Post, caplog: pytest.LogCaptureFixture
) -> None:
    """Garbage is refused with 400; a flood of it writes one warning."""
    for body in ("{not json", '{"event_id":"1"}', "<a><b></a>", "[1]"):
        assert (await post(body)).status == 400
    lines = our_log_lines(caplog, "refused an event notification")
    assert len(lines) == 1
    assert "Traceback" not in caplog.text
    assert state(hass, LAST_EVENT).state == STATE_UNKNOWN


async def test_oversized_body_is_refused_unread(post: Post) -> None:
    response = await post(b'{"event_name":"pbx.call.start","x":"' + b"a" * 70_000)
    assert response.status == 413


async def test_get_with_the_parameters_in_the_query(
    hass: HomeAssistant, post: Post
) -> None:
    """The action's GET form: the event is the URL's query."""
    params = {
        "event_id": "5",
        "event_name": "pbx.extension.incomingcall",
        "event_timestamp": "1764640000.0",
        **call("get-1"),
    }
    assert (await post(method="GET", params=params)).status == 200
    assert state(hass, CALL_STATE).state == "ringing"


async def test_repeated_delivery_counts_once(hass: HomeAssistant, post: Post) -> None:
    """The same event_id (and timestamp) delivered twice is one missed call."""
    body = notification("pbx.extension.missedcall", call("dup"), event_id=900)
    await post(body)
    await post(body)
    assert state(hass, MISSED).state == "1"


# ---------------------------------------------------------------- calls


async def test_answered_call(hass: HomeAssistant, post: Post) -> None:
    """Ringing, in a call, idle; the Call entity fires incoming, answered, ended."""
    fired: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: fired.append(event.data["new_state"].attributes.get("event_type"))
        if event.data["entity_id"] == CALL_EVENT
        else None,
    )
    await post(notification("pbx.call.start", call("c1")))
    await post(notification("pbx.extension.incomingcall", call("c1")))
    ringing = state(hass, CALL_STATE)
    assert ringing.state == "ringing"
    assert ringing.attributes["other_number"] == "0612345678"
    assert ringing.attributes["dialled_number"] == "0240404040"
    assert ringing.attributes["direction"] == "inbound"
    assert state(hass, ACTIVE).state == "1"

    await post(notification("pbx.extension.answercall", call("c1")))
    assert state(hass, CALL_STATE).state == "in_call"
    await post(notification("pbx.call.end", call("c1", duration="61")))
    assert state(hass, CALL_STATE).state == "idle"
    assert "other_number" not in state(hass, CALL_STATE).attributes
    assert state(hass, ACTIVE).state == "0"
    assert fired == ["incoming", "answered", "ended"]
    ended = state(hass, CALL_EVENT).attributes
    assert ended["duration"] == 61
    assert ended["caller_number"] == "0612345678"
    assert state(hass, MISSED).state == "0"


async def test_caller_named_from_the_phonebook(
    hass: HomeAssistant, post: Post, reference_integration: MockConfigEntry
) -> None:
    """An outside number in the PBX's phonebook shows its contact's name."""
    await post(notification("pbx.extension.incomingcall", call("n1")))
    assert state(hass, CALL_STATE).attributes["other_name"] == "Caffè Città"
    await post(notification("pbx.extension.missedcall", call("n1")))
    assert state(hass, CALL_EVENT).attributes["caller_name"] == "Caffè Città"


async def test_caller_named_from_the_extensions(
    hass: HomeAssistant, post: Post
) -> None:
    """A call from another extension shows that extension's user."""
    params = call("i1", caller_num="203", called_num="201")
    await post(notification("pbx.extension.incomingcall", params))
    assert state(hass, CALL_STATE).attributes["other_name"] == "Luca Verdi"


async def test_payload_name_wins(hass: HomeAssistant, post: Post) -> None:
    params = call("p1", caller_name="Studio Bianchi")
    await post(notification("pbx.extension.incomingcall", params))
    assert state(hass, CALL_STATE).attributes["other_name"] == "Studio Bianchi"


async def test_missed_call_counted_with_or_without_its_event(
    hass: HomeAssistant, post: Post
) -> None:
    """`missedcall` counts; so does a call that rang and ended unanswered."""
    await post(notification("pbx.extension.incomingcall", call("m1")))
    await post(notification("pbx.extension.missedcall", call("m1")))
    await post(notification("pbx.call.end", call("m1")))
    assert state(hass, MISSED).state == "1"
    assert state(hass, CALL_EVENT).attributes["event_type"] == "missed"

    # No missedcall (the extension's overflow does not generate it).
    await post(notification("pbx.extension.incomingcall", call("m2")))
    await post(notification("pbx.call.end", call("m2")))
    assert state(hass, MISSED).state == "2"
    assert state(hass, CALL_EVENT).attributes["inferred"] is True


async def test_answered_elsewhere_is_not_missed(
    hass: HomeAssistant, post: Post
) -> None:
    """A ring group: 203 answers the call that also rang 201."""
    await post(notification("pbx.extension.incomingcall", call("g1")))
    await post(notification("pbx.extension.incomingcall", call("g1", extension="203")))
    await post(notification("pbx.extension.answercall", call("g1", extension="203")))
    assert state(hass, CALL_STATE).state == "idle"
    assert state(hass, "sensor.luca_verdi_call_state").state == "in_call"
    await post(notification("pbx.call.end", call("g1")))
    assert state(hass, MISSED).state == "0"


async def test_busy_is_failed_not_missed(hass: HomeAssistant, post: Post) -> None:
    await post(notification("pbx.extension.incomingcall", call("b1")))
    await post(notification("pbx.extension.failedcall", call("b1", reason="BUSY")))
    await post(notification("pbx.call.end", call("b1")))
    assert state(hass, CALL_STATE).state == "idle"
    assert state(hass, MISSED).state == "0"
    assert state(hass, CALL_EVENT).attributes["reason"] == "BUSY"


async def test_internal_call_from_an_extension(hass: HomeAssistant, post: Post) -> None:
    """The caller's extension dials, then talks when the other answers."""
    params = {"uniqueid": "o1", "caller_num": "201", "called_num": "203"}
    await post(notification("pbx.call.start", params))
    assert state(hass, CALL_STATE).state == "dialing"
    assert state(hass, CALL_STATE).attributes["other_name"] == "Luca Verdi"
    await post(
        notification("pbx.extension.incomingcall", {**params, "extension": "203"})
    )
    await post(notification("pbx.extension.answercall", {**params, "extension": "203"}))
    assert state(hass, CALL_STATE).state == "in_call"
    assert state(hass, CALL_STATE).attributes["direction"] == "outbound"
    await post(notification("pbx.call.end", params))
    assert state(hass, CALL_STATE).state == "idle"
    assert state(hass, "sensor.luca_verdi_call_state").state == "idle"


async def test_out_of_order_events_do_not_revive_a_call(
    hass: HomeAssistant, post: Post
) -> None:
    """An answer that arrives after the end changes nothing."""
    await post(notification("pbx.extension.incomingcall", call("r1"), timestamp=100))
    await post(notification("pbx.call.end", call("r1"), timestamp=130))
    await post(notification("pbx.extension.answercall", call("r1"), timestamp=110))
    assert state(hass, CALL_STATE).state == "idle"
    # Older than what the extension last showed, though of another call.
    await post(notification("pbx.extension.incomingcall", call("r2"), timestamp=90))
    assert state(hass, CALL_STATE).state == "idle"


@pytest.mark.parametrize(
    "params",
    [
        {"exten": "201", "callerid_num": "0612345678", "linkedid": "a1"},
        {"called_num": "201", "caller_num": "0612345678", "uniqueid": "a2"},
        {"Extension": "201", "CallerIDNum": "0612345678"},
    ],
    ids=["asterisk-names", "called-number-is-the-extension", "no-call-id"],
)
async def test_extension_named_under_other_names(
    hass: HomeAssistant, post: Post, params: dict[str, str]
) -> None:
    await post(notification("pbx.extension.incomingcall", params))
    assert state(hass, CALL_STATE).state == "ringing"
    assert state(hass, CALL_STATE).attributes["other_number"] == "0612345678"


async def test_missing_end_event_times_out(
    hass: HomeAssistant, post: Post, freezer: FrozenDateTimeFactory
) -> None:
    """Ringing without news for 5 minutes is idle again."""
    await post(notification("pbx.extension.incomingcall", call("t1")))
    freezer.tick(timedelta(minutes=4))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert state(hass, CALL_STATE).state == "ringing"
    freezer.tick(timedelta(minutes=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert state(hass, CALL_STATE).state == "idle"


# ---------------------------------------------------------------- the PBX


async def test_unknown_extension_goes_to_the_pbx_event(
    hass: HomeAssistant, post: Post
) -> None:
    """An event naming no extension here still reaches Home Assistant."""
    params = {"extension": "999", "caller_num": "0612345678", "called_num": "999"}
    await post(notification("pbx.extension.incomingcall", params))
    event = state(hass, PBX_EVENT).attributes
    assert event["event_type"] == "pbx_extension_incomingcall"
    assert event["parameters"] == params


async def test_queue_unserved_call_from_the_reference(
    hass: HomeAssistant, post: Post
) -> None:
    """The vendor's example: the queue appears with its last unserved call."""
    enter = json.loads(QUEUE_PARAMS)
    await post(notification("pbx.queue.enter", enter))
    waiting = state(hass, "sensor.kalliopepbx_office_queuetest_calls_waiting")
    assert waiting.state == "1"

    await post(notification("pbx.queue.unservedcall", QUEUE_PARAMS))
    waiting = state(hass, "sensor.kalliopepbx_office_queuetest_calls_waiting")
    assert waiting.state == "0"
    assert waiting.attributes["queue_name"] == "QueueTest"
    assert waiting.attributes["last_unserved_caller_number"] == "103"
    assert waiting.attributes["last_unserved_waiting_time"] == 5
    assert waiting.attributes["last_unserved_reason"] == "CANCELED"
    event = state(hass, PBX_EVENT).attributes
    assert event["event_type"] == "pbx_queue_unservedcall"
    assert event["parameters"]["queue_name"] == "QueueTest"


async def test_other_events_are_pbx_events(hass: HomeAssistant, post: Post) -> None:
    await post(
        notification(
            "storage.quota.exceeded", {"used": "95"}, description="Disk almost full"
        )
    )
    event = state(hass, PBX_EVENT).attributes
    assert event["event_type"] == "other"
    assert event["event_name"] == "storage.quota.exceeded"
    assert event["description"] == "Disk almost full"
    last = state(hass, LAST_EVENT)
    assert last.state != STATE_UNKNOWN
    assert last.attributes["event_name"] == "storage.quota.exceeded"


# ---------------------------------------------------------------- counters


async def test_missed_calls_survive_a_restart_and_reset(
    hass: HomeAssistant, post: Post, reference_integration: MockConfigEntry
) -> None:
    await post(notification("pbx.extension.missedcall", call("s1")))
    await post(notification("pbx.extension.missedcall", call("s2")))
    assert state(hass, MISSED).state == "2"

    # A restart in the middle of a call: it comes back idle, not ringing.
    await post(notification("pbx.extension.incomingcall", call("s3")))
    assert state(hass, CALL_STATE).state == "ringing"
    await hass.config_entries.async_reload(reference_integration.entry_id)
    await hass.async_block_till_done()
    assert state(hass, MISSED).state == "2"
    assert state(hass, CALL_STATE).state == "idle"
    recent = reference_integration.runtime_data.live.recent_missed
    assert [missed.exten for missed in recent] == ["201", "201"]
    assert recent[0].caller_name == "Caffè Città"

    await hass.services.async_call(
        DOMAIN,
        "reset_missed_calls",
        {"config_entry_id": reference_integration.entry_id, "extension": "201"},
        blocking=True,
    )
    assert state(hass, MISSED).state == "0"


# ---------------------------------------------------------------- set-up


@pytest.mark.parametrize("entry_options", [{}])
async def test_off_by_default_without_call_entities(
    hass: HomeAssistant,
    post: Post,
    reference_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """A PBX that sends nothing carries no call entities; the link is still seen."""
    for entity_id in (CALL_STATE, MISSED, CALL_EVENT, ACTIVE, PBX_EVENT):
        assert hass.states.get(entity_id) is None
    assert (await post(notification("pbx.call.start", call("off")))).status == 200
    assert state(hass, LAST_EVENT).attributes["event_name"] == "pbx.call.start"

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "reset_missed_calls",
            {"config_entry_id": reference_integration.entry_id, "extension": "201"},
            blocking=True,
        )
    assert err.value.translation_key == "live_events_off"


@pytest.mark.parametrize("entry_options", [{}])
async def test_options_step_shows_what_to_paste_and_turns_it_on(
    hass: HomeAssistant, reference_integration: MockConfigEntry
) -> None:
    entry = reference_integration
    form = await open_options(hass, entry.entry_id, "live_events")
    placeholders = form["description_placeholders"]
    assert placeholders["url"].endswith(f"/api/webhook/{entry.data[CONF_WEBHOOK_ID]}")
    assert placeholders["username"] == entry.data[CONF_WEBHOOK_USERNAME]
    assert placeholders["password"] == entry.data[CONF_WEBHOOK_PASSWORD]
    assert placeholders["method"] == "POST"
    assert placeholders["content"] == NOTIFICATION_TEMPLATE
    assert "pbx.extension.missedcall" in placeholders["call_events"]

    await hass.config_entries.options.async_configure(
        form["flow_id"], {CONF_LIVE_EVENTS: True}
    )
    await hass.async_block_till_done()
    assert entry.options[CONF_LIVE_EVENTS] is True
    assert state(hass, CALL_STATE).state == "idle"
    assert state(hass, ACTIVE).state == "0"

    # Off again: the call entities go, not left orphaned.
    form = await open_options(hass, entry.entry_id, "live_events")
    await hass.config_entries.options.async_configure(
        form["flow_id"], {CONF_LIVE_EVENTS: False}
    )
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    for entity_id in (CALL_STATE, MISSED, CALL_EVENT, ACTIVE, PBX_EVENT):
        assert registry.async_get(entity_id) is None, entity_id


async def test_silent_link_raises_a_repair_issue_after_a_day(
    hass: HomeAssistant,
    post: Post,
    reference_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Set up a day ago and nothing arrived: a repair issue; the first event ends it."""
    issue_id = f"live_events_silent_{reference_integration.entry_id}"
    registry = ir.async_get(hass)
    freezer.tick(timedelta(hours=23))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, issue_id) is None

    freezer.tick(timedelta(hours=2))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, issue_id) is not None

    await post(notification("pbx.call.start", call("first")))
    assert registry.async_get_issue(DOMAIN, issue_id) is None
    # A quiet weekend after that raises nothing.
    freezer.tick(timedelta(days=3))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert registry.async_get_issue(DOMAIN, issue_id) is None


async def test_unload_removes_the_webhook(
    hass: HomeAssistant, post: Post, reference_integration: MockConfigEntry
) -> None:
    await hass.config_entries.async_unload(reference_integration.entry_id)
    await hass.async_block_till_done()
    assert reference_integration.data[CONF_WEBHOOK_ID] not in hass.data.get(
        "webhook", {}
    )
    await post(notification("pbx.extension.incomingcall", call("u1")))
    assert hass.states.get(CALL_STATE) is None or (
        hass.states.get(CALL_STATE).state != "ringing"
    )


async def test_diagnostics_name_parameters_not_values(
    hass: HomeAssistant, post: Post, reference_integration: MockConfigEntry
) -> None:
    """Which parameter names a firmware sends, for a bug report; no numbers."""
    from custom_components.kalliopepbx.diagnostics import (
        async_get_config_entry_diagnostics,
    )

    await post(notification("pbx.extension.incomingcall", call("d1")))
    diagnostics = await async_get_config_entry_diagnostics(hass, reference_integration)
    live = diagnostics["live_events"]
    assert live["parameter_names_seen"] == [
        "called_num",
        "caller_num",
        "extension",
        "uniqueid",
    ]
    text = json.dumps(diagnostics)
    assert "0612345678" not in text
    assert reference_integration.data[CONF_WEBHOOK_PASSWORD] not in text
    assert reference_integration.data[CONF_WEBHOOK_ID] not in text


async def test_a_warning_is_not_logged_for_good_events(
    hass: HomeAssistant, post: Post, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await post(notification("pbx.extension.incomingcall", call("w1")))
    assert our_log_lines(caplog, "refused") == []


async def test_reload_under_a_stream_of_events(
    hass: HomeAssistant, post: Post, reference_integration: MockConfigEntry
) -> None:
    """Reloads while events arrive: no handler of an unloaded entry stays behind."""
    entry = reference_integration
    earlier = [entry.runtime_data.live]

    async def stream() -> None:
        for n in range(40):
            await post(notification("pbx.extension.incomingcall", call(f"z{n}")))

    sending = asyncio.create_task(stream())
    for _ in range(3):
        await asyncio.sleep(0)
        assert await hass.config_entries.async_reload(entry.entry_id)
        earlier.append(entry.runtime_data.live)
    await sending
    await hass.async_block_till_done()

    current = earlier.pop()
    for live in earlier:
        assert not live.listeners._keyed
        assert not any(live._notice_listeners.values())
        assert not live._pbx_event_listeners
    assert list(hass.data["webhook"]) == [entry.data[CONF_WEBHOOK_ID]]
    assert current.listeners._keyed
    await post(notification("pbx.extension.incomingcall", call("after")))
    assert state(hass, CALL_STATE).state == "ringing"
