"""The call tracker's rules that the webhook tests do not reach: bounds and timers."""

from __future__ import annotations

import json

from custom_components.kalliopepbx.api import PbxEvent, parse_notification
from custom_components.kalliopepbx.call_models import CallState
from custom_components.kalliopepbx.call_tracker import (
    CALL_TIMEOUT,
    MAX_REMEMBERED_CALLS,
    CallTracker,
)

EXTENSIONS = {"201", "202", "203"}


def event(name: str, **params: str) -> PbxEvent:
    return parse_notification(
        json.dumps({"event_name": name, "call_params": params}).encode()
    )


def tracker() -> CallTracker:
    return CallTracker(EXTENSIONS.__contains__)


def test_call_waiting_keeps_the_first_call() -> None:
    """A second call ringing during a conversation does not hide it."""
    calls = tracker()
    calls.apply(event("pbx.extension.answercall", extension="201", uniqueid="a"), 0)
    changes = calls.apply(
        event("pbx.extension.incomingcall", extension="201", uniqueid="b"), 1
    )
    assert calls.call("201").state is CallState.IN_CALL
    assert [notice.type.value for notice in changes.notices] == ["incoming"]
    # The waiting call is given up on: still in the first call.
    calls.apply(event("pbx.call.end", uniqueid="b"), 2)
    assert calls.call("201").state is CallState.IN_CALL
    calls.apply(event("pbx.call.end", uniqueid="a"), 3)
    assert calls.call("201").state is CallState.IDLE


def test_a_flood_of_unfinished_calls_stays_bounded() -> None:
    """Ten thousand calls that never end: what is remembered has a ceiling."""
    calls = tracker()
    for n in range(10_000):
        calls.apply(event("pbx.call.start", uniqueid=f"f{n}", caller_num="0612"), n)
        calls.apply(
            event("pbx.queue.enter", uniqueid=f"f{n}", queue_id="1", caller_num="0612"),
            n,
        )
    assert calls.active_calls <= MAX_REMEMBERED_CALLS
    assert len(calls.queues["1"].waiting) <= 1024
    # And all of it goes once the calls are older than any call can be.
    changes = calls.expire(10_000 + CALL_TIMEOUT + 1)
    assert calls.active_calls == 0
    assert calls.queues["1"].waiting == {}
    assert changes.active_calls
    assert changes.queues == {"1"}


def test_a_call_with_no_end_ends_after_the_call_timeout() -> None:
    calls = tracker()
    calls.apply(event("pbx.extension.answercall", extension="202", uniqueid="x"), 0)
    assert calls.expire(CALL_TIMEOUT - 1).extensions == set()
    assert calls.expire(CALL_TIMEOUT + 1).extensions == {"202"}
    assert calls.call("202").state is CallState.IDLE


def test_late_missed_event_after_an_inferred_miss_counts_once() -> None:
    calls = tracker()
    calls.apply(event("pbx.extension.incomingcall", extension="203", uniqueid="m"), 0)
    calls.apply(event("pbx.call.end", uniqueid="m"), 20)
    calls.apply(event("pbx.extension.missedcall", extension="203", uniqueid="m"), 21)
    assert calls.missed == {"203": 1}


def test_names_found_later_fill_in_the_call() -> None:
    calls = tracker()
    calls.apply(
        event(
            "pbx.extension.incomingcall",
            extension="201",
            uniqueid="n",
            caller_num="0612345678",
        ),
        0,
    )
    assert calls.name_found("0612345678", "Caffè Città") == {"201"}
    assert calls.call("201").other_name == "Caffè Città"
    assert calls.name_found("0612345678", "Other") == set()
